"""Mirroring bookings into tutors' own calendars (Google Calendar or Outlook, one per tutor):
connecting a calendar, and the job that brings one booking's event up to date. The services
themselves are behind domain/calendar_api.py's interface.

The job reconciles rather than replays: whatever happened to the booking, it makes the
calendar show its current state (an event while CONFIRMED, none otherwise). Running it twice,
or out of order, ends the same. A remote failure raises; the outbox retries with backoff and
the booking itself is never touched (but for the Google Meet link it may be given).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, update
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import ics, outbox
from domain.calendar_api import (
    CalendarError,
    CalendarProvider,
    CalendarSync,
    Placed,
    Unauthorized,
    event_of,
)
from domain.errors import InvalidInput, NotFound
from domain.google_calendar import Google
from domain.outbox import JobContext
from domain.outlook_calendar import DEFAULT_CALENDAR, Outlook
from domain.people import tutor_of_user
from infra.auth import Identity
from infra.crypto import Cipher
from infra.db import Database, UnitOfWork
from infra.settings import MeetingProvider, Settings
from models import Booking, CalendarLink, SyncedEvent, Tutor
from models.bookings import BookingAction, BookingStatus
from models.integrations import CalendarProvider as Provider

MAX_CALENDAR_ID = 300
# Microsoft's run to a few kilobytes; anything longer is not one.
MAX_REFRESH_TOKEN = 16_384
# Refresh an access token this long before the service says it expires.
EARLY = timedelta(minutes=2)
# What a booking's event reflects: a change to any of these is synced.
SYNCED = (
    BookingAction.CONFIRMED,
    BookingAction.RESCHEDULED,
    BookingAction.CANCELLED,
    BookingAction.EXPIRED,
)
NAMES = {Provider.GOOGLE: "Google Calendar", Provider.OUTLOOK: "Outlook"}


def provider_of(settings: Settings, which: Provider) -> CalendarProvider | None:
    """The service behind a link, or None when this server is not configured for it."""
    if which is Provider.GOOGLE:
        return Google(settings.google) if settings.google else None
    return Outlook(settings.microsoft) if settings.microsoft else None


def _keep_tokens(
    link: CalendarLink, cipher: Cipher, token: str, seconds: int, refresh: str | None, now: datetime
) -> None:
    link.access_token = cipher.encrypt(token)
    link.access_expires_at = now + timedelta(seconds=seconds)
    if refresh is not None:  # rotated: the old one may stop working
        link.refresh_token = cipher.encrypt(refresh)


async def _client(
    ctx: JobContext,
    provider: CalendarProvider,
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
        tokens = await provider.refresh(ctx.cipher.decrypt(link.refresh_token))
        _keep_tokens(
            link, ctx.cipher, tokens.access_token, tokens.seconds, tokens.refresh_token, ctx.now
        )
        session.add(link)
        return provider.calendar(tokens.access_token)
    return provider.calendar(ctx.cipher.decrypt(link.access_token))


# ---------------------------------------------------------------- connecting a calendar


async def connect(
    db: Database,
    settings: Settings,
    cipher: Cipher,
    identity: Identity,
    which: Provider,
    refresh_token: str,
    calendar_id: str | None,
    now: datetime,
) -> CalendarLink:
    """Store the tutor's consent (a refresh token the platform obtained), checked with the
    service first and kept encrypted, and mirror their upcoming confirmed bookings there. It
    replaces the calendar connected before, of either service (events already there stay)."""
    provider = provider_of(settings, which)
    if provider is None:
        raise InvalidInput(f"{NAMES[which]} is not configured on this server")
    if not refresh_token.strip() or len(refresh_token) > MAX_REFRESH_TOKEN:
        raise InvalidInput(
            f"Give the refresh token from {NAMES[which]}'s consent", "input.refreshToken"
        )
    if which is Provider.OUTLOOK and calendar_id is None:
        calendar_id = DEFAULT_CALENDAR
    if calendar_id is None or not 1 <= len(calendar_id) <= MAX_CALENDAR_ID:
        raise InvalidInput(f"1 to {MAX_CALENDAR_ID} characters", "input.calendarId")
    async with db.session() as session:
        tutor = await tutor_of_user(session, identity.sub)
    if tutor is None:
        raise NotFound("You have no tutor profile: create one first")
    try:
        tokens = await provider.refresh(refresh_token)
    except CalendarError as error:
        raise InvalidInput(str(error), "input.refreshToken") from None
    async with db.transaction() as session:
        # The tutor's row first: a booking being made holds it, so this waits for it to commit
        # and then sees it below; one made later reads the flag set here.
        await session.exec(
            update(Tutor).where(col(Tutor.id) == tutor.id).values(calendar_connected=True)
        )
        link = await session.get(CalendarLink, tutor.id, with_for_update=True)
        if link is None:
            link = CalendarLink(
                tutor_id=tutor.id,
                provider=which,
                calendar_id=calendar_id,
                refresh_token="",
                created_at=now,
            )
        elif link.provider != which:
            # The other service's events are out of reach now: forget them (they stay there).
            await _forget_events(session, tutor.id)
        link.provider, link.calendar_id = which, calendar_id
        link.refresh_token = cipher.encrypt(refresh_token)
        _keep_tokens(link, cipher, tokens.access_token, tokens.seconds, tokens.refresh_token, now)
        session.add(link)
        # FOR SHARE: a booking being cancelled or paid for right now (whose change did not take
        # the tutor's row) is waited for, then seen as it ends up.
        upcoming = await session.exec(
            select(Booking.id, Booking.status)
            .where(
                Booking.tutor_id == tutor.id,
                col(Booking.status).in_([BookingStatus.CONFIRMED, BookingStatus.PENDING_PAYMENT]),
                col(Booking.end_at) > now,
            )
            .with_for_update(read=True)
        )
        for booking_id, status in upcoming:
            if status == BookingStatus.CONFIRMED:
                outbox.add(session, CALENDAR_SYNC, {"booking": str(booking_id)}, now, now=now)
    return link


async def _forget_events(session: AsyncSession, tutor_id: uuid.UUID) -> None:
    mirrored = select(Booking.id).where(Booking.tutor_id == tutor_id)
    await session.exec(delete(SyncedEvent).where(col(SyncedEvent.booking_id).in_(mirrored)))


async def disconnect(db: Database, identity: Identity) -> str:
    """Stop mirroring; events already in the calendar stay there."""
    async with db.transaction() as session:
        tutor = await tutor_of_user(session, identity.sub)
        link = await session.get(CalendarLink, tutor.id) if tutor else None
        if tutor is None or link is None:
            raise NotFound("No calendar is connected")
        await session.delete(link)
        tutor.calendar_connected = False
        session.add(tutor)
        await _forget_events(session, tutor.id)
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


def described(link: CalendarLink) -> str:
    """Tutor.connectedCalendar: a Google calendar's id as connected (as it always was), or
    `outlook:` and the Outlook calendar's id (`outlook:default`: the user's default)."""
    if link.provider is Provider.GOOGLE:
        return link.calendar_id
    return f"{link.provider.value}:{link.calendar_id}"


async def connected(db: Database, tutor_id: uuid.UUID) -> str | None:
    async with db.session() as session:
        link = await session.get(CalendarLink, tutor_id)
    return described(link) if link else None


# ---------------------------------------------------------------- the job


async def booking_changed(
    session: UnitOfWork, booking: Booking, action: BookingAction, at: datetime
) -> None:
    """A sync job, when the tutor has a calendar to sync to. The tutor's row is one the
    change holds already (creating, moving and paying lock it): then this reads nothing."""
    if action not in SYNCED:
        return
    with session.no_autoflush:  # a read of another row: the change's own rows flush together
        tutor = await session.get(Tutor, booking.tutor_id)
    if tutor is not None and tutor.calendar_connected:
        outbox.add(session, CALENDAR_SYNC, {"booking": str(booking.id)}, at, now=at)


def wants_meet(settings: Settings, parts: ics.BookingParts, link: CalendarLink) -> bool:
    """Google Meet links come with the tutor's Google Calendar event."""
    return (
        settings.meeting_provider is MeetingProvider.GOOGLE_MEET
        and link.provider is Provider.GOOGLE
        and parts.service.meeting_links
        and parts.booking.meeting_url is None
    )


