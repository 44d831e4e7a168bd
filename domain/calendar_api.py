"""What calendar sync asks of a calendar service, whoever runs it (domain/google_calendar.py,
domain/outlook_calendar.py): put a booking's event there, take it away, and refresh the
tutor's access token. Nothing here knows one service from another."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx

from domain import ics

TIMEOUT_SECONDS = 20


class CalendarError(Exception):
    """The calendar service failed or refused; the job is tried again later."""


class Unauthorized(CalendarError):
    """The access token was refused before its time (revoked): refresh and try once more."""


@dataclass(frozen=True)
class CalendarEvent:
    event_id: str  # ours, made from the booking's id
    summary: str
    description: str
    start: datetime
    end: datetime
    time_zone: str
    attendees: list[tuple[str, str]]  # (email, name)
    location: str | None = None
    # Ask the service for a video meeting on the event (Google Meet).
    conference: bool = False


@dataclass(frozen=True)
class Placed:
    """Where the event is now: its id in that calendar, and the meeting link the service made
    for it (when one was asked for)."""

    remote_id: str
    meeting_url: str | None = None


@dataclass(frozen=True)
class Tokens:
    access_token: str
    seconds: int
    # A new refresh token, when the service rotates them (Microsoft does): keep it.
    refresh_token: str | None = None


class CalendarSync(Protocol):
    async def put(self, calendar_id: str, event: CalendarEvent, remote_id: str | None) -> Placed:
        """Make the event (remote_id None) or bring it up to date; a second insert of the
        same event must not make two."""
        ...

    async def remove(self, calendar_id: str, remote_id: str) -> None:
        """Delete it; gone already is fine."""
        ...


class CalendarProvider(Protocol):
    """A calendar service as the platform's OAuth client sees it."""

    async def refresh(self, refresh_token: str) -> Tokens: ...

    def calendar(self, access_token: str) -> CalendarSync: ...


def event_id(booking_id: uuid.UUID) -> str:
    """Our own event id (Google allows base32hex, 5 to 1024 characters): inserting the same
    booking twice is then refused as a duplicate instead of making two events."""
    return f"bk{booking_id.hex}"


def event_of(parts: ics.BookingParts, conference: bool = False) -> CalendarEvent:
    booking = parts.booking
    return CalendarEvent(
        event_id=event_id(booking.id),
        summary=f"{parts.service.title} with {parts.student.display_name}",
        description=f"{parts.service.title}: {parts.tutor.display_name} and "
        f"{parts.student.display_name}",
        start=booking.start_at,
        end=booking.end_at,
        time_zone=parts.tutor.time_zone,
        attendees=[(parts.student.email, parts.student.display_name)],
        location=booking.meeting_url,
        conference=conference,
    )


async def request(
    service: str,
    method: str,
    url: str,
    *,
    json: Any = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """One call to a calendar service; unreachable is a CalendarError (retried)."""
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
            return await client.request(method, url, json=json, params=params, headers=headers)
    except httpx.HTTPError as error:
        raise CalendarError(f"{service} unreachable: {error}") from error


def check(service: str, response: httpx.Response) -> None:
    if response.status_code == 401:
        raise Unauthorized(f"{service} refused the access token")
    if response.status_code >= 400:
        raise CalendarError(f"{service} said {response.status_code}: {response.text[:300]}")


async def refresh_grant(service: str, token_url: str, form: dict[str, str]) -> Tokens:
    """OAuth 2.0's refresh_token grant: a new access token (and maybe a new refresh token)."""
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
            response = await client.post(token_url, data={**form, "grant_type": "refresh_token"})
    except httpx.HTTPError as error:
        raise CalendarError(f"{service} sign-in unreachable: {error}") from error
    if response.status_code != 200:
        raise CalendarError(f"{service} refused the refresh token ({response.status_code})")
    try:
        data = response.json()
        rotated = data.get("refresh_token")
        return Tokens(
            str(data["access_token"]),
            int(data.get("expires_in", 3600)),
            str(rotated) if rotated else None,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise CalendarError(f"{service} sign-in answered without an access token") from None
