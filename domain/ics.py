"""Calendar files for bookings (RFC 5545), reached through a signed link that needs no session."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import datetime

from icalendar import Calendar, Event

from models import Booking

PRODID = "-//booking-api//bookings//EN"


def signature(secret: str, booking_id: uuid.UUID) -> str:
    """A link's key: valid for this booking only, and only with the server's secret."""
    digest = hmac.new(secret.encode(), f"ics:{booking_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def valid(secret: str, booking_id: uuid.UUID, given: str) -> bool:
    return hmac.compare_digest(signature(secret, booking_id), given)


def render(booking: Booking, service: str, tutor: str, student: str, now: datetime) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    # Stable across reschedules; SEQUENCE tells calendars which version is newer.
    event.add("uid", f"{booking.id}@booking-api")
    event.add("dtstamp", now)
    event.add("dtstart", booking.start_at)
    event.add("dtend", booking.end_at)
    event.add("summary", f"{service} with {tutor}")
    event.add("description", f"{service}: {tutor} and {student}")
    event.add("sequence", booking.reschedule_count)
    event.add("status", "CANCELLED" if booking.status in ("CANCELLED", "EXPIRED") else "CONFIRMED")
    if booking.meeting_url:
        event.add("location", booking.meeting_url)
    calendar.add_component(event)
    ical: bytes = calendar.to_ical()
    return ical
