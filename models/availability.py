"""Named weekly hours in one zone, and per-date overrides. Times are wall-clock in the zone."""

from __future__ import annotations

import uuid
from datetime import date, time

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    Time,
    Uuid,
    text,
)
from sqlmodel import Field, SQLModel

from models.base import CreatedAt, id_field


def _fk(target: str) -> Column[uuid.UUID]:
    return Column(Uuid, ForeignKey(target, ondelete="CASCADE"), nullable=False, index=True)


class Schedule(SQLModel, table=True):
    __tablename__ = "schedules"
    __table_args__ = (
        # Exactly one default per tutor: at most one here, at least one by the service code.
        Index(
            "uq_schedules_default",
            "tutor_id",
            unique=True,
            postgresql_where=text("is_default"),
        ),
    )

    id: uuid.UUID = id_field()
    tutor_id: uuid.UUID = Field(sa_column=_fk("tutors.id"))
    name: str = Field(max_length=200)
    time_zone: str = Field(max_length=64)
    is_default: bool = False
    created_at: CreatedAt


class AvailabilityRule(SQLModel, table=True):
    """Weekly hours: weekday 0 = Monday; end 00:00 means midnight at the end of the day."""

    __tablename__ = "availability_rules"

    id: uuid.UUID = id_field()
    schedule_id: uuid.UUID = Field(sa_column=_fk("schedules.id"))
    weekday: int = Field(sa_type=SmallInteger)
    start_time: time = Field(sa_type=Time)
    end_time: time = Field(sa_type=Time)


class AvailabilityOverride(SQLModel, table=True):
    """One date of a schedule: blocked (available false), whole day or a range, or extra hours;
    an available one may set every service's seats (`capacity`) within its times, or for the
    whole date when it has none."""

    __tablename__ = "availability_overrides"
    __table_args__ = (
        Index("ix_availability_overrides_schedule_date", "schedule_id", "on_date"),
        CheckConstraint(
            "capacity IS NULL OR (available AND capacity BETWEEN 1 AND 1000)",
            name="ck_availability_overrides_capacity",
        ),
    )

    id: uuid.UUID = id_field()
    schedule_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("schedules.id", ondelete="CASCADE"), nullable=False)
    )
    on_date: date
    start_time: time | None = Field(default=None, sa_type=Time)
    end_time: time | None = Field(default=None, sa_type=Time)
    available: bool
    capacity: int | None = Field(default=None, sa_type=Integer)
    created_at: CreatedAt
