"""A local stand-in for PostHog's capture endpoint: `POST {host}/batch/`, the path the
`posthog` package's `batch_post` sends to, recording each batch; failures on request."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.processes import free_port, serve_in_thread

API_KEY = "phc_test_project_key"


@dataclass
class FakePostHog:
    port: int
    batches: list[dict[str, Any]] = field(default_factory=list)  # the request bodies received
    fail_next: int = 0  # batches answered 500 before working again

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        self.batches.clear()
        self.fail_next = 0

    @property
    def events(self) -> list[dict[str, Any]]:
        return [event for body in self.batches for event in body["batch"]]

    async def batch(self, request: Request) -> Response:
        raw = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            raw = gzip.decompress(raw)
        body = json.loads(raw)
        if self.fail_next > 0:
            self.fail_next -= 1
            return JSONResponse({"detail": "ingestion is down"}, status_code=500)
        if body.get("api_key") != API_KEY:
            return JSONResponse({"detail": "invalid project api key"}, status_code=401)
        self.batches.append(body)
        return JSONResponse({"status": 1})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/batch/", self.batch, methods=["POST"])])


def start() -> tuple[FakePostHog, uvicorn.Server]:
    fake = FakePostHog(port=free_port())
    return fake, serve_in_thread(fake.app(), fake.port)
