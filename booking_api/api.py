"""The GraphQL schema with its extensions: caches, size limits and the authentication gate."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import strawberry
from graphql import ASTValidationRule, GraphQLError
from graphql.validation import MaxIntrospectionDepthRule, NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    SchemaExtension,
    ValidationCache,
    max_aliases,
    query_depth_limiter,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext, ExecutionResult

from booking_api import tracing
from booking_api.cost import CostLimit, unbounded_lists
from booking_api.error_codes import (
    ErrorCodes,
    MaskInternalErrors,
    ReportingParserCache,
    timed_out,
    too_complex,
)
from booking_api.metrics import OperationMetrics
from booking_api.persisted import MemoryStore, PersistedQueries, QueryStore
from booking_api.plain_lists import PlainListExecutor
from booking_api.ratelimit import RateLimitGate
from booking_api.read_only import QueriesNeverWrite
from booking_api.text_guard import FieldHooks, StorableText
from infra.db import BUDGET, Budget, out_of_time
from infra.settings import HttpApi, QueryLimits
from resolvers import Mutation, Query, Subscription
from schema.context import Context, unauthenticated
from schema.errors import TimedOut
from schema.scalars import SCALARS


class AuthGate(SchemaExtension):
    """A token we could not accept fails the whole operation: never run it as anonymous."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context) and context.auth_error is not None:
            raise unauthenticated(context.auth_error)
        yield


log = logging.getLogger("booking_api.graphql")


def is_unexpected(error: GraphQLError) -> bool:
    """A bug, not the client's doing: an exception a resolver did not mean to raise."""
    original = error.original_error
    return (
        error.path is not None and original is not None and not isinstance(original, GraphQLError)
    )


class Schema(strawberry.Schema):
    def __init__(self, *args: Any, timeout_seconds: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_seconds = timeout_seconds

    async def execute(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        """Queries and mutations, over GET or POST, within the time budget. Cancellation lands at
        the next await: the cost limit keeps what runs between awaits short. A write transaction
        takes the rest of the budget to the database instead (infra.db.BUDGET), so a commit is
        never followed by a TIMEOUT answer."""
        try:
            async with asyncio.timeout(self.timeout_seconds) as timeout:
                ends = asyncio.get_running_loop().time() + self.timeout_seconds
                token = BUDGET.set(Budget(timeout, ends))
                try:
                    return await super().execute(*args, **kwargs)
                finally:
                    BUDGET.reset(token)
        except TimeoutError:
            log.warning("operation stopped after %s s", self.timeout_seconds)
            return ExecutionResult(data=None, errors=[timed_out(self.timeout_seconds)])

    def _get_middleware_manager(self, extensions: list[SchemaExtension]) -> FieldHooks:
        """The field hooks of one operation: those extensions with a per-field `resolve` (none
        but tracing's), to which the text check adds its own only when it has to."""
        hooks = FieldHooks(*(e for e in extensions if e._implements_resolve()))
        for extension in extensions:
            if isinstance(extension, StorableText):
                extension.hooks = hooks
        return hooks

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Refused queries and auth failures are the client's business; only bugs are errors here.
        for error in errors:
            if out_of_time(error.original_error):
                log.warning("stopped by the time budget at %s: rolled back", error.path)
            elif is_unexpected(error):
                log.error("unexpected error at %s", error.path, exc_info=error.original_error)
            else:
                log.debug("refused: %s", error.message)


def build_schema(
    limits: QueryLimits | None = None, api: HttpApi | None = None, store: QueryStore | None = None
) -> strawberry.Schema:
    limits = limits or QueryLimits()
    api = api or HttpApi()
    persisted = store or MemoryStore(api.apq_max_entries)
    # Built once: ValidationCache keys on the rule classes, so they must be the same each time.
    size_rules: list[type[ASTValidationRule]] = [
        too_complex(query_depth_limiter.create_validator(limits.max_depth, should_ignore=None)),
        too_complex(max_aliases.create_validator(limits.max_aliases)),
        too_complex(MaxIntrospectionDepthRule),
    ]
    if not api.introspection:
        size_rules.append(NoSchemaIntrospectionCustomRule)
    schema = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        # A UserError no union lists: a bulk change's per-item failure (BookingUpdateFailure).
        types=[TimedOut],
        config=StrawberryConfig(
            scalar_map=SCALARS, batching_config={"max_operations": api.max_batch}
        ),
        extensions=[
            # Outermost: its hook ends after ErrorCodes has coded the errors it counts.
            OperationMetrics,
            # First, so that it sees every stage's errors (extensions' hooks nest in this order).
            ErrorCodes,
            # Before the parse: a hash alone is replaced by its document.
            lambda: PersistedQueries(persisted),
            # The token limit before the cache: it sets the parser's option for the parse.
            lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
            lambda: ReportingParserCache(maxsize=512),
            lambda: AddValidationRules(size_rules),
            lambda: ValidationCache(maxsize=512),
            lambda: CostLimit(limits.max_cost),
            AuthGate,
            QueriesNeverWrite,
            StorableText,
            RateLimitGate,
            # Never show a client the text of an internal exception.
            lambda: MaskInternalErrors(
                limits.timeout_seconds,
                should_mask_error=is_unexpected,
                error_message="Internal error.",
            ),
            *tracing.schema_extensions(),
        ],
        execution_context_class=PlainListExecutor,
        timeout_seconds=limits.timeout_seconds,
    )
    # The cost analysis prices every list by its declared bound: a list without one is a bug.
    if missing := unbounded_lists(schema._schema):
        raise TypeError(f"list fields without a bound (booking_api/cost.py): {missing}")
    return schema


def sdl() -> str:
    return build_schema().as_str() + "\n"
