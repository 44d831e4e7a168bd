"""Outlook calendars through Microsoft Graph (v1.0) behind the calendar-sync interface.

Graph gives events its own ids, so the id is kept on the synced event; a retried insert
carries a transactionId, which Graph uses to return the event it made instead of a second one.
"""

from __future__ import annotations

import hashlib
from datetime import UTC
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
from infra.settings import MicrosoftSettings

SERVICE = "Microsoft Graph"
# The calendarId kept for "the user's default calendar" (events at /me/events).
DEFAULT_CALENDAR = "default"
SCOPE = "https://graph.microsoft.com/Calendars.ReadWrite offline_access"


class OutlookCalendar:
    """One tutor's Outlook calendar, with their access token."""

    def __init__(self, settings: MicrosoftSettings, access_token: str) -> None:
        self.base = settings.graph_base
        self.headers = {"Authorization": f"Bearer {access_token}"}

    async def _call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return await request(SERVICE, method, f"{self.base}{path}", json=body, headers=self.headers)

    async def put(self, calendar_id: str, event: CalendarEvent, remote_id: str | None) -> Placed:
        body = _graph_body(event)
        if remote_id is not None:
            # /me/events/{id} reaches an event in any of the user's calendars.
            response = await self._call("PATCH", f"/me/events/{quote(remote_id, safe='')}", body)
            if response.status_code not in (404, 410):
                check(SERVICE, response)
                return Placed(remote_id)
            # Deleted in Outlook meanwhile: the booking is still on, so it is made again.
        body["transactionId"] = _transaction_id(event, calendar_id, remote_id)
        response = await self._call("POST", _events(calendar_id), body)
        check(SERVICE, response)
        try:
            return Placed(str(response.json()["id"]))
        except (ValueError, KeyError, TypeError):
            raise CalendarError(f"{SERVICE} made an event without saying its id") from None

    async def remove(self, calendar_id: str, remote_id: str) -> None:
        response = await self._call("DELETE", f"/me/events/{quote(remote_id, safe='')}")
        if response.status_code not in (404, 410):  # gone already
            check(SERVICE, response)


class Outlook:
    """Microsoft as a calendar provider: the platform's Entra app refreshes tutors' tokens
    (and Microsoft may hand back a new refresh token each time: the caller keeps it)."""

    def __init__(self, settings: MicrosoftSettings) -> None:
        self.settings = settings

    async def refresh(self, refresh_token: str) -> Tokens:
        form = {
            "client_id": self.settings.client_id,
            "client_secret": self.settings.client_secret,
            "refresh_token": refresh_token,
            "scope": SCOPE,
        }
        return await refresh_grant("Microsoft", self.settings.token_url, form)

    def calendar(self, access_token: str) -> CalendarSync:
        return OutlookCalendar(self.settings, access_token)


def _events(calendar_id: str) -> str:
    if calendar_id == DEFAULT_CALENDAR:
        return "/me/events"
    return f"/me/calendars/{quote(calendar_id, safe='')}/events"


def _transaction_id(event: CalendarEvent, calendar_id: str, replacing: str | None) -> str:
    """The same on every retry of one insert, and new for another calendar or for an event
    made again after it was deleted in Outlook."""
    scope = hashlib.sha256(f"{calendar_id}\n{replacing or ''}".encode()).hexdigest()[:16]
    return f"{event.event_id}-{scope}"


def _when(event: CalendarEvent, end: bool = False) -> dict[str, str]:
    # Graph takes a wall-clock time and its zone; UTC needs no zone-name mapping.
    instant = (event.end if end else event.start).astimezone(UTC)
    return {"dateTime": instant.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def _graph_body(event: CalendarEvent) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": event.summary,
        "body": {"contentType": "text", "content": event.description},
        "start": _when(event),
        "end": _when(event, end=True),
        "attendees": [
            {"emailAddress": {"address": email, "name": name}, "type": "required"}
            for email, name in event.attendees
        ],
    }
    if event.location:
        body["location"] = {"displayName": event.location}
    return body
