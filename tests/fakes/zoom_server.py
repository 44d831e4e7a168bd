"""A local stand-in for the Zoom endpoints we call: Server-to-Server OAuth's token endpoint
(account_credentials, basic auth) and the meetings API (create, update, delete), with revoked
tokens and server errors on request."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.processes import free_port, serve_in_thread

ACCOUNT_ID = "acct-123"
CLIENT_ID = "zoom-client"
CLIENT_SECRET = "zoom-secret"


@dataclass
class FakeZoom:
    port: int
    # meeting id -> the meeting as Zoom keeps it
    meetings: dict[str, dict[str, Any]] = field(default_factory=dict)
    access_tokens: set[str] = field(default_factory=set)
    token_requests: int = 0
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail_next: int = 0  # meeting calls answered 500 before working again

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        self.meetings.clear()
        self.access_tokens.clear()
        self.calls.clear()
        self.token_requests = 0
        self.fail_next = 0

    async def token(self, request: Request) -> Response:
        self.token_requests += 1
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return JSONResponse({"reason": "Invalid client_id or client_secret"}, status_code=401)
        query = request.query_params
        if (
            query.get("grant_type") != "account_credentials"
            or query.get("account_id") != ACCOUNT_ID
        ):
            return JSONResponse({"reason": "unsupported grant type"}, status_code=400)
        token = f"zoom.{secrets.token_urlsafe(8)}"
        self.access_tokens.add(token)
        return JSONResponse({"access_token": token, "token_type": "bearer", "expires_in": 3599})

    def _refused(self, request: Request) -> Response | None:
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if bearer not in self.access_tokens:
            return JSONResponse({"code": 124, "message": "Invalid access token."}, status_code=401)
        if self.fail_next > 0:
            self.fail_next -= 1
            return JSONResponse({"code": 500, "message": "try later"}, status_code=500)
        return None

    async def create(self, request: Request) -> Response:
        self.calls.append(("POST", "me"))
        if (refused := self._refused(request)) is not None:
            return refused
        body = await request.json()
        meeting_id = str(81_000_000_000 + secrets.randbelow(10**9))
        meeting = {
            **body,
            "id": int(meeting_id),
            "join_url": f"https://zoom.example/j/{meeting_id}",
        }
        self.meetings[meeting_id] = meeting
        return JSONResponse(meeting, status_code=201)

    async def meeting(self, request: Request) -> Response:
        meeting_id = request.path_params["id"]
        self.calls.append((request.method, meeting_id))
        if (refused := self._refused(request)) is not None:
            return refused
        if meeting_id not in self.meetings:
            return JSONResponse(
                {"code": 3001, "message": "Meeting does not exist"}, status_code=404
            )
        if request.method == "PATCH":
            self.meetings[meeting_id].update(await request.json())
        else:
            del self.meetings[meeting_id]
        return Response(status_code=204)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/oauth/token", self.token, methods=["POST"]),
                Route("/v2/users/me/meetings", self.create, methods=["POST"]),
                Route("/v2/meetings/{id}", self.meeting, methods=["PATCH", "DELETE"]),
            ]
        )


def start() -> tuple[FakeZoom, uvicorn.Server]:
    fake = FakeZoom(port=free_port())
    return fake, serve_in_thread(fake.app(), fake.port)
