"""Google Calendar API v3 behind the calendar-sync interface, with Google Meet links made
through the event's conferenceData."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from domain.calendar_api import (
    CalendarError,
    CalendarEvent,
    CalendarSync,
    Placed,
    Tokens,
    check,
    refresh_grant,
    request,
)
from infra.settings import GoogleSettings

SERVICE = "Google Calendar"


class GoogleCalendar:
    """One tutor's Google Calendar, with their access token."""

    def __init__(self, settings: GoogleSettings, access_token: str) -> None:
        self.base = settings.api_base
        self.headers = {"Authorization": f"Bearer {access_token}"}

    async def _call(
        self, method: str, path: str, body: Any = None, conference: bool = False
    ) -> httpx.Response:
        # Google sends no invitations of its own: our emails tell the student.
        params = {"sendUpdates": "none"}
        if conference:
            # Without it Google ignores conferenceData (and keeps the event's Meet as it is).
            params["conferenceDataVersion"] = "1"
        return await request(
            SERVICE, method, f"{self.base}{path}", json=body, params=params, headers=self.headers
        )

    async def put(self, calendar_id: str, event: CalendarEvent, remote_id: str | None) -> Placed:
        events = f"/calendars/{_quote(calendar_id)}/events"
        body = _google_body(event)
        if remote_id is None:
            response = await self._call("POST", events, body, event.conference)
            if response.status_code != 409:  # 409: made already by an earlier try
                check(SERVICE, response)
                return _placed(event, response)
        response = await self._call("PUT", f"{events}/{event.event_id}", body, event.conference)
        check(SERVICE, response)
        return _placed(event, response)

    async def remove(self, calendar_id: str, remote_id: str) -> None:
        response = await self._call(
            "DELETE", f"/calendars/{_quote(calendar_id)}/events/{remote_id}"
        )
        if response.status_code not in (404, 410):  # gone already
            check(SERVICE, response)


class Google:
    """Google as a calendar provider: the platform's OAuth client refreshes tutors' tokens."""

    def __init__(self, settings: GoogleSettings) -> None:
        self.settings = settings

    async def refresh(self, refresh_token: str) -> Tokens:
        form = {
            "client_id": self.settings.client_id,
            "client_secret": self.settings.client_secret,
            "refresh_token": refresh_token,
        }
        return await refresh_grant("Google", self.settings.token_url, form)

    def calendar(self, access_token: str) -> CalendarSync:
        return GoogleCalendar(self.settings, access_token)


def _quote(calendar_id: str) -> str:
    return quote(calendar_id, safe="")


def _google_body(event: CalendarEvent) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": event.event_id,
        "summary": event.summary,
        "description": event.description,
        "start": {"dateTime": event.start.isoformat(), "timeZone": event.time_zone},
        "end": {"dateTime": event.end.isoformat(), "timeZone": event.time_zone},
        "attendees": [{"email": email, "displayName": name} for email, name in event.attendees],
    }
    if event.location:
        body["location"] = event.location
    if event.conference:
        # The same request id on every try: Google makes one Meet for it, however often asked.
        body["conferenceData"] = {
            "createRequest": {
                "requestId": event.event_id,
                "conferenceSolutionKey": {"type": "hangoutsMeet"},
            }
        }
    return body


def _placed(event: CalendarEvent, response: httpx.Response) -> Placed:
    if not event.conference:
        return Placed(event.event_id)
    link = _meet_link(response)
    if link is None:
        # Google may still be making it ("pending"): the retry asks again with the same id.
        raise CalendarError("Google has not made the Meet link yet")
    return Placed(event.event_id, link)


def _meet_link(response: httpx.Response) -> str | None:
    try:
        data = response.json()
        if data.get("hangoutLink"):
            return str(data["hangoutLink"])
        for entry in data.get("conferenceData", {}).get("entryPoints", []):
            if entry.get("entryPointType") == "video" and entry.get("uri"):
                return str(entry["uri"])
    except (ValueError, AttributeError, TypeError):
        return None
    return None
