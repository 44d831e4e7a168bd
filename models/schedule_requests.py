"""Schedule-later requests: a student's wish to take a service before choosing a tutor or a time.

At most one OPEN or ASSIGNED request per student and service: a partial unique index, so two
requests made at once cannot both stand.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, ForeignKey, Index, Text, Uuid, text
from sqlmodel import Field, SQLModel

from models.base import enum_field, id_field


class ScheduleRequestStatus(StrEnum):
    """Where a request stands (the GraphQL enum ScheduleRequestStatus is this class)."""

    OPEN = "OPEN"
    ASSIGNED = "ASSIGNED"
    BOOKED = "BOOKED"
    WITHDRAWN = "WITHDRAWN"


# Requests still waiting: the student's next booking of the service may fulfil them.
PENDING = (ScheduleRequestStatus.OPEN, ScheduleRequestStatus.ASSIGNED)


def _fk(target: str, *, nullable: bool = False, index: bool = True) -> Column[uuid.UUID]:
    return Column(Uuid, ForeignKey(target), nullable=nullable, index=index)


class ScheduleRequest(SQLModel, table=True):
    __tablename__ = "schedule_requests"
    __table_args__ = (
        Index(
            "uq_schedule_requests_pending",
            "student_id",
            "service_id",
            unique=True,
            postgresql_where=text("status IN ('OPEN', 'ASSIGNED')"),
        ),
    )

    id: uuid.UUID = id_field()
    service_id: uuid.UUID = Field(sa_column=_fk("services.id"))
    student_id: uuid.UUID = Field(sa_column=_fk("students.id"))
    # The tutor asked for, then the one assigned, then the one booked; null: any of the
    # service's tutors.
    tutor_id: uuid.UUID | None = Field(default=None, sa_column=_fk("tutors.id", nullable=True))
    status: ScheduleRequestStatus = enum_field(ScheduleRequestStatus, 10)
    note: str | None = Field(default=None, sa_type=Text)
    booking_id: uuid.UUID | None = Field(
        default=None, sa_column=_fk("bookings.id", nullable=True, index=False)
    )
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
