"""Video meeting links for the services that want one, from the provider MEETING_PROVIDER
names: rooms made by visiting their URL (Jitsi, Whereby: MEETING_URL_TEMPLATE), Zoom
(domain/zoom.py), or Google Meet, which comes with the tutor's Google Calendar event
(domain/calendar_sync.py). The link is Booking.meetingUrl: reminders, the .ics and the
calendar event show it.

A booking change writes the meeting job only when it can do something: a provider that acts
on that change is configured, and the service has meeting links (or the booking a link to
move or take away)."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func
from sqlmodel import select

from domain import calendar_sync, ics, outbox, zoom
from domain.outbox import JobContext
from infra.db import UnitOfWork
from infra.settings import MeetingProvider
from models import Booking, Service
from models.bookings import BookingAction, BookingStatus

# The changes each provider's job acts on: a room is made once and stays; a Zoom meeting is
# made, moved and deleted with the booking; Google Meet is the calendar job's.
ACTS_ON: dict[MeetingProvider, tuple[BookingAction, ...]] = {
    MeetingProvider.ROOM: (BookingAction.CONFIRMED,),
    MeetingProvider.ZOOM: (
        BookingAction.CONFIRMED,
        BookingAction.RESCHEDULED,
        BookingAction.CANCELLED,
    ),
    MeetingProvider.GOOGLE_MEET: (),
}


class MeetingLinks(Protocol):
    async def create(self, parts: ics.BookingParts) -> str: ...


class RoomLinks:
    """A room per booking, named unguessably, from MEETING_URL_TEMPLATE's {room}."""

    def __init__(self, template: str) -> None:
        self.template = template

    async def create(self, parts: ics.BookingParts) -> str:
        return self.template.format(room=secrets.token_urlsafe(12))


async def booking_changed(
    session: UnitOfWork,
    booking: Booking,
    action: BookingAction,
    at: datetime,
    provider: MeetingProvider | None,
) -> None:
    """The meeting job, when it can do something. The service's row is usually held by the
    change already (then this reads nothing)."""
    if provider is None or action not in ACTS_ON[provider]:
        return
    if booking.meeting_url is None:
        with session.no_autoflush:  # a read of another row: the change's own rows flush together
            service = await session.get(Service, booking.service_id)
        if service is None or not service.meeting_links:
            return
    outbox.add(session, MEETING_LINK, {"booking": str(booking.id)}, at, now=at)


async def _room(ctx: JobContext, parts: ics.BookingParts) -> bool:
    template = ctx.settings.meeting_url_template
    booking = parts.booking
    if (
        template is None
        or not parts.service.meeting_links
        or booking.status != BookingStatus.CONFIRMED
        or booking.meeting_url is not None
    ):
        return False
    links: MeetingLinks = RoomLinks(template)
    booking.meeting_url = await links.create(parts)
    return True


async def assign_link(ctx: JobContext, session: UnitOfWork, job: dict[str, Any]) -> None:
    provider = ctx.settings.meeting_provider
    if provider is None or provider is MeetingProvider.GOOGLE_MEET:
        return
    booking_id = uuid.UUID(job["booking"])
    # One meeting job of a booking at a time (without holding the booking's row while the
    # provider answers): two racing jobs would both make a meeting.
    await session.exec(select(func.pg_advisory_xact_lock(func.hashtext(f"meet:{booking_id}"))))
    parts = await ics.load(session, booking_id)
    if parts is None:
        return
    if provider is MeetingProvider.ROOM:
        changed = await _room(ctx, parts)
    else:
        changed = await zoom.reconcile(ctx, session, parts)
    if changed:
        session.add(parts.booking)
        # The tutor's calendar shows the link as the event's location.
        if parts.tutor.calendar_connected:
            outbox.add(
                session,
                calendar_sync.CALENDAR_SYNC,
                {"booking": str(booking_id)},
                ctx.now,
                now=ctx.now,
            )


MEETING_LINK = outbox.register("meeting.link", assign_link)
