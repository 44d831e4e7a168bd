"""The booking funnel: what visitors of a booking page did, step by step, by visit.

Each event is counted for an owner fixed when it is recorded: its tutor (given, or the only
tutor of its service) and the organization the tutor belonged to then (or the service's).
The funnel query reads one index range per owner: (tutor_id, at) or (organization_id, at),
carrying the columns it aggregates, so a year of one tutor's events is an index-only scan.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, Index, Uuid, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.base import enum_field, id_field

MAX_VISIT_ID = 64
# What the aggregates read besides the owner and the time: in the index, so the heap is not.
_AGGREGATED = ["step", "visit_id", "service_id", "error_type"]


class FunnelStep(StrEnum):
    """A step of the booking page, in the order a visit goes through them (the GraphQL enum
    FunnelStep is this class)."""

    PAGE_VIEW = "PAGE_VIEW"
    TUTOR_SELECTED = "TUTOR_SELECTED"
    DATE_SELECTED = "DATE_SELECTED"
    TIME_SELECTED = "TIME_SELECTED"
    BOOKING_STARTED = "BOOKING_STARTED"
    BOOKING_SUCCEEDED = "BOOKING_SUCCEEDED"
    BOOKING_FAILED = "BOOKING_FAILED"
    SCHEDULE_LATER = "SCHEDULE_LATER"


class FunnelEvent(SQLModel, table=True):
    __tablename__ = "funnel_events"
    __table_args__ = (
        Index(
            "ix_funnel_events_tutor_at",
            "tutor_id",
            "at",
            postgresql_include=_AGGREGATED,
            postgresql_where=text("tutor_id IS NOT NULL"),
        ),
        Index(
            "ix_funnel_events_organization_at",
            "organization_id",
            "at",
            postgresql_include=_AGGREGATED,
            postgresql_where=text("organization_id IS NOT NULL"),
        ),
        # What retention prunes: the oldest first.
        Index("ix_funnel_events_at", "at"),
    )

    id: uuid.UUID = id_field()
    visit_id: str = Field(max_length=MAX_VISIT_ID)
    step: FunnelStep = enum_field(FunnelStep, 20)
    tutor_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(Uuid, ForeignKey("tutors.id", ondelete="CASCADE"), nullable=True),
    )
    # Not a foreign key: an event is history, and services are never deleted under it.
    service_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, nullable=True))
    organization_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=True),
    )
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    # BOOKING_FAILED: the result type the booking answered (SlotUnavailable, ...).
    error_type: str | None = Field(default=None, max_length=40)
    properties: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