async def sync_booking(ctx: JobContext, session: AsyncSession, job: dict[str, Any]) -> None:
    booking_id = uuid.UUID(job["booking"])
    # One sync of a booking at a time: two racing jobs would both insert.
    await session.exec(select(func.pg_advisory_xact_lock(func.hashtext(f"sync:{booking_id}"))))
    parts = await ics.load(session, booking_id)
    if parts is None:
        return
    link = await session.get(CalendarLink, parts.booking.tutor_id)
    provider = provider_of(ctx.settings, link.provider) if link else None
    if link is None or provider is None:
        return
    stored = await session.get(SyncedEvent, booking_id)
    # An event in the other service's calendar is out of reach (see connect).
    synced = stored if stored is not None and stored.provider == link.provider else None
    conference = wants_meet(ctx.settings, parts, link)
    try:
        client = await _client(ctx, provider, session, link)
        placed = await _reconcile(client, parts, link, synced, conference)
    except Unauthorized:
        client = await _client(ctx, provider, session, link, fresh=True)
        placed = await _reconcile(client, parts, link, synced, conference)
    if placed is not None:
        if stored is None:
            stored = SyncedEvent(
                booking_id=booking_id,
                provider=link.provider,
                calendar_id=link.calendar_id,
                event_id=placed.remote_id,
            )
        stored.provider, stored.calendar_id = link.provider, link.calendar_id
        stored.event_id = placed.remote_id
        session.add(stored)
        if placed.meeting_url is not None:
            # The booking's link: reminders and its .ics show it from now on.
            parts.booking.meeting_url = placed.meeting_url
            session.add(parts.booking)
    elif stored is not None:
        await session.delete(stored)


CALENDAR_SYNC = outbox.register("calendar.sync", sync_booking)


async def _reconcile(
    client: CalendarSync,
    parts: ics.BookingParts,
    link: CalendarLink,
    synced: SyncedEvent | None,
    conference: bool,
) -> Placed | None:
    """The calendar shows the booking while it is CONFIRMED, and nothing otherwise: where
    the event is, or None."""
    if parts.booking.status == BookingStatus.CONFIRMED:
        same_calendar = synced is not None and synced.calendar_id == link.calendar_id
        remote_id = synced.event_id if synced is not None and same_calendar else None
        return await client.put(link.calendar_id, event_of(parts, conference), remote_id)
    if synced is not None:
        await client.remove(synced.calendar_id, synced.event_id)
    return None
