"""Tutors' connected calendars, which event there mirrors which booking, the meetings a
provider made for bookings, and the platform's own short-lived provider tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, ForeignKey, Text, Uuid
from sqlmodel import Field, SQLModel

from models.base import CreatedAt, enum_field


class CalendarProvider(StrEnum):
    GOOGLE = "google"
    OUTLOOK = "outlook"


class CalendarLink(SQLModel, table=True):
    """A tutor's calendar (one per tutor: Google Calendar or Outlook): the refresh token the
    platform obtained with the tutor's consent, and the short-lived access token it gives;
    both encrypted (infra.crypto)."""

    __tablename__ = "calendar_links"

    tutor_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("tutors.id", ondelete="CASCADE"), primary_key=True)
    )
    provider: CalendarProvider = enum_field(CalendarProvider)
    calendar_id: str = Field(max_length=300)
    refresh_token: str = Field(sa_type=Text)
    access_token: str | None = Field(default=None, sa_type=Text)
    access_expires_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    created_at: CreatedAt


class SyncedEvent(SQLModel, table=True):
    """Which calendar holds the event mirroring a booking, and the event's id there (ours on
    Google, Microsoft's on Outlook), so a change updates it there and a cancel removes it."""

    __tablename__ = "synced_events"

    booking_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True)
    )
    provider: CalendarProvider = enum_field(CalendarProvider)
    calendar_id: str = Field(max_length=300)
    event_id: str = Field(sa_type=Text)


class ExternalMeeting(SQLModel, table=True):
    """A meeting a provider made for a booking (Zoom), and the times it was made or last moved
    for, so a reschedule moves it and a cancel deletes it."""

    __tablename__ = "external_meetings"

    booking_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True)
    )
    provider: str = Field(max_length=20)
    meeting_id: str = Field(max_length=100)
    start_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    end_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class ProviderToken(SQLModel, table=True):
    """The platform's own access token at a provider (Zoom's account token), encrypted, kept
    until it expires so every worker process uses the same one."""

    __tablename__ = "provider_tokens"

    name: str = Field(primary_key=True, max_length=200)
    access_token: str = Field(sa_type=Text)
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
