"""A tutor's dashboard over graphql-transport-ws, as the README tells clients to keep one.

It follows `bookingEvents` and keeps every booking of its tutor. When its connection drops (its
process was killed) it connects to another; when the server ends the subscription with an error
(its broker connection was lost), it subscribes again. Either way it then refetches the whole
list, and applies events from then on. At the end its view must equal the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import websockets
from redis import asyncio as aioredis

from bench.soak.load import Api, Tutor
from domain.events import bookings_channel
from tests.helpers import pk
from tests.live_client import PROTOCOL

EVENTS = """subscription($tutorId: ID!) { bookingEvents(tutorId: $tutorId) {
  at booking { id status start } } }"""
LIST = """query($tutorId: ID!, $after: String) {
  bookings(filter: {tutorId: $tutorId, range: ALL}, first: 100, after: $after) {
    edges { node { id status start } } pageInfo { hasNextPage endCursor } } }"""
# A probe's event carries this instant; the booking it names is real (the tutor's probe booking).
PROBE_AT = "1999-01-01T00:00:00+00:00"


class Interrupted(Exception):
    """The server ended the subscription with an error: subscribe again and refetch."""


@dataclass
class Subscriber:
    tutor: Tutor
    api: Api
    redis_url: str
    rng: random.Random
    view: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (status, start)
    counts: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # what ended subscriptions, by code

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            port = self.rng.choice(self.api.cluster.api_ports)
            try:
                async with websockets.connect(
                    f"ws://127.0.0.1:{port}/graphql", subprotocols=[PROTOCOL], open_timeout=10
                ) as ws:
                    await ws.send(
                        json.dumps(
                            {
                                "type": "connection_init",
                                "payload": {"Authorization": f"Bearer {self.tutor.token}"},
                            }
                        )
                    )
                    if json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != (
                        "connection_ack"
                    ):
                        raise OSError("no connection_ack")
                    self.counts["connections"] += 1
                    await self._follow(ws, stop)
            except (OSError, TimeoutError, websockets.ConnectionClosed):
                self.counts["connections lost"] += 1
                await asyncio.sleep(0.2)

    async def _follow(self, ws: Any, stop: asyncio.Event) -> None:
        op = 0
        while not stop.is_set():
            op += 1
            await ws.send(
                json.dumps(
                    {
                        "id": str(op),
                        "type": "subscribe",
                        "payload": {"query": EVENTS, "variables": {"tutorId": self.tutor.id}},
                    }
                )
            )
            try:
                await self._ready(ws, str(op))
                await self._refetch()
                self.counts["resyncs"] += 1
                await self._events(ws, str(op), stop)
            except Interrupted:
                self.counts["resubscribed"] += 1

    async def _receive(self, ws: Any, op: str, timeout: float) -> dict[str, Any] | None:  # noqa: ASYNC109
        """The next event for `op` (None when none came in time); raises Interrupted when the
        server ended it."""
        with contextlib.suppress(TimeoutError):
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
                if message["type"] == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                elif message.get("id") != op:
                    continue  # an earlier subscription's last words
                elif message["type"] == "next" and message["payload"].get("data"):
                    event: dict[str, Any] = message["payload"]["data"]["bookingEvents"]
                    return event
                else:
                    self._ended(message)
                    raise Interrupted
        return None

    def _ended(self, message: dict[str, Any]) -> None:
        if message["type"] == "complete":
            self.errors["complete"] += 1
            return
        payload = message.get("payload")
        errors = payload if isinstance(payload, list) else (payload or {}).get("errors") or []
        for error in errors:
            self.errors[str((error.get("extensions") or {}).get("code"))] += 1

    async def _ready(self, ws: Any, op: str) -> None:
        """Until the server listens: probes through the broker until one comes back (the
        protocol has no acknowledgement of a subscription)."""
        probe = json.dumps(
            {"action": "CREATED", "booking": str(pk(self.tutor.probe)), "at": PROBE_AT}
        )
        for _ in range(120):
            with contextlib.suppress(OSError, aioredis.ConnectionError):
                client = aioredis.Redis.from_url(self.redis_url)
                try:
                    await client.publish(bookings_channel(pk(self.tutor.id)), probe)
                finally:
                    await client.aclose()
            event = await self._receive(ws, op, 0.5)
            if event is not None:
                self._apply(event)
                if event["at"] == PROBE_AT:
                    return
        raise Interrupted

    async def _refetch(self) -> None:
        view: dict[str, tuple[str, str]] = {}
        after = None
        while True:
            data = await self.api.must(
                LIST, {"tutorId": self.tutor.id, "after": after}, self.tutor.token
            )
            page = data["bookings"]
            for edge in page["edges"]:
                node = edge["node"]
                view[node["id"]] = (node["status"], node["start"])
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        self.view = view

    async def _events(self, ws: Any, op: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            event = await self._receive(ws, op, 1.0)
            if event is not None:
                self._apply(event)

    def _apply(self, event: dict[str, Any]) -> None:
        booking = event["booking"]
        self.view[booking["id"]] = (booking["status"], booking["start"])
        self.counts["events"] += event["at"] != PROBE_AT
