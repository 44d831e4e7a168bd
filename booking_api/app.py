"""The ASGI app: /graphql (POST, GET, GraphiQL, graphql-transport-ws), /healthz, /readyz, and the
links it hands out (calendar files and feeds, the bookings CSV)."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from http import HTTPStatus
from typing import Any

from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, process_result
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult, SubscriptionExecutionResult
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from booking_api import graphiql, logs, metrics, pages, tracing
from booking_api.api import build_schema
from booking_api.clock import utcnow
from booking_api.health import health, readiness
from booking_api.live import CohortHandler
from booking_api.media import (
    GRAPHQL_RESPONSE,
    answer_type,
    is_request_error,
    request_error_status,
)
from booking_api.memory import ReclaimAfterBodies
from booking_api.persisted import store_for
from booking_api.ratelimit import RateLimiter
from domain import bookings, ics, payments
from domain.stripe import BadSignature, Cards, MalformedEvent
from infra.auth import AuthError, identity_from_header
from infra.cohorts import Cohorts
from infra.db import Database, direct_url, server_url, service_database
from infra.pubsub import Hub, backend_for
from infra.settings import MeetingProvider, Settings
from models.base import Clock
from schema.context import Context
from schema.node import decode_id_of
from workers.service import in_process

log = logging.getLogger("booking_api")

JSON_KINDS = {
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    list: "a list that is not all objects",
}


class GraphQLApp(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = CohortHandler

    def __init__(
        self, settings: Settings, db: Database, cards: Cards | None, hub: Hub | None, clock: Clock
    ) -> None:
        store = store_for(settings.api.apq_storage_url, settings.api.apq_max_entries)
        schema = build_schema(settings.limits, settings.api, store)
        metrics.instrument(schema)
        super().__init__(
            schema,
            graphql_ide="graphiql",
            keep_alive=True,
            keep_alive_interval=15,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=20,
        )
        self.settings = settings
        self.db = db
        self.cards = cards
        self.hub = hub
        self.cohorts = Cohorts()
        self.clock = clock
        self.secret = settings.jwt_secret()
        self.cipher = settings.cipher()
        self.rate_limiter = RateLimiter(settings.rate_limits)
        self.require_exp = not settings.auth_allow_tokens_without_exp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        # Strawberry answers its refusals (bad JSON, a wrong content type...) in plain text;
        # clients of a GraphQL API read errors as JSON.
        request = Request(scope, receive)
        try:
            response = await self.run(request)
        except HTTPException as error:
            code = HTTPStatus(error.status_code).name
            response = JSONResponse(
                {"errors": [{"message": error.reason, "extensions": {"code": code}}]},
                status_code=error.status_code,
                media_type=answer_type(request.headers.get("accept")),
            )
        await response(scope, receive, send)

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET with only a persisted query's hash has no `query` either: it is an operation.
        return super().should_render_graphql_ide(request) and not request.query_params.get(
            "extensions"
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql.page(self.settings.data_dir)

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = answer_type(request.headers.get("accept"))
        return sub_response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        response.headers["content-type"] = sub_response.media_type or "application/json"
        return response

    async def execute_operation(
        self,
        request: Request,
        request_adapter: Any,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
        root_value: None,
        sub_response: Response,
    ) -> ExecutionResult | list[ExecutionResult] | SubscriptionExecutionResult:
        """A batch runs its operations one after another, each with its own context (its own
        DataLoaders, status and headers), through the same limits as any other operation."""
        if not isinstance(request_data, list):
            return await super().execute_operation(
                request, request_adapter, request_data, context, root_value, sub_response
            )
        results = []
        for data in request_data:
            own_response = await self.get_sub_response(request)
            results.append(
                await self.execute_single(
                    request=request,
                    request_adapter=request_adapter,
                    sub_response=own_response,
                    context=await self.get_context(request, own_response),
                    root_value=root_value,
                    request_data=data,
                )
            )
        return results

    async def execute_single(
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        result = await super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data
        )
        if (
            sub_response.media_type == GRAPHQL_RESPONSE
            and not sub_response.status_code
            and is_request_error(result)
        ):
            sub_response.status_code = request_error_status(result)
        if request.method == "GET":
            sub_response.headers["Cache-Control"] = self.cache_control(request, result)
            sub_response.headers["Vary"] = "Authorization"
        return result

    def cache_control(self, request: Request, result: ExecutionResult) -> str:
        """An anonymous query's answer is the same for everyone: shared caches may keep it a
        little (PUBLIC_MAX_AGE). A signed-in caller's, or an error, is kept by nobody."""
        max_age = self.settings.api.public_max_age
        if max_age and not result.errors and "authorization" not in request.headers:
            return f"public, max-age={max_age}"
        return "no-store"

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        processed = process_result(result)
        if answer_type(request.headers.get("accept")) == GRAPHQL_RESPONSE and is_request_error(
            result
        ):
            # The specification: a request that did not run has no `data` entry at all.
            processed.pop("data", None)
        return processed

    def parse_json(self, data: str | bytes) -> Any:
        """A body, or GET's variables or extensions: UTF-8 JSON holding an object (or a list of
        objects: a batch of operations)."""
        try:
            text = data.decode() if isinstance(data, bytes) else data
        except UnicodeDecodeError:
            raise HTTPException(400, "The request body is not UTF-8 text") from None
        parsed = super().parse_json(text)
        if isinstance(parsed, dict):
            return parsed
        if isinstance(parsed, list) and all(isinstance(item, dict) for item in parsed):
            if not 0 < len(parsed) <= self.settings.api.max_batch:
                raise HTTPException(
                    400,
                    f"A batch holds 1 to {self.settings.api.max_batch} operations "
                    f"(GRAPHQL_MAX_BATCH), not {len(parsed)}",
                )
            return parsed
        kind = JSON_KINDS.get(type(parsed), "null")
        raise HTTPException(
            400,
            f'Expected a JSON object such as {{"query": "{{ viewer {{ userId }} }}"}}, not {kind}',
        )

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        context = Context(
            db=self.db,
            settings=self.settings,
            cipher=self.cipher,
            secret=self.secret,
            cards=self.cards,
            hub=self.hub,
            cohorts=self.cohorts,
            rate_limiter=self.rate_limiter,
            request=request,
            response=response,
            clock=self.clock,
        )
        if isinstance(request, Request):
            try:
                context.identity = identity_from_header(
                    self.secret, request.headers.get("authorization"), require_exp=self.require_exp
                )
            except AuthError as error:
                context.auth_error = str(error)
        return context

    async def on_ws_connect(self, context: Context) -> Any:
        header = context.connection_params.get("Authorization") or context.connection_params.get(
            "authorization"
        )
        try:
            context.identity = identity_from_header(
                self.secret,
                header if isinstance(header, str) else None,
                require_exp=self.require_exp,
            )
        except AuthError as error:
            raise ConnectionRejectionError(
                {"code": "UNAUTHENTICATED", "message": str(error)}
            ) from None
        return await super().on_ws_connect(context)


