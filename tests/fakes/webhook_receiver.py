"""A local webhook receiver: records every POST, verifies its signature with `standardwebhooks`
(the secret registered for its path), and answers as a test scripts it (a status, a slow answer
past the sender's timeout, a redirect)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from unittest import mock

import standardwebhooks.webhooks
import uvicorn
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.helpers import CLOCK
from tests.processes import free_port, serve_in_thread

SLOW = "slow"  # an answer that comes after `slow_seconds`
Answer = int | str


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str
    # The payload, when the signature verified; else None and `error` says why.
    payload: dict[str, Any] | None
    error: str | None

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def type(self) -> str:
        return str((self.payload or {}).get("type"))


@dataclass
class FakeReceiver:
    port: int
    secrets: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    # Per path, the answers to give in turn; 204 once they run out.
    answers: dict[str, deque[Answer]] = field(default_factory=lambda: defaultdict(deque))
    slow_seconds: float = 2.0
    # Signatures are checked against this clock (the sender's job clock in tests).
    clock: Callable[[], datetime] = CLOCK
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def reset(self) -> None:
        self.secrets.clear()
        self.received.clear()
        self.answers.clear()
        self.clock = CLOCK

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def answer(self, path: str, *answers: Answer) -> None:
        self.answers[path].extend(answers)

    def _verify(self, path: str, body: str, headers: dict[str, str]) -> tuple[Any, str | None]:
        secret = self.secrets.get(path)
        if secret is None:
            return None, "no secret registered for this path"
        clock = self.clock

        class Now(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> Any:
                return clock().astimezone(tz)

        # The library checks the timestamp against the wall clock: here, the test's.
        with self.lock, mock.patch.object(standardwebhooks.webhooks, "datetime", Now):
            try:
                return Webhook(secret).verify(body, headers), None
            except WebhookVerificationError as error:
                return None, str(error)

    async def hook(self, request: Request) -> Response:
        path = request.url.path
        body = (await request.body()).decode()
        headers = dict(request.headers)
        payload, error = self._verify(path, body, headers)
        self.received.append(Received(path, headers, body, payload, error))
        queued = self.answers.get(path)
        answer: Answer = queued.popleft() if queued else 204
        if answer == SLOW:
            await asyncio.sleep(self.slow_seconds)
            return Response(status_code=200)
        status = int(answer)
        if 300 <= status < 400:
            return Response(status_code=status, headers={"Location": f"{path}/moved"})
        if status >= 400:
            return Response(json.dumps({"error": "x" * 100_000}), status_code=status)
        return Response(status_code=status)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{rest:path}", self.hook, methods=["POST"])])


def start() -> tuple[FakeReceiver, uvicorn.Server]:
    fake = FakeReceiver(port=free_port())
    return fake, serve_in_thread(fake.app(), fake.port)
