"""Who books and who is booked. A user (the token's `sub`) may be a tutor, a student, or both."""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import Column, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.base import CreatedAt, id_field


def new_feed_token() -> str:
    """A calendar feed secret: made with the tutor, so reading the feed URL never writes."""
    return secrets.token_urlsafe(32)


class Tutor(SQLModel, table=True):
    __tablename__ = "tutors"

    id: uuid.UUID = id_field()
    user_id: str = Field(unique=True, max_length=255)
    display_name: str = Field(max_length=200)
    time_zone: str = Field(max_length=64)
    # Where booking emails and the daily summary go; none sent while unset.
    email: str | None = Field(default=None, max_length=320)
    # A student's package at or below this balance gets a low-balance email.
    low_balance_threshold: int = 2
    # The secret in the tutor's calendar feed URL; rotating it cuts off old subscribers.
    calendar_feed_token: str = Field(default_factory=new_feed_token, max_length=64, unique=True)
    # A calendar is connected (a calendar_links row): read from the row a booking already holds,
    # so bookings of tutors without one write no calendar jobs.
    calendar_connected: bool = False
    # The public profile (domain/profiles.py checks them): plain text, and an https picture.
    bio: str | None = Field(default=None, sa_type=Text)
    avatar_url: str | None = Field(default=None, max_length=500)
    # Exact origins (https://host[:port], normalized) that may frame this tutor's booking widget.
    embed_origins: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSONB, nullable=False, server_default="[]"),
    )
    created_at: CreatedAt


class Student(SQLModel, table=True):
    """A signed-in student (user_id set) or a guest who booked without an account (user_id null)."""

    __tablename__ = "students"

    id: uuid.UUID = id_field()
    user_id: str | None = Field(default=None, unique=True, max_length=255)
    display_name: str = Field(max_length=200)
    email: str = Field(max_length=320, index=True)
    time_zone: str | None = Field(default=None, max_length=64)
    # E.164 (domain/people.py clean_phone); rows from before 0018 may hold what a guest typed.
    phone: str | None = Field(default=None, max_length=40)
    created_at: CreatedAt