def calendar_file(db: Database, secret: str, clock: Clock) -> Route:
    """A booking's .ics through its signed link: no session, that booking only."""

    async def booking_ics(request: Request) -> Response:
        pk = decode_id_of(request.path_params["booking"], "Booking")
        signature = request.query_params.get("sig", "")
        if pk is None or not ics.valid(secret, pk, signature):
            return Response("Not found", status_code=404)
        async with db.session() as session:
            parts = await ics.load(session, pk)
        if parts is None:
            return Response("Not found", status_code=404)
        body = ics.render([parts], clock())
        return Response(
            body,
            media_type="text/calendar; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="booking.ics"'},
        )

    return Route("/bookings/{booking}.ics", booking_ics, methods=["GET"])


def calendar_feed(db: Database, clock: Clock) -> Route:
    """A tutor's bookings as a calendar feed, for calendar apps to subscribe to (webcal)."""

    async def tutor_feed(request: Request) -> Response:
        body = await ics.feed(db, request.path_params["token"], clock())
        if body is None:
            return Response("Not found", status_code=404)
        return Response(body, media_type="text/calendar; charset=utf-8")

    return Route("/calendar/{token}.ics", tutor_feed, methods=["GET"])


def bookings_csv(db: Database, secret: str, clock: Clock, require_exp: bool) -> Route:
    """The bookings list as CSV through its signed link (Query.bookingsCsvUrl), streamed.

    The link speaks for the viewer it was made for; a request that also says who it is must be
    that viewer. Whatever is wrong with a link, the answer is 404, as for a link never made."""

    async def export(request: Request) -> Response:
        now = clock()
        found = bookings.open_link(secret, request.query_params.get("token", ""), now)
        try:
            caller = identity_from_header(
                secret, request.headers.get("authorization"), require_exp=require_exp
            )
        except AuthError:
            return Response("Not found", status_code=404)
        if found is None or (caller is not None and caller.sub != found.sub):
            return Response("Not found", status_code=404)
        return StreamingResponse(
            bookings.csv_chunks(db, found, now),
            media_type="text/csv; charset=utf-8; header=present",
            headers={"Content-Disposition": 'attachment; filename="bookings.csv"'},
        )

    return Route(bookings.CSV_PATH, export, methods=["GET"])


