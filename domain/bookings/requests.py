"""What callers ask of bookings and what they get back, and the limits on what they may ask."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.errors import InvalidInput
from domain.forms import AnswerInput
from domain.funnel import Visit
from infra.auth import Identity
from models import Booking

MAX_SLOTS = 20
MAX_TEXT = 2000
ALTERNATIVES = 5
ACTIVE = ("PENDING_PAYMENT", "CONFIRMED")


@dataclass(frozen=True)
class Guest:
    name: str
    email: str
    phone: str | None = None


@dataclass(frozen=True)
class SlotChoice:
    start: datetime
    duration_minutes: int | None = None


@dataclass(frozen=True)
class BookingRequest:
    service_id: uuid.UUID
    tutor_id: uuid.UUID | None  # None: round robin chooses
    slots: Sequence[SlotChoice]
    time_zone: str
    notes: str | None = None
    guest: Guest | None = None
    student_id: uuid.UUID | None = None
    package_id: uuid.UUID | None = None
    idempotency_key: str | None = None
    reminders_enabled: bool = True
    # createBooking names its fields input.start; createBookings input.slots.N.start.
    single: bool = True
    answers: Sequence[AnswerInput] | None = None  # the check-in form's (domain/forms.py)
    # The funnel visit whose outcome the booking records (not part of what is booked).
    visit: Visit | None = None

    def field(self, index: int, name: str) -> str:
        return f"input.{name}" if self.single else f"input.slots.{index}.{name}"

    def fingerprint(self) -> str:
        body: dict[str, object] = {
            "service": str(self.service_id),
            "tutor": str(self.tutor_id) if self.tutor_id else None,
            "slots": [[s.start.isoformat(), s.duration_minutes] for s in self.slots],
            "zone": self.time_zone,
            "notes": self.notes,
            "guest": [self.guest.name, self.guest.email, self.guest.phone] if self.guest else None,
            "student": str(self.student_id) if self.student_id else None,
            "package": str(self.package_id) if self.package_id else None,
        }
        if self.answers is not None:  # absent otherwise: keys stored before forms still match
            body["answers"] = [[str(a.question_id), list(a.values)] for a in self.answers]
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass
class Booked:
    bookings: list[Booking]
    manage_token: str | None = None


@dataclass(frozen=True)
class Cancelled:
    booking: Booking
    refund_kind: str
    refund_amount: int


@dataclass(frozen=True)
class Caller:
    """Who asks: a signed-in user, or a guest holding a booking's manage token."""

    identity: Identity | None = None
    token: str | None = None

    @property
    def actor(self) -> str | None:
        return self.identity.sub if self.identity else None


def checked_text(value: str | None, field_name: str) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value) > MAX_TEXT:
        raise InvalidInput(f"At most {MAX_TEXT} characters", field_name)
    return value.strip()


def clipped_text(value: str | None) -> str | None:
    """For results with no InvalidInput member (cancel, attendance): keep the first part."""
    return value.strip()[:MAX_TEXT] or None if value else None
