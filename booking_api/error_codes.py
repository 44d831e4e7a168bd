"""Every top-level error leaves with an `extensions.code`, decided here and nowhere else.

Errors raised with a code (UNAUTHENTICATED, FORBIDDEN, BAD_USER_INPUT, NOT_FOUND ...) keep it;
the rest get the code of the stage that produced them, by the names Apollo Server uses."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import suppress
from typing import Any

from graphql import ASTValidationRule, GraphQLError, GraphQLSyntaxError, ValidationContext
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.extensions import MaskErrors, ParserCache, SchemaExtension
from strawberry.types.execution import StreamExecutionResult

from infra.db import out_of_time

INTERNAL = "INTERNAL_SERVER_ERROR"
TOO_COMPLEX = "QUERY_TOO_COMPLEX"
# graphql-core's own words when MaxTokensLimiter stops the parser: a syntax error, no other mark.
TOKEN_LIMIT = "tokens. Parsing aborted."


class _CodingContext:
    """A validation context whose reported errors say QUERY_TOO_COMPLEX (the size rules report
    through the context, not through a method of their own that could be overridden)."""

    def __init__(self, context: ValidationContext) -> None:
        self._context = context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    def report_error(self, error: GraphQLError) -> None:
        give_code([error], TOO_COMPLEX)
        self._context.report_error(error)


def too_complex(rule: type[ASTValidationRule]) -> type[ASTValidationRule]:
    """A size rule (depth, aliases) whose errors say QUERY_TOO_COMPLEX, as the cost limit's do:
    the document is valid, only too big."""

    class TooComplex(rule):  # type: ignore[valid-type,misc]
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(_CodingContext(context))

    TooComplex.__name__ = f"TooComplex{rule.__name__}"
    return TooComplex


def give_code(errors: Iterable[GraphQLError] | None, code: str) -> None:
    """Set `code` on the errors that have none (the same object may be seen twice: cached)."""
    for error in errors or ():
        if "code" not in (error.extensions or {}):
            error.extensions = {**(error.extensions or {}), "code": code}


def give_late_codes(errors: Iterable[GraphQLError] | None) -> None:
    """Codes for what validation did not already mark."""
    for error in errors or ():
        if isinstance(error, GraphQLSyntaxError):
            give_code(
                [error], TOO_COMPLEX if TOKEN_LIMIT in error.message else "GRAPHQL_PARSE_FAILED"
            )
        elif error.path is None:
            give_code([error], "BAD_USER_INPUT")  # variables that do not fit their types
        else:
            give_code([error], INTERNAL)  # a field failed; MaskInternalErrors coded masked ones


class ErrorCodes(SchemaExtension):
    """Register first: its operation hook then wraps every other extension's."""

    def on_validate(self) -> Iterator[None]:
        yield
        for error in self.execution_context.pre_execution_errors or ():
            # A value written in the document that its scalar refused (an unknown zone, a
            # DateTime out of range) is the caller's input, as it is when sent as a variable.
            refused_value = error.original_error is not None or isinstance(
                error, StrawberryInputCoercionError
            )
            give_code([error], "BAD_USER_INPUT" if refused_value else "GRAPHQL_VALIDATION_FAILED")

    def on_operation(self) -> Iterator[None]:
        try:
            yield
        except GraphQLError as error:  # raised from an extension's hook (AuthGate's has a code)
            give_late_codes([error])
            raise
        give_late_codes(getattr(self.execution_context.result, "errors", None))

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        """Websockets: each result is sent before the operation ends."""
        give_late_codes(getattr(result, "errors", None))
        yield


def timed_out(seconds: float, path: list[str | int] | None = None) -> GraphQLError:
    return GraphQLError(
        f"The operation took longer than {seconds:g} seconds and was stopped: ask for less.",
        path=path,
        extensions={"code": "TIMEOUT", "seconds": seconds},
    )


class MaskInternalErrors(MaskErrors):
    """MaskErrors' replacement error, with its code; a write transaction the database stopped
    for the time budget (rolled back: nothing written) answers TIMEOUT, as the budget does."""

    def __init__(self, timeout_seconds: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timeout_seconds = timeout_seconds

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        if out_of_time(error.original_error):
            return timed_out(self.timeout_seconds, error.path)
        masked = super().anonymise_error(error)
        masked.extensions = {"code": INTERNAL}
        return masked


class ReportingParserCache(ParserCache):
    """ParserCache raises a parse error from its hook, where Strawberry does not turn it into a
    result: over websockets the client got a bare `complete`, the error lost. A document that
    does not parse is left to Strawberry's own parse (once more, uncached), which reports it:
    as a result over HTTP, by closing the socket with 4400 as graphql-transport-ws asks."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        yield
