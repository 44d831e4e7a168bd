"""Calendar files (RFC 5545): one booking through a signed link, and a tutor's secret feed."""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from icalendar import Calendar, Event
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.errors import NotFound
from domain.people import tutor_of_user
from infra.db import Database, present
from models import Booking, Service, Student, Tutor
from models.bookings import BookingStatus
from models.people import new_feed_token

PRODID = "-//booking-api//bookings//EN"
# A feed shows what is coming and the last month, which calendars keep as history.
FEED_PAST = timedelta(days=30)
FEED_STATUSES = (BookingStatus.CONFIRMED, BookingStatus.COMPLETED, BookingStatus.NO_SHOW)
FEED_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what new_feed_token makes (and migration 0008)


def signature(secret: str, booking_id: uuid.UUID) -> str:
    """A link's key: valid for this booking only, and only with the server's secret."""
    digest = hmac.new(secret.encode(), f"ics:{booking_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def valid(secret: str, booking_id: uuid.UUID, given: str) -> bool:
    # As bytes: compare_digest refuses str with non-ASCII characters (a caller's choice).
    return hmac.compare_digest(
        signature(secret, booking_id).encode(), given.encode(errors="replace")
    )


@dataclass(frozen=True)
class BookingParts:
    """A booking with the names a calendar entry or an email shows."""

    booking: Booking
    service: Service
    tutor: Tutor
    student: Student

    @property
    def student_zone(self) -> str:
        """Where the student's emails show times: their profile's zone as it is now
        (updateStudentProfile), else the one they booked in."""
        return self.student.time_zone or self.booking.student_time_zone


async def load(session: AsyncSession, booking_id: uuid.UUID) -> BookingParts | None:
    booking = await session.get(Booking, booking_id)
    if booking is None:
        return None
    return BookingParts(
        booking,
        present(await session.get(Service, booking.service_id), "booking's service"),
        present(await session.get(Tutor, booking.tutor_id), "booking's tutor"),
        present(await session.get(Student, booking.student_id), "booking's student"),
    )


def _event(parts: BookingParts, now: datetime) -> Event:
    booking = parts.booking
    event = Event()
    # Stable across reschedules; SEQUENCE tells calendars which version is newer.
    event.add("uid", f"{booking.id}@booking-api")
    event.add("dtstamp", now)
    event.add("dtstart", booking.start_at)
    event.add("dtend", booking.end_at)
    event.add("summary", f"{parts.service.title} with {parts.tutor.display_name}")
    event.add(
        "description",
        f"{parts.service.title}: {parts.tutor.display_name} and {parts.student.display_name}",
    )
    event.add("sequence", booking.reschedule_count)
    event.add(
        "status",
        "CANCELLED"
        if booking.status in (BookingStatus.CANCELLED, BookingStatus.EXPIRED)
        else "CONFIRMED",
    )
    if booking.meeting_url:
        event.add("location", booking.meeting_url)
    return event


def render(bookings: Sequence[BookingParts], now: datetime, name: str | None = None) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    if name is not None:
        calendar.add("x-wr-calname", name)
    for parts in bookings:
        calendar.add_component(_event(parts, now))
    ical: bytes = calendar.to_ical()
    return ical


# ---------------------------------------------------------------- the tutor's feed


def feed_url(public_base_url: str, token: str) -> str:
    return f"{public_base_url}/calendar/{token}.ics"


async def rotate_feed(db: Database, user_id: str) -> str:
    """A new secret for the tutor's feed: the old URL stops at once."""
    async with db.transaction() as session:
        tutor = await tutor_of_user(session, user_id)
        if tutor is None:
            raise NotFound("You have no tutor profile: create one first")
        tutor.calendar_feed_token = new_feed_token()
        session.add(tutor)
        return tutor.calendar_feed_token


async def feed(db: Database, token: str, now: datetime) -> bytes | None:
    """The feed behind a secret, or None for an unknown one."""
    if not FEED_TOKEN.fullmatch(token):
        return None  # not one we made (and a NUL in it would not even reach the database)
    async with db.session() as session:
        tutor = (
            await session.exec(select(Tutor).where(Tutor.calendar_feed_token == token))
        ).first()
        if tutor is None:
            return None
        rows = await session.exec(
            select(Booking, Service, Student)
            .join(Service, col(Service.id) == Booking.service_id)
            .join(Student, col(Student.id) == Booking.student_id)
            .where(
                Booking.tutor_id == tutor.id,
                col(Booking.end_at) >= now - FEED_PAST,
                col(Booking.status).in_(FEED_STATUSES),
            )
            .order_by(col(Booking.start_at))
        )
        parts = [BookingParts(b, service, tutor, s) for b, service, s in rows]
    return render(parts, now, name=f"{tutor.display_name}: bookings")
