"""Mirroring bookings into tutors' own calendars: the interface, Google Calendar's REST API
behind it, connecting a calendar, and the job that brings one booking's event up to date.

The job reconciles rather than replays: whatever happened to the booking, it makes the
calendar show its current state (an event while CONFIRMED, none otherwise). Running it twice,
or out of order, ends the same. A remote failure raises; the outbox retries with backoff and
the booking itself is never touched.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from sqlalchemy import func
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import ics, outbox
from domain.errors import InvalidInput, NotFound
from domain.outbox import JobContext
from domain.people import tutor_of_user
from infra.auth import Identity
from infra.crypto import Cipher
from infra.db import Database, UnitOfWork
from infra.settings import GoogleSettings
from models import Booking, CalendarLink, SyncedEvent
from models.bookings import BookingAction, BookingStatus

TIMEOUT_SECONDS = 20
MAX_CALENDAR_ID = 300
# Refresh an access token this long before Google says it expires.
EARLY = timedelta(minutes=2)


class CalendarError(Exception):
    """The calendar service failed or refused; the job is tried again later."""


class Unauthorized(CalendarError):
    """The access token was refused before its time (revoked): refresh and try once more."""


@dataclass(frozen=True)
class CalendarEvent:
    event_id: str
    summary: str
    description: str
    start: datetime
    end: datetime
    time_zone: str
    attendees: list[tuple[str, str]]  # (email, name)
    location: str | None = None


class CalendarSync(Protocol):
    async def put(self, calendar_id: str, event: CalendarEvent, exists: bool) -> None: ...

    async def remove(self, calendar_id: str, event_id: str) -> None: ...


def event_id(booking_id: uuid.UUID) -> str:
    """Our own event id (Google allows base32hex, 5 to 1024 characters): inserting the same
    booking twice is then refused as a duplicate instead of making two events."""
    return f"bk{booking_id.hex}"


def event_of(parts: ics.BookingParts) -> CalendarEvent:
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
    )


class GoogleCalendar:
    """Google Calendar API v3 over HTTP with a tutor's access token."""

    def __init__(self, settings: GoogleSettings, access_token: str) -> None:
        self.base = settings.api_base
        self.headers = {"Authorization": f"Bearer {access_token}"}

    async def _call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
                return await client.request(
                    method,
                    f"{self.base}{path}",
                    json=body,
                    params={"sendUpdates": "none"},
                    headers=self.headers,
                )
        except httpx.HTTPError as error:
            raise CalendarError(f"Google Calendar unreachable: {error}") from error

    async def put(self, calendar_id: str, event: CalendarEvent, exists: bool) -> None:
        events = f"/calendars/{_quote(calendar_id)}/events"
        body = _google_body(event)
        if not exists:
            response = await self._call("POST", events, body)
            if response.status_code != 409:  # 409: made already by an earlier try
                _check(response)
                return
        _check(await self._call("PUT", f"{events}/{event.event_id}", body))

    async def remove(self, calendar_id: str, event_id: str) -> None:
        response = await self._call("DELETE", f"/calendars/{_quote(calendar_id)}/events/{event_id}")
        if response.status_code not in (404, 410):  # gone already
            _check(response)


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
    return body


def _check(response: httpx.Response) -> None:
    if response.status_code == 401:
        raise Unauthorized("Google Calendar refused the access token")
    if response.status_code >= 400:
        raise CalendarError(f"Google Calendar said {response.status_code}: {response.text[:300]}")


async def refresh(settings: GoogleSettings, refresh_token: str) -> tuple[str, int]:
    """An access token and its lifetime in seconds, from the tutor's refresh token."""
    form = {
        "client_id": settings.client_id,
        "client_secret": settings.client_secret,
        "refresh_token": refresh_token,
        "grant_type": "refresh_token",
    }
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
            response = await client.post(settings.token_url, data=form)
    except httpx.HTTPError as error:
        raise CalendarError(f"Google sign-in unreachable: {error}") from error
    if response.status_code != 200:
        raise CalendarError(f"Google refused the refresh token ({response.status_code})")
    data = response.json()
    return str(data["access_token"]), int(data.get("expires_in", 3600))


def _keep_access(
    link: CalendarLink, cipher: Cipher, token: str, seconds: int, now: datetime
) -> None:
    link.access_token = cipher.encrypt(token)
    link.access_expires_at = now + timedelta(seconds=seconds)


async def _client(
    ctx: JobContext,
    settings: GoogleSettings,
    session: AsyncSession,
    link: CalendarLink,
    fresh: bool = False,
) -> CalendarSync:
    if (
        fresh
        or link.access_token is None
        or link.access_expires_at is None
        or link.access_expires_at - EARLY <= ctx.now
    ):
        token, seconds = await refresh(settings, ctx.cipher.decrypt(link.refresh_token))
        _keep_access(link, ctx.cipher, token, seconds, ctx.now)
        session.add(link)
        return GoogleCalendar(settings, token)
    return GoogleCalendar(settings, ctx.cipher.decrypt(link.access_token))


# ---------------------------------------------------------------- connecting a calendar


