"""A tutor's dashboard over graphql-transport-ws, as the README tells clients to keep one.

It fetches the list of its tutor's bookings once, then follows `bookingEvents` resumed from the
list's `asOf`, and from then on from the `at` of the last event it received: when its
connection drops (its process was killed) it connects to another server, when the server ends
the subscription with an error (its broker connection was lost) it subscribes again, and in
neither case refetches. Only `REFETCH_NEEDED` makes it fetch the list again. At the end its
view must equal the database: every change reached it as an event, live or replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import websockets

from bench.soak.load import Api, Tutor
from tests.live_client import PROTOCOL

EVENTS = """subscription($tutorId: ID!, $since: DateTime) {
  bookingEvents(tutorId: $tutorId, since: $since) { at booking { id status start } } }"""
LIST = """query($tutorId: ID!, $after: String) {
  bookings(filter: {tutorId: $tutorId, range: ALL}, first: 100, after: $after) {
    asOf edges { node { id status start } } pageInfo { hasNextPage endCursor } } }"""


class Interrupted(Exception):
    """The server ended the subscription with an error: subscribe again (resumed)."""


@dataclass
class Subscriber:
    tutor: Tutor
    api: Api
    rng: random.Random
    view: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (status, start)
    since: str | None = None  # where the next subscription resumes; None: fetch the list
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
            if self.since is None:
                await self._refetch()
            variables = {"tutorId": self.tutor.id, "since": self.since}
            payload = {"query": EVENTS, "variables": variables}
            await ws.send(json.dumps({"id": str(op), "type": "subscribe", "payload": payload}))
            self.counts["subscriptions"] += 1
            try:
                await self._events(ws, str(op), stop)
            except Interrupted:
                self.counts["resumed"] += 1

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
            code = str((error.get("extensions") or {}).get("code"))
            self.errors[code] += 1
            if code == "REFETCH_NEEDED":
                self.since = None

    async def _refetch(self) -> None:
        view: dict[str, tuple[str, str]] = {}
        after = None
        while True:
            data = await self.api.must(
                LIST, {"tutorId": self.tutor.id, "after": after}, self.tutor.token
            )
            page = data["bookings"]
            self.since = self.since or page["asOf"]  # the first page's: the list's oldest read
            for edge in page["edges"]:
                node = edge["node"]
                view[node["id"]] = (node["status"], node["start"])
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        self.view = view
        self.counts["lists fetched"] += 1

    async def _events(self, ws: Any, op: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            event = await self._receive(ws, op, 1.0)
            if event is not None:
                self._apply(event)

    def _apply(self, event: dict[str, Any]) -> None:
        booking = event["booking"]
        self.view[booking["id"]] = (booking["status"], booking["start"])
        self.counts["events"] += 1
        if self.since is None or datetime.fromisoformat(event["at"]) > datetime.fromisoformat(
            self.since
        ):
            self.since = event["at"]
