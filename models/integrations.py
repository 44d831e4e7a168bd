"""Tutors' connected calendars, and which event there mirrors which booking."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, Text, Uuid
from sqlmodel import Field, SQLModel

from models.base import created_at_field


class CalendarLink(SQLModel, table=True):
    """A tutor's Google Calendar: the refresh token the platform obtained with the tutor's
    consent, and the short-lived access token it gives; both encrypted (infra.crypto)."""

    __tablename__ = "calendar_links"

    tutor_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("tutors.id", ondelete="CASCADE"), primary_key=True)
    )
    provider: str = Field(default="google", max_length=20)
    calendar_id: str = Field(max_length=300)
    refresh_token: str = Field(sa_type=Text)
    access_token: str | None = Field(default=None, sa_type=Text)
    access_expires_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    created_at: datetime = created_at_field()


class SyncedEvent(SQLModel, table=True):
    """Which calendar holds the event mirroring a booking (its id is derived from the
    booking's), so a change updates it there and a cancel removes it."""

    __tablename__ = "synced_events"

    booking_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True)
    )
    calendar_id: str = Field(max_length=300)