async def connect_google(
    db: Database,
    settings: GoogleSettings | None,
    cipher: Cipher,
    identity: Identity,
    refresh_token: str,
    calendar_id: str,
    now: datetime,
) -> CalendarLink:
    """Store the tutor's consent (a refresh token the platform obtained), checked with Google
    first and kept encrypted, and mirror their upcoming confirmed bookings."""
    if settings is None:
        raise InvalidInput("Google Calendar is not configured on this server")
    if not refresh_token.strip():
        raise InvalidInput("Give the refresh token from Google's consent", "input.refreshToken")
    if not 1 <= len(calendar_id) <= MAX_CALENDAR_ID:
        raise InvalidInput(f"1 to {MAX_CALENDAR_ID} characters", "input.calendarId")
    async with db.session() as session:
        tutor = await tutor_of_user(session, identity.sub)
    if tutor is None:
        raise NotFound("You have no tutor profile: create one first")
    try:
        token, seconds = await refresh(settings, refresh_token)
    except CalendarError as error:
        raise InvalidInput(str(error), "input.refreshToken") from None
    async with db.transaction() as session:
        link = await session.get(CalendarLink, tutor.id, with_for_update=True)
        if link is None:
            link = CalendarLink(tutor_id=tutor.id, calendar_id=calendar_id, refresh_token="")
        link.calendar_id, link.refresh_token = calendar_id, cipher.encrypt(refresh_token)
        _keep_access(link, cipher, token, seconds, now)
        session.add(link)
        upcoming = await session.exec(
            select(Booking.id).where(
                Booking.tutor_id == tutor.id,
                Booking.status == BookingStatus.CONFIRMED,
                col(Booking.end_at) > now,
            )
        )
        for booking_id in upcoming:
            outbox.add(session, CALENDAR_SYNC, {"booking": str(booking_id)}, now)
    return link


async def disconnect(db: Database, identity: Identity) -> str:
    """Stop mirroring; events already in the calendar stay there."""
    async with db.transaction() as session:
        tutor = await tutor_of_user(session, identity.sub)
        link = await session.get(CalendarLink, tutor.id) if tutor else None
        if tutor is None or link is None:
            raise NotFound("No calendar is connected")
        await session.delete(link)
        mirrored = select(Booking.id).where(Booking.tutor_id == tutor.id)
        await session.exec(delete(SyncedEvent).where(col(SyncedEvent.booking_id).in_(mirrored)))
    return link.calendar_id


async def rotate_tokens(session: AsyncSession, cipher: Cipher) -> int:
    """Every link's tokens re-encrypted under the first key (after a key is added in front)."""
    links = list(await session.exec(select(CalendarLink).with_for_update()))
    for link in links:
        link.refresh_token = cipher.rotate(link.refresh_token)
        if link.access_token is not None:
            link.access_token = cipher.rotate(link.access_token)
        session.add(link)
    return len(links)


async def connected(db: Database, tutor_id: uuid.UUID) -> str | None:
    async with db.session() as session:
        link = await session.get(CalendarLink, tutor_id)
    return link.calendar_id if link else None


# ---------------------------------------------------------------- the job


def booking_changed(
    session: UnitOfWork, booking: Booking, action: BookingAction, at: datetime
) -> None:
    if action in (
        BookingAction.CONFIRMED,
        BookingAction.RESCHEDULED,
        BookingAction.CANCELLED,
        BookingAction.EXPIRED,
    ):
        outbox.add(session, CALENDAR_SYNC, {"booking": str(booking.id)}, at)


async def sync_booking(ctx: JobContext, session: AsyncSession, job: dict[str, Any]) -> None:
    google = ctx.settings.google
    if google is None:
        return
    booking_id = uuid.UUID(job["booking"])
    # One sync of a booking at a time: two racing jobs would both insert.
    await session.exec(select(func.pg_advisory_xact_lock(func.hashtext(f"sync:{booking_id}"))))
    parts = await ics.load(session, booking_id)
    if parts is None:
        return
    link = await session.get(CalendarLink, parts.booking.tutor_id)
    if link is None:
        return
    synced = await session.get(SyncedEvent, booking_id)
    try:
        await _reconcile(await _client(ctx, google, session, link), parts, link, synced)
    except Unauthorized:
        client = await _client(ctx, google, session, link, fresh=True)
        await _reconcile(client, parts, link, synced)
    if parts.booking.status == BookingStatus.CONFIRMED:
        if synced is None:
            synced = SyncedEvent(booking_id=booking_id, calendar_id=link.calendar_id)
        synced.calendar_id = link.calendar_id
        session.add(synced)
    elif synced is not None:
        await session.delete(synced)


CALENDAR_SYNC = outbox.register("calendar.sync", sync_booking)


async def _reconcile(
    client: CalendarSync, parts: ics.BookingParts, link: CalendarLink, synced: SyncedEvent | None
) -> None:
    """The calendar shows the booking while it is CONFIRMED, and nothing otherwise."""
    if parts.booking.status == BookingStatus.CONFIRMED:
        same_calendar = synced is not None and synced.calendar_id == link.calendar_id
        await client.put(link.calendar_id, event_of(parts), exists=same_calendar)
    elif synced is not None:
        await client.remove(synced.calendar_id, event_id(synced.booking_id))
