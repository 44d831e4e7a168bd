"""/metrics in Prometheus' text format (prometheus-client), for operators.

Off unless METRICS_TOKEN is set; then answered only to `Authorization: Bearer <token>`.
Counters live in the process that serves the request: with `serve --workers N` each worker
keeps its own, and a scrape reaches one of them (README, Operators). The outbox and pool
gauges are read when scraped: the outbox from the database (so they count every worker's jobs,
brokered or not), the pool from this process's engine.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterator
from inspect import isawaitable
from typing import Any

import strawberry
from graphql import GraphQLError, get_operation_ast
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from strawberry.extensions import SchemaExtension

from domain import outbox
from infra.db import Database
from infra.settings import Settings
from schema.context import Context

log = logging.getLogger("booking_api.metrics")

OPERATIONS = Counter(
    "booking_graphql_operations",
    "GraphQL operations by name, type and outcome (ok, or the first error's code).",
    ["operation", "type", "outcome"],
)
LATENCY = Histogram(
    "booking_graphql_operation_seconds",
    "Time from receiving a GraphQL operation to its result (subscriptions: to their start).",
    ["operation", "type", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BOOKING_RESULTS = Counter(
    "booking_booking_results",
    "Results of the booking mutations by result type (BookingCreated, SlotUnavailable, ...).",
    ["mutation", "result"],
)
SUBSCRIPTIONS = Gauge(
    "booking_active_subscriptions", "Subscriptions running in this process.", ["subscription"]
)
OUTBOX_JOBS = Gauge(
    "booking_outbox_jobs",
    "Outbox rows by job kind and state: pending is the backlog, failed the jobs given up.",
    ["kind", "state"],
)
POOL_CONNECTIONS = Gauge(
    "booking_db_pool_connections", "This process's database connections.", ["state"]
)
POOL_SIZE = Gauge("booking_db_pool_size", "This process's pool size (as many again in overflow).")

BOOKING_MUTATIONS = ("createBooking", "createBookings", "rescheduleBooking", "cancelBooking")
# Operation names come from clients: a bounded set of labels, so they cannot grow memory.
MAX_OPERATION_NAMES = 200
MAX_NAME_LENGTH = 100
_names: set[str] = set()


def operation_label(name: str | None) -> str:
    if name is None:
        return "anonymous"
    if name in _names:
        return name
    if len(_names) >= MAX_OPERATION_NAMES or len(name) > MAX_NAME_LENGTH:
        return "other"
    _names.add(name)
    return name


def outcome_of(errors: list[GraphQLError] | None) -> str:
    if not errors:
        return "ok"
    return str((errors[0].extensions or {}).get("code", "ERROR"))


class OperationMetrics(SchemaExtension):
    """Counts and times every operation, over HTTP and websockets. Registered before
    ErrorCodes, so that its hook ends last and sees the errors' codes."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        except GraphQLError as error:
            self._record(started, [error])
            raise
        self._record(started, getattr(self.execution_context.result, "errors", None))

    def _record(self, started: float, errors: list[GraphQLError] | None) -> None:
        context = self.execution_context
        if _leads_cohort(context.context):
            return  # its members' operations are the ones counted
        document = context.graphql_document
        operation = get_operation_ast(document, context.operation_name) if document else None
        name = operation.name.value if operation and operation.name else None
        kind = operation.operation.value if operation else "unknown"
        labels = (operation_label(name), kind, outcome_of(errors))
        OPERATIONS.labels(*labels).inc()
        LATENCY.labels(*labels).observe(time.perf_counter() - started)


def _counted(mutation: str, resolve: Callable[..., Any]) -> Callable[..., Any]:
    async def counted(source: Any, info: Any, **args: Any) -> Any:
        try:
            result = resolve(source, info, **args)
            if isawaitable(result):
                result = await result
        except Exception:
            BOOKING_RESULTS.labels(mutation, "error").inc()
            raise
        BOOKING_RESULTS.labels(mutation, type(result).__name__).inc()
        return result

    return counted


def _leads_cohort(context: Any) -> bool:
    return isinstance(context, Context) and context.leads_cohort


async def _while_open(name: str, stream: AsyncIterable[Any]) -> AsyncGenerator[Any, None]:
    gauge = SUBSCRIPTIONS.labels(name)
    gauge.inc()
    try:
        async for event in stream:
            yield event
    finally:
        gauge.dec()
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()


def _followed(name: str, subscribe: Callable[..., Any]) -> Callable[..., Any]:
    async def followed(source: Any, info: Any, **args: Any) -> Any:
        stream = subscribe(source, info, **args)
        if isawaitable(stream):
            stream = await stream
        if not isinstance(stream, AsyncIterable) or _leads_cohort(info.context):
            return stream  # an error, which graphql-core reports; or a cohort's own run
        return _while_open(name, stream)

    return followed


def instrument(schema: strawberry.Schema) -> None:
    """Wrap this schema's booking mutations (to count their results by type) and its
    subscriptions (to count those open). graphql-core's own field hooks: no per-field cost
    elsewhere, as a schema extension's `resolve` would have on every field."""
    graphql_schema = schema._schema
    if graphql_schema.mutation_type is not None:
        for name in BOOKING_MUTATIONS:
            field = graphql_schema.mutation_type.fields[name]
            if field.resolve is not None:
                field.resolve = _counted(name, field.resolve)
    if graphql_schema.subscription_type is not None:
        for name, field in graphql_schema.subscription_type.fields.items():
            if field.subscribe is not None:
                field.subscribe = _followed(name, field.subscribe)


async def _read_gauges(db: Database) -> None:
    pool: Any = db.engine.pool
    POOL_SIZE.set(pool.size())
    POOL_CONNECTIONS.labels("in_use").set(pool.checkedout())
    POOL_CONNECTIONS.labels("idle").set(pool.checkedin())
    try:
        async with asyncio.timeout(2), db.session() as session:
            counts = await outbox.counts(session)
    except Exception as error:  # the database is away: the scrape still answers
        log.warning("metrics: outbox not counted: %s", error)
        return
    OUTBOX_JOBS.clear()  # kinds with no rows left go
    for kind, state, rows in counts:
        OUTBOX_JOBS.labels(kind, state).set(rows)


def metrics_route(settings: Settings, db: Database) -> list[Route]:
    """GET /metrics, or nothing when METRICS_TOKEN is unset."""
    token = settings.observability.metrics_token
    if token is None:
        return []
    expected = f"Bearer {token}".encode()

    async def metrics(request: Request) -> Response:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):  # constant time: the token is a secret
            return Response(
                "Send Authorization: Bearer <METRICS_TOKEN>",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        await _read_gauges(db)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", metrics, methods=["GET"])]