def stripe_webhook(
    db: Database, cards: Cards | None, clock: Clock, meeting_provider: MeetingProvider | None
) -> Route:
    """Stripe's events: verified on the raw body, stored once, applied in one transaction.

    Refunds owed are sent to Stripe after the response, so Stripe hears back quickly."""

    async def webhook(request: Request) -> Response:
        if cards is None:
            return JSONResponse({"error": "card payments are not configured"}, status_code=404)
        header = request.headers.get("stripe-signature")
        if not header:  # refused before its body is read
            return JSONResponse({"error": "bad signature: no Stripe-Signature"}, status_code=400)
        try:
            event = cards.event(await request.body(), header)
        except BadSignature as error:
            return JSONResponse({"error": f"bad signature: {error}"}, status_code=400)
        except MalformedEvent as error:
            # Signed with our secret, so not a stranger's: Stripe's format changed, or ours is
            # wrong. Nothing is applied; Stripe retries it.
            log.warning("stripe webhook: malformed event: %s", error)
            return JSONResponse({"error": f"malformed event: {error}"}, status_code=400)
        handled = await payments.handle_event(db, event, clock(), meeting_provider=meeting_provider)
        task = (
            BackgroundTask(cards.settle_refunds, db, handled.refund_ids)
            if handled.refund_ids
            else None
        )
        return JSONResponse({"received": True, "outcome": handled.outcome}, background=task)

    return Route("/webhooks/stripe", webhook, methods=["POST"])


def checkout_cancelled() -> Route:
    """Where Checkout sends a payer who gave up when no CHECKOUT_CANCEL_URL points to the
    client's app (the success page is one of `pages`: it shows the confirmation)."""

    async def show(request: Request) -> Response:
        return PlainTextResponse("Payment cancelled: nothing was charged.")

    return Route("/checkout/cancelled", show)


def proxies(settings: Settings) -> list[Middleware]:
    """The client's address from X-Forwarded-For, believed only from TRUSTED_PROXIES (uvicorn's
    middleware: the right-most address not itself a trusted proxy). `serve` turns uvicorn's own
    copy off, which would trust loopback whatever the setting says."""
    trusted = list(settings.rate_limits.trusted_proxies)
    return [Middleware(ProxyHeadersMiddleware, trusted_hosts=trusted)] if trusted else []


def cors(settings: Settings) -> list[Middleware]:
    """Browser apps on CORS_ORIGINS may call every route (/graphql with a bearer token, the
    calendar files, the feed); with none set, browsers keep other origins out."""
    origins = list(settings.api.cors_origins)
    if not origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Accept", "apollo-require-preflight"],
            # Identity travels in the Authorization header, never in cookies, so a page that
            # fetches with credentials: "include" gains nothing by it; `*` still stays without.
            allow_credentials="*" not in origins,
            expose_headers=["Retry-After"],
            max_age=600,
        )
    ]


async def client_gone(request: Request, error: Exception) -> Response:
    """The client left mid-body, or the read timeout cut it off (server.py): nobody to answer,
    and nothing to log as an error."""
    return Response(status_code=400)


def build_app(
    settings: Settings,
    db: Database,
    lifespan: Any = None,
    hub: Hub | None = None,
    clock: Clock = utcnow,
) -> Starlette:
    cards = Cards(settings.stripe, settings.payment_hold_minutes) if settings.stripe else None
    graphql = GraphQLApp(settings, db, cards, hub, clock)
    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            graphiql.assets(settings.data_dir),
            health(db),
            readiness(settings, db),
            calendar_file(db, graphql.secret, clock),
            calendar_feed(db, clock),
            bookings_csv(db, graphql.secret, clock, graphql.require_exp),
            stripe_webhook(db, cards, clock, settings.meeting_provider),
            checkout_cancelled(),
            *pages.routes(settings, db),
            *metrics.metrics_route(settings, db),
        ],
        lifespan=lifespan,
        max_body_size=settings.http.max_body_bytes,
        middleware=[
            *cors(settings),
            logs.request_ids(),
            *tracing.middleware(),
            *proxies(settings),
            Middleware(ReclaimAfterBodies, every=settings.http.max_body_bytes),
        ],
        exception_handlers={ClientDisconnect: client_gone},
    )


def create_app() -> Starlette:
    """uvicorn's factory: settings from the environment; the engine lives as long as the app."""
    settings = Settings.from_env()
    logs.configure(settings)
    tracing.configure(settings.observability)
    url = server_url(settings)
    hub = Hub(backend_for(settings.broadcast_url, lambda: direct_url(settings, url)))
    # Nothing commits before the hub connects (lifespan) nor after it disconnects.
    db = service_database(settings, url, settings.db_pool_size, publish=hub.publish_all)
    tracing.trace_database(db)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Start-up objects (schema, modules) never die: keep the collector from rescanning them,
        # and let young objects of a large response pile up a little before collecting.
        # Server CPU per 10-tutor search (re-measured, loaded machine): none 129 ms, freeze
        # 97 ms, both 94 ms. Freezing also makes ReclaimAfterBodies' full collections cheap
        # (1-3 ms; 40-250 ms unfrozen), which keeps memory flat after large bodies (memory.py).
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 20, 20)
        await hub.connect()
        async with contextlib.AsyncExitStack() as stack:
            if settings.broker_url is None:
                # No broker: this process runs background work itself (workers.service).
                await stack.enter_async_context(in_process(settings, db, utcnow))
            yield
        await hub.disconnect()
        await db.engine.dispose()

    return build_app(settings, db, lifespan, hub)
