"""Helpers the tests share: fresh databases, tokens and a GraphQL client."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from httpx_ws import AsyncWebSocketSession, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.types import ASGIApp

from booking_api.auth import mint_token
from booking_api.db import start_embedded, with_database

REPO = Path(__file__).resolve().parents[1]
TEST_SECRET = "test-secret-" + "x" * 40
TEST_DATA_KEY = "blWTATvebLwxBrV5LSYD3I-vbeoA28SWPrVz8lfq6QM="  # a Fernet key
# The suite makes many mutations from one address: limits are tested on their own.
TEST_RATE = "100000/minute"


class TestClock:
    """The time every in-process app, background run and date helper of the tests sees.

    It starts at BOOKING_TEST_NOW (an ISO instant with offset) when set, else at the wall clock's
    time, and runs on from there at the real pace, so a test may wait for a hold to lapse. CI
    sets BOOKING_TEST_NOW to awkward days (a month's last day, a Monday, 31 December, DST
    changes) to show the suite does not depend on the calendar."""

    __test__ = False  # not a test class, whatever its name says

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        configured = os.environ.get("BOOKING_TEST_NOW")
        self.set(datetime.fromisoformat(configured) if configured else datetime.now(UTC))

    def set(self, at: datetime) -> None:
        self._start, self._since = at.astimezone(UTC), time.monotonic()

    def __call__(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._since)


CLOCK = TestClock()


def server_admin_url() -> str:
    """The server tests make databases on: DATABASE_URL's, or the embedded one."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    data_dir = Path(os.environ.get("BOOKING_DATA_DIR") or REPO / ".data")
    return start_embedded(data_dir)


async def _admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def create_database(admin_url: str, prefix: str = "booking_test") -> str:
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    return with_database(admin_url, name)


def drop_database(admin_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1].split("?", 1)[0]
    asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def token(sub: str, name: str | None = None, email: str | None = None, **kwargs: Any) -> str:
    return mint_token(TEST_SECRET, sub, name=name or sub.title(), email=email, **kwargs)


@dataclass
class GraphQLClient:
    http: httpx.AsyncClient

    async def raw(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """The data of a request that must not fail."""
        body = await self.raw(query, variables, token)
        assert not body.get("errors"), body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    async def error(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """The first top-level error of a request that must fail."""
        body = await self.raw(query, variables, token)
        assert body.get("errors"), body
        error: dict[str, Any] = body["errors"][0]
        return error


@asynccontextmanager
async def websocket(app: ASGIApp) -> AsyncIterator[AsyncWebSocketSession]:
    """A graphql-transport-ws connection to the app in process (no server, no port)."""
    transport = ASGIWebSocketTransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        session: AsyncWebSocketSession
        protocols = ["graphql-transport-ws"]
        async with aconnect_ws("/graphql", client, subprotocols=protocols) as session:
            yield session
