"""A graphql-transport-ws client for the live-update tests, and a way to publish to the broker."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import websockets
from httpx_ws import AsyncWebSocketSession
from redis import asyncio as aioredis
from starlette.types import ASGIApp
from websockets.typing import Subprotocol

from tests.helpers import websocket

PROTOCOL = Subprotocol("graphql-transport-ws")
SLOTS = """subscription($tutorId: ID!) { slotEvents(tutorId: $tutorId) {
  kind tutorId serviceId start end } }"""
BOOKINGS = """subscription($tutorId: ID!) { bookingEvents(tutorId: $tutorId) {
  action at booking { id status start student { displayName email } } } }"""


class Live:
    """One websocket connection: subscriptions by id, messages as they come."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    @classmethod
    @asynccontextmanager
    async def connect(
        cls, port: int, token: str | None = None, **options: Any
    ) -> AsyncIterator[Live]:
        url = f"ws://127.0.0.1:{port}/graphql"
        async with websockets.connect(url, subprotocols=[PROTOCOL], **options) as ws:
            payload = {"Authorization": f"Bearer {token}"} if token else {}
            await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            yield cls(ws)

    async def subscribe(self, query: str, **variables: Any) -> str:
        op = str(next(self.ids))
        message = {
            "id": op,
            "type": "subscribe",
            "payload": {"query": query, "variables": variables},
        }
        await self.ws.send(json.dumps(message))
        return op

    async def message(self, timeout: float = 15) -> dict[str, Any]:  # noqa: ASYNC109
        """The next message that is not a ping or pong."""
        while True:
            message: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if message["type"] == "ping":
                await self.ws.send(json.dumps({"type": "pong"}))
            elif message["type"] != "pong":
                return message

    async def until(
        self,
        matches: Callable[[dict[str, Any]], bool],
        timeout: float = 15,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """The first message that matches; others (readiness probes) are passed over."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            message = await self.message(max(left, 0.01))
            if matches(message):
                return message


def data(message: dict[str, Any], field: str) -> dict[str, Any]:
    assert message["type"] == "next", message
    found: dict[str, Any] = message["payload"]["data"][field]
    return found


async def ready(live: Live, op: str, probe: Callable[[], Awaitable[None]]) -> None:
    """Wait until the server listens for `op`: probes are published until one comes back
    (a subscription has no acknowledgement in graphql-transport-ws)."""
    for _ in range(60):
        await probe()
        try:
            message = await live.message(timeout=0.5)
        except TimeoutError:
            continue
        assert message.get("id") == op, message
        return
    raise AssertionError("the subscription never became live")


async def broker_publish(url: str, channel: str, messages: list[str]) -> None:
    """Publish straight to the broker, as a server process would."""
    if url.startswith("redis"):
        client = aioredis.Redis.from_url(url)
        try:
            for message in messages:
                await client.publish(channel, message)
        finally:
            await client.aclose()
        return
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "SELECT pg_notify($1, m) FROM unnest($2::text[]) AS m", channel, messages
        )
    finally:
        await connection.close()


class _Socket:
    """httpx-ws's session with the two calls Live makes."""

    def __init__(self, session: AsyncWebSocketSession) -> None:
        self.session = session

    async def send(self, text: str) -> None:
        await self.session.send_text(text)

    async def recv(self) -> str:
        return await self.session.receive_text()


@asynccontextmanager
async def feed(app: ASGIApp, who: str | None) -> AsyncIterator[Live]:
    """A graphql-transport-ws connection to the app in process, signed in as `who`."""
    async with websocket(app) as session:
        payload = {"Authorization": f"Bearer {who}"} if who else {}
        await session.send_json({"type": "connection_init", "payload": payload})
        assert (await session.receive_json())["type"] == "connection_ack"
        yield Live(_Socket(session))
