"""Bookings: what the slot engine sees as busy time.

`block_start`/`block_end` are the time the booking keeps from others, its service's buffers
included, fixed when it was booked; the busy-time query reads them through one index.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, Index, Uuid
from sqlmodel import Field, SQLModel

from models.base import created_at_field, id_field

# Statuses that hold time (PENDING_PAYMENT only until its hold expires).
BLOCKING_STATUSES = ("PENDING_PAYMENT", "CONFIRMED", "COMPLETED", "NO_SHOW")


def _ts(*, nullable: bool = False) -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=nullable)


class Booking(SQLModel, table=True):
    __tablename__ = "bookings"
    __table_args__ = (Index("ix_bookings_tutor_block", "tutor_id", "block_start"),)

    id: uuid.UUID = id_field()
    service_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("services.id"), nullable=False, index=True)
    )
    tutor_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("tutors.id"), nullable=False))
    student_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("students.id"), nullable=False, index=True)
    )
    status: str = Field(max_length=20)
    start_at: datetime = Field(sa_column=_ts())
    end_at: datetime = Field(sa_column=_ts())
    block_start: datetime = Field(sa_column=_ts())
    block_end: datetime = Field(sa_column=_ts())
    hold_expires_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    created_at: datetime = created_at_field()
