"""Bookable offerings: their rules, the lengths (and prices) offered, and who offers them."""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.base import CreatedAt, id_field

# A custom length is all of min, max and step, or none of them.
CUSTOM_DURATION_WHOLE = (
    "(custom_min_minutes IS NULL) = (custom_max_minutes IS NULL) "
    "AND (custom_min_minutes IS NULL) = (custom_step_minutes IS NULL)"
)


class Service(SQLModel, table=True):
    __tablename__ = "services"
    __table_args__ = (CheckConstraint(CUSTOM_DURATION_WHOLE, name="ck_services_custom_duration"),)

    id: uuid.UUID = id_field()
    title: str = Field(max_length=200)
    kind: str = Field(max_length=16)
    schedule_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(Uuid, ForeignKey("schedules.id", ondelete="SET NULL"), nullable=True),
    )
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    capacity: int = 1
    slot_interval_minutes: int = 15
    minimum_notice_minutes: int = 0
    booking_window_days: int = 60
    cancellation_notice_hours: int = 0
    reschedule_notice_hours: int = 0
    max_reschedules: int | None = None
    requires_package: bool = False
    monthly_free_allowance: int = 0
    enrollment_required: bool = False
    # Reminder rules, [{"minutes": 60, "student": true, "tutor": false}, ...]; null: the
    # defaults (domain/reminders.py). One JSONB column, not a child table: at most 5 rules,
    # always read and replaced whole with the service, and expanded in SQL
    # (jsonb_to_recordset) by the one statement that schedules reminders.
    reminder_rules: list[dict[str, int | bool]] | None = Field(
        default=None, sa_column=Column(JSONB(none_as_null=True), nullable=True)
    )
    # Each confirmed booking gets a video meeting link (MEETING_URL_TEMPLATE).
    meeting_links: bool = False
    # Set: an organization service (its tutors are members, named by an owner or admin);
    # null: a tutor's own service, with that tutor alone.
    organization_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(Uuid, ForeignKey("organizations.id"), nullable=True, index=True),
    )
    # Any length from min to max in steps of step (domain/custom_durations.py), priced per hour
    # pro rata when a price is set; null: only the listed durations.
    custom_min_minutes: int | None = None
    custom_max_minutes: int | None = None
    custom_step_minutes: int | None = None
    custom_price_per_hour_minor: int | None = Field(default=None, sa_type=BigInteger)
    custom_price_currency: str | None = Field(default=None, max_length=3)
    created_at: CreatedAt


class ServiceDuration(SQLModel, table=True):
    """A length the service offers; position keeps the tutor's order (the first is the default)."""

    __tablename__ = "service_durations"

    service_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid, ForeignKey("services.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    minutes: int = Field(primary_key=True)
    position: int
    price_amount_minor: int | None = Field(default=None, sa_type=BigInteger)
    price_currency: str | None = Field(default=None, max_length=3)


class ServiceTutor(SQLModel, table=True):
    __tablename__ = "service_tutors"

    service_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid, ForeignKey("services.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    tutor_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid,
            ForeignKey("tutors.id", ondelete="CASCADE"),
            primary_key=True,
            nullable=False,
            index=True,
        )
    )
    position: int
