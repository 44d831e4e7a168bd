"""The ASGI app: /graphql (POST, GET, GraphiQL, graphql-transport-ws) and /healthz."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from booking_api.api import build_schema
from booking_api.auth import AuthError, identity_from_header
from booking_api.context import Context
from booking_api.db import Database, create_engine, server_url
from booking_api.pubsub import Hub, backend_for
from booking_api.settings import Settings
from domain import ics, payments
from domain.stripe import BadSignature, Cards
from schema.node import decode_id_of
from workers.service import in_process

log = logging.getLogger("booking_api")


class GraphQLApp(GraphQL[Context, None]):
    def __init__(
        self, settings: Settings, db: Database, cards: Cards | None, hub: Hub | None
    ) -> None:
        super().__init__(
            build_schema(settings.limits),
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
        self.secret = settings.jwt_secret()
        self.require_exp = not settings.auth_allow_tokens_without_exp

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        context = Context(
            db=self.db,
            settings=self.settings,
            secret=self.secret,
            cards=self.cards,
            hub=self.hub,
            request=request,
            response=response,
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


def health(db: Database) -> Route:
    async def healthz(request: Request) -> JSONResponse:
        try:
            async with asyncio.timeout(2):
                async with db.engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        except Exception as error:
            return JSONResponse(
                {"status": "unavailable", "database": type(error).__name__}, status_code=503
            )
        return JSONResponse({"status": "ok", "database": "ok"})

    return Route("/healthz", healthz, methods=["GET"])


def calendar_file(db: Database, secret: str) -> Route:
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
        body = ics.render([parts], datetime.now(UTC))
        return Response(
            body,
            media_type="text/calendar; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="booking.ics"'},
        )

    return Route("/bookings/{booking}.ics", booking_ics, methods=["GET"])


def calendar_feed(db: Database) -> Route:
    """A tutor's bookings as a calendar feed, for calendar apps to subscribe to (webcal)."""

    async def tutor_feed(request: Request) -> Response:
        body = await ics.feed(db, request.path_params["token"], datetime.now(UTC))
        if body is None:
            return Response("Not found", status_code=404)
        return Response(body, media_type="text/calendar; charset=utf-8")

    return Route("/calendar/{token}.ics", tutor_feed, methods=["GET"])


def stripe_webhook(db: Database, cards: Cards | None) -> Route:
    """Stripe's events: verified on the raw body, stored once, applied in one transaction.

    Refunds owed are sent to Stripe after the response, so Stripe hears back quickly."""

    async def webhook(request: Request) -> Response:
        if cards is None:
            return JSONResponse({"error": "card payments are not configured"}, status_code=404)
        body = await request.body()
        try:
            event = cards.event(body, request.headers.get("stripe-signature"))
        except BadSignature as error:
            return JSONResponse({"error": f"bad signature: {error}"}, status_code=400)
        handled = await payments.handle_event(db, event, datetime.now(UTC))
        task = (
            BackgroundTask(cards.settle_refunds, db, handled.refund_ids)
            if handled.refund_ids
            else None
        )
        return JSONResponse({"received": True, "outcome": handled.outcome}, background=task)

    return Route("/webhooks/stripe", webhook, methods=["POST"])


def checkout_pages() -> list[Route]:
    """Where Checkout sends the payer back when no CHECKOUT_*_URL points to the client's app."""

    def page(text: str) -> Any:
        async def show(request: Request) -> Response:
            return PlainTextResponse(text)

        return show

    return [
        Route("/checkout/success", page("Payment received: your booking is confirmed shortly.")),
        Route("/checkout/cancelled", page("Payment cancelled: nothing was charged.")),
    ]


def build_app(
    settings: Settings, db: Database, lifespan: Any = None, hub: Hub | None = None
) -> Starlette:
    cards = Cards(settings.stripe, settings.payment_hold_minutes) if settings.stripe else None
    graphql = GraphQLApp(settings, db, cards, hub)
    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            health(db),
            calendar_file(db, graphql.secret),
            calendar_feed(db),
            stripe_webhook(db, cards),
            *checkout_pages(),
        ],
        lifespan=lifespan,
    )


def create_app() -> Starlette:
    """uvicorn's factory: settings from the environment; the engine lives as long as the app."""
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level)
    url = server_url(settings)
    db = Database(create_engine(url, settings.db_pool_size))
    hub = Hub(backend_for(settings.broadcast_url, lambda: url))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Start-up objects (schema, modules) never die: keep the collector from rescanning them,
        # and let young objects of a large response pile up a little before collecting.
        # Measured on a 10-tutor search: 82 ms -> 54 ms.
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 20, 20)
        await hub.connect()
        db.publish = hub.publish_all
        async with contextlib.AsyncExitStack() as stack:
            if settings.broker_url is None:
                # No broker: this process runs background work itself (workers.service).
                await stack.enter_async_context(in_process(settings, db))
            yield
        db.publish = None
        await hub.disconnect()
        await db.engine.dispose()

    return build_app(settings, db, lifespan, hub)
