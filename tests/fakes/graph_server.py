"""A local stand-in for the Microsoft endpoints we call: the identity platform's token
endpoint (refresh_token grant; each refresh hands back a new refresh token and the old one
stops working, the strictest rotation Microsoft may apply) and Graph's calendar events
(create in the default or a named calendar, update, delete), with revoked access tokens and
server errors on request."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.helpers import GraphQLClient
from tests.processes import free_port, serve_in_thread

CLIENT_ID = "00000000-aaaa-bbbb-cccc-000000000001"
CLIENT_SECRET = "graph-secret"
TENANT = "common"
REFRESH_TOKEN = "M.R3_BAY.refresh-token-of-ada"
DEFAULT = "AAMkADefaultCalendar"  # the id Graph gives the user's default calendar


@dataclass
class FakeGraph:
    port: int
    # event id -> (calendar id, event as Graph keeps it)
    events: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    refresh_tokens: set[str] = field(default_factory=set)
    access_tokens: set[str] = field(default_factory=set)
    token_requests: int = 0
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail_next: int = 0  # event calls answered 503 before working again

    def __post_init__(self) -> None:
        self.reset()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        self.events.clear()
        self.refresh_tokens.clear()
        self.refresh_tokens.add(REFRESH_TOKEN)
        self.access_tokens.clear()
        self.calls.clear()
        self.token_requests = 0
        self.fail_next = 0

    def in_calendar(self, calendar: str = DEFAULT) -> dict[str, dict[str, Any]]:
        return {key: event for key, (where, event) in self.events.items() if where == calendar}

    async def token(self, request: Request) -> Response:
        self.token_requests += 1
        form = await request.form()
        if request.path_params["tenant"] != TENANT:
            return JSONResponse({"error": "invalid_tenant"}, status_code=400)
        if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        scope = str(form.get("scope", "")).split()
        if "offline_access" not in scope or not any("Calendars.ReadWrite" in s for s in scope):
            return JSONResponse({"error": "invalid_scope"}, status_code=400)
        given = str(form.get("refresh_token", ""))
        if form.get("grant_type") != "refresh_token" or given not in self.refresh_tokens:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        self.refresh_tokens.discard(given)
        rotated = f"M.R3_BAY.{secrets.token_urlsafe(8)}"
        self.refresh_tokens.add(rotated)
        access = f"EwB.{secrets.token_urlsafe(8)}"
        self.access_tokens.add(access)
        return JSONResponse(
            {
                "token_type": "Bearer",
                "scope": "https://graph.microsoft.com/Calendars.ReadWrite",
                "expires_in": 3599,
                "access_token": access,
                "refresh_token": rotated,
            }
        )

    def _refused(self, request: Request) -> Response | None:
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if bearer not in self.access_tokens:
            error = {"code": "InvalidAuthenticationToken", "message": "Access token has expired."}
            return JSONResponse({"error": error}, status_code=401)
        if self.fail_next > 0:
            self.fail_next -= 1
            return JSONResponse({"error": {"code": "ServiceNotAvailable"}}, status_code=503)
        return None

    async def create(self, request: Request) -> Response:
        calendar = request.path_params.get("calendar", DEFAULT)
        self.calls.append(("POST", calendar))
        if (refused := self._refused(request)) is not None:
            return refused
        body = await request.json()
        for key, (_, event) in self.events.items():
            if body.get("transactionId") and event.get("transactionId") == body["transactionId"]:
                return JSONResponse({**event, "id": key}, status_code=201)  # a retried insert
        key = f"AAMkAG{secrets.token_hex(12)}="
        self.events[key] = (calendar, body)
        return JSONResponse({**body, "id": key}, status_code=201)

    async def event(self, request: Request) -> Response:
        key = request.path_params["id"]
        self.calls.append((request.method, key))
        if (refused := self._refused(request)) is not None:
            return refused
        if key not in self.events:
            error = {"code": "ErrorItemNotFound", "message": "The item was not found."}
            return JSONResponse({"error": error}, status_code=404)
        if request.method == "PATCH":
            _, event = self.events[key]
            event.update(await request.json())
            return JSONResponse({**event, "id": key})
        del self.events[key]
        return Response(status_code=204)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/{tenant}/oauth2/v2.0/token", self.token, methods=["POST"]),
                Route("/v1.0/me/events", self.create, methods=["POST"]),
                Route("/v1.0/me/calendars/{calendar}/events", self.create, methods=["POST"]),
                Route("/v1.0/me/events/{id}", self.event, methods=["PATCH", "DELETE"]),
            ]
        )


def start() -> tuple[FakeGraph, uvicorn.Server]:
    fake = FakeGraph(port=free_port())
    return fake, serve_in_thread(fake.app(), fake.port)


CONNECT = """mutation($input: ConnectOutlookCalendarInput!) {
  connectOutlookCalendar(input: $input) {
  __typename ... on CalendarConnected { calendarId }
  ... on InvalidInput { message field } ... on NotFound { message } } }"""


async def connect_outlook(
    gql: GraphQLClient, who: str, calendar: str | None = None, refresh_token: str = REFRESH_TOKEN
) -> dict[str, Any]:
    variables = {"input": {"refreshToken": refresh_token, "calendarId": calendar}}
    result: dict[str, Any] = (await gql(CONNECT, variables, who))["connectOutlookCalendar"]
    return result
