"""Bookings, their history, and the idempotency keys that make retries safe.

`block_start`/`block_end` are the time the booking keeps from others, its service's buffers
included, fixed when it was booked; the busy-time query reads them through one index.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Index, Text, UniqueConstraint, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.base import CreatedAt, enum_field, id_field


class BookingStatus(StrEnum):
    """Where a booking stands (the GraphQL enum BookingStatus is this class)."""

    PENDING_PAYMENT = "PENDING_PAYMENT"
    CONFIRMED = "CONFIRMED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    NO_SHOW = "NO_SHOW"
    EXPIRED = "EXPIRED"


class BookingAction(StrEnum):
    """What happened to a booking: its history entries and live events (GraphQL BookingAction)."""

    CREATED = "CREATED"
    CONFIRMED = "CONFIRMED"
    RESCHEDULED = "RESCHEDULED"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"
    NO_SHOW = "NO_SHOW"
    EXPIRED = "EXPIRED"


def _ts(*, nullable: bool = False) -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=nullable)


class Booking(SQLModel, table=True):
    __tablename__ = "bookings"
    __table_args__ = (
        Index("ix_bookings_tutor_block", "tutor_id", "block_start"),
        Index("ix_bookings_student_start", "student_id", "start_at"),
        Index("ix_bookings_tutor_start_id", "tutor_id", "start_at", "id"),
        # The list's CREATED_DESC order, keyset-paged per tutor.
        Index("ix_bookings_tutor_created_id", "tutor_id", "created_at", "id"),
        UniqueConstraint("manage_token_hash", name="uq_bookings_manage_token_hash"),
    )

    id: uuid.UUID = id_field()
    service_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("services.id"), nullable=False, index=True)
    )
    tutor_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("tutors.id"), nullable=False))
    student_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("students.id"), nullable=False))
    status: BookingStatus = enum_field(BookingStatus)
    start_at: datetime = Field(sa_column=_ts())
    end_at: datetime = Field(sa_column=_ts())
    block_start: datetime = Field(sa_column=_ts())
    block_end: datetime = Field(sa_column=_ts())
    hold_expires_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    duration_minutes: int = 60
    student_time_zone: str = Field(default="UTC", max_length=64)
    notes: str | None = Field(default=None, sa_type=Text)
    price_amount_minor: int | None = Field(default=None, sa_type=BigInteger)
    price_currency: str | None = Field(default=None, max_length=3)
    meeting_url: str | None = Field(default=None, sa_type=Text)
    # Paid with package credit: which package, and how much it took (given back on refund).
    package_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(
            Uuid, ForeignKey("packages.id", name="fk_bookings_package_id"), nullable=True
        ),
    )
    package_credit: int | None = None
    # Waiting for or paid by card: the Checkout payment.
    payment_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(
            Uuid,
            ForeignKey("payments.id", name="fk_bookings_payment_id"),
            nullable=True,
            index=True,
        ),
    )
    reschedule_count: int = 0
    reminders_enabled: bool = True
    cancellation_reason: str | None = Field(default=None, sa_type=Text)
    # A guest's secret is shown once; only its SHA-256 is kept.
    manage_token_hash: str | None = Field(default=None, max_length=64)
    # The check-in form was submitted complete (domain/forms.py): its status is SUBMITTED.
    form_submitted_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    # The phone the student or guest gave, as it was when booked (their profile's, for a
    # signed-in student): shown to the tutor and the guest, not changed by later profile edits.
    contact_phone: str | None = Field(default=None, max_length=40)
    created_at: CreatedAt


class LessonNote(SQLModel, table=True):
    """The tutor's note on a booking: one per booking, private unless shared with the student
    (domain/bookings/notes.py)."""

    __tablename__ = "lesson_notes"

    booking_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid, ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    text: str = Field(sa_type=Text)
    shared_with_student: bool = False
    updated_at: datetime = Field(sa_column=_ts())
    # Who wrote it last: the tutor or a manager of theirs (a user id).
    updated_by: str = Field(max_length=255)


class BookingHistory(SQLModel, table=True):
    __tablename__ = "booking_history"

    id: uuid.UUID = id_field()
    booking_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid, ForeignKey("bookings.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    action: BookingAction = enum_field(BookingAction)
    at: datetime = Field(sa_column=_ts())
    actor_id: str | None = Field(default=None, max_length=255)
    reason: str | None = Field(default=None, sa_type=Text)


class IdempotencyKey(SQLModel, table=True):
    """The first answer to (caller, key): a retry gets it again instead of booking twice."""

    __tablename__ = "idempotency_keys"

    owner: str = Field(primary_key=True, max_length=300)
    key: str = Field(primary_key=True, max_length=200)
    request_hash: str = Field(max_length=64)
    booking_ids: list[str] = Field(sa_column=Column(JSONB, nullable=False))
    created_at: CreatedAt
