"""What every resolver gets as info.context: the database, settings and who is asking."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from graphql import GraphQLError
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from domain.stripe import Cards
from infra.auth import Identity
from infra.cohorts import Cohorts
from infra.crypto import Cipher
from infra.db import Database
from infra.pubsub import Hub
from infra.settings import Settings
from models.base import Clock
from schema.loaders import Loaders


class WriteBudget(Protocol):
    """Spends a caller's budget of changes (booking_api.ratelimit.RateLimiter): the seconds to
    wait when it is spent, else None."""

    async def spend(
        self, identity: Identity | None, connection: HTTPConnection | None, cost: int
    ) -> int | None: ...


def unauthenticated(
    message: str = "Sign in first: send Authorization: Bearer <token>",
) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "UNAUTHENTICATED"})


def forbidden(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "FORBIDDEN"})


@dataclass
class Context:
    db: Database
    settings: Settings
    cipher: Cipher  # secrets at rest (a guest's manage token, a Google refresh token)
    clock: Clock  # the app's: what `now` is for every resolver
    secret: str = ""  # the signing secret (tokens, calendar links)
    cards: Cards | None = None  # card payments, when Stripe is configured
    hub: Hub | None = None  # live updates
    cohorts: Cohorts | None = None  # websocket subscribers sharing executions (resolvers/live)
    rate_limiter: WriteBudget | None = None  # None: mutations are not counted
    request: Request | WebSocket | None = None
    response: Response | WebSocket | None = None
    identity: Identity | None = None
    # A token we had to refuse; the AuthGate extension turns it into an UNAUTHENTICATED error.
    auth_error: str | None = None
    # Set by Strawberry from graphql-transport-ws connection_init.
    connection_params: dict[str, Any] = field(default_factory=dict)
    # A cohort's leader: the one execution its members share, not a client's own operation.
    leads_cohort: bool = False
    _loaders: Loaders | None = None

    def now(self) -> datetime:
        return self.clock()

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(self.db, self.identity, self.clock)
        return self._loaders

    def fresh_loaders(self) -> None:
        """A websocket's context lives as long as the connection: each subscription event
        loads afresh instead of from what the connection cached before."""
        self._loaders = None

    async def spend(self, changes: int) -> None:
        """Take `changes` from the caller's budget of writes; over it, HTTP 429 with Retry-After
        and a top-level RATE_LIMITED error (the gate before every mutation, and a bulk change
        for each booking past its first)."""
        if self.rate_limiter is None:
            return
        wait = await self.rate_limiter.spend(self.identity, self.request, changes)
        if wait is None:
            return
        if isinstance(self.response, Response):  # a websocket has no status
            self.response.status_code = 429
            self.response.headers["Retry-After"] = str(wait)
        raise GraphQLError(
            f"Too many changes: try again in {wait} seconds",
            extensions={"code": "RATE_LIMITED", "retryAfter": wait},
        )

    def live(self) -> Hub:
        if self.hub is None:
            raise GraphQLError(
                "Live updates are not available on this server", extensions={"code": "UNAVAILABLE"}
            )
        return self.hub

    def require_identity(self) -> Identity:
        if self.identity is None:
            raise unauthenticated()
        return self.identity
