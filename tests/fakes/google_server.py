"""A local stand-in for the Google endpoints we call: the OAuth token endpoint and Calendar
API v3 events (insert, update, delete), with failures and revoked tokens on request, and
Google Meet conferences made through conferenceData (as Google does: only with
conferenceDataVersion=1, one per createRequest id, kept on updates that do not ask)."""

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

CLIENT_ID = "client-123.apps.googleusercontent.com"
CLIENT_SECRET = "client-secret"
REFRESH_TOKEN = "1//refresh-token-of-ada"


@dataclass
class FakeGoogle:
    port: int
    # calendar id -> event id -> event body
    calendars: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    access_tokens: set[str] = field(default_factory=set)
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail_next: int = 0  # event calls answered 503 before working again
    # Query strings of the event calls, in order.
    params: list[dict[str, str]] = field(default_factory=list)
    # createRequest id -> the Meet link made for it
    meets: dict[str, str] = field(default_factory=dict)
    meet_pending: int = 0  # createRequests answered "pending" (no link yet) before working

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        self.calendars.clear()
        self.access_tokens.clear()
        self.calls.clear()
        self.fail_next = 0
        self.params.clear()
        self.meets.clear()
        self.meet_pending = 0

    def events(self, calendar_id: str = "primary") -> dict[str, dict[str, Any]]:
        return self.calendars.get(calendar_id, {})

    async def token(self, request: Request) -> Response:
        form = await request.form()
        if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != REFRESH_TOKEN:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        token = f"ya29.{secrets.token_urlsafe(8)}"
        self.access_tokens.add(token)
        return JSONResponse({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    async def event(self, request: Request) -> Response:
        calendar = request.path_params["calendar"]
        event_id = request.path_params.get("event")
        self.calls.append((request.method, event_id or calendar))
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if bearer not in self.access_tokens:
            return JSONResponse({"error": {"code": 401}}, status_code=401)
        if self.fail_next > 0:
            self.fail_next -= 1
            return JSONResponse({"error": {"code": 503}}, status_code=503)
        self.params.append(dict(request.query_params))
        events = self.calendars.setdefault(calendar, {})
        if request.method == "POST":
            body = await request.json()
            if body["id"] in events:
                return JSONResponse({"error": {"code": 409}}, status_code=409)
            events[body["id"]] = self._conference(request, body, None)
            return JSONResponse(events[body["id"]])
        assert event_id is not None
        if event_id not in events:
            return JSONResponse({"error": {"code": 404}}, status_code=404)
        if request.method == "PUT":
            events[event_id] = self._conference(request, await request.json(), events[event_id])
            return JSONResponse(events[event_id])
        del events[event_id]
        return Response(status_code=204)

    def _conference(
        self, request: Request, body: dict[str, Any], before: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The stored event: conferenceData is read only with conferenceDataVersion=1;
        otherwise the event keeps the conference it had."""
        asked = body.pop("conferenceData", None)
        if request.query_params.get("conferenceDataVersion") != "1" or asked is None:
            for key in ("conferenceData", "hangoutLink"):
                if before is not None and key in before:
                    body[key] = before[key]
            return body
        create = asked["createRequest"]
        assert create["conferenceSolutionKey"] == {"type": "hangoutsMeet"}
        if self.meet_pending > 0:
            self.meet_pending -= 1
            body["conferenceData"] = {
                "createRequest": {**create, "status": {"statusCode": "pending"}}
            }
            return body
        link = self.meets.setdefault(
            create["requestId"], f"https://meet.google.com/{secrets.token_hex(3)}-{len(self.meets)}"
        )
        body["hangoutLink"] = link
        body["conferenceData"] = {
            "createRequest": {**create, "status": {"statusCode": "success"}},
            "entryPoints": [{"entryPointType": "video", "uri": link}],
            "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"},
        }
        return body

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/token", self.token, methods=["POST"]),
                Route("/calendars/{calendar}/events", self.event, methods=["POST"]),
                Route(
                    "/calendars/{calendar}/events/{event}",
                    self.event,
                    methods=["PUT", "DELETE"],
                ),
            ]
        )


def start() -> tuple[FakeGoogle, uvicorn.Server]:
    fake = FakeGoogle(port=free_port())
    return fake, serve_in_thread(fake.app(), fake.port)


CONNECT = """mutation($input: ConnectGoogleCalendarInput!) { connectGoogleCalendar(input: $input) {
  __typename ... on CalendarConnected { calendarId }
  ... on InvalidInput { message field } ... on NotFound { message } } }"""


async def connect_google(gql: GraphQLClient, who: str, calendar: str = "primary") -> dict[str, Any]:
    variables = {"input": {"refreshToken": REFRESH_TOKEN, "calendarId": calendar}}
    result: dict[str, Any] = (await gql(CONNECT, variables, who))["connectGoogleCalendar"]
    return result
