"""Video meeting links for the services that want one: the interface, a room-URL
implementation (Jitsi, Whereby, or any service whose rooms are made by visiting their URL), and
the job that sets Booking.meetingUrl once a booking is confirmed."""

from __future__ import annotations

import secrets
import uuid
from typing import Any, Protocol

from domain import calendar_sync, ics, outbox
from domain.outbox import JobContext
from infra.db import UnitOfWork
from models import Booking
from models.bookings import BookingAction, BookingStatus


class MeetingLinks(Protocol):
    async def create(self, parts: ics.BookingParts) -> str: ...


class RoomLinks:
    """A room per booking, named unguessably, from MEETING_URL_TEMPLATE's {room}."""

    def __init__(self, template: str) -> None:
        self.template = template

    async def create(self, parts: ics.BookingParts) -> str:
        return self.template.format(room=secrets.token_urlsafe(12))


def booking_changed(session: UnitOfWork, booking: Booking, action: BookingAction, at: Any) -> None:
    if action == BookingAction.CONFIRMED:
        outbox.add(session, MEETING_LINK, {"booking": str(booking.id)}, at)


async def assign_link(ctx: JobContext, session: UnitOfWork, job: dict[str, Any]) -> None:
    template = ctx.settings.meeting_url_template
    if template is None:
        return
    booking_id = uuid.UUID(job["booking"])
    await session.get(Booking, booking_id, with_for_update=True)
    parts = await ics.load(session, booking_id)
    if parts is None or not parts.service.meeting_links:
        return
    booking = parts.booking
    if booking.status != BookingStatus.CONFIRMED or booking.meeting_url is not None:
        return
    links: MeetingLinks = RoomLinks(template)
    booking.meeting_url = await links.create(parts)
    session.add(booking)
    # The tutor's calendar shows the link as the event's location.
    outbox.add(session, calendar_sync.CALENDAR_SYNC, {"booking": str(booking.id)}, ctx.now)


MEETING_LINK = outbox.register("meeting.link", assign_link)
