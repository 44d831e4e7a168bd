"""Reviews of completed sessions, and each tutor's running totals of them.

A review belongs to one booking (the unique key makes a second one fail, however two requests
race); the totals are kept in the review's own transaction, so a tutor list reads one row per
tutor instead of aggregating the reviews.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    SmallInteger,
    Text,
    Uuid,
)
from sqlmodel import Field, SQLModel

from models.base import CreatedAt, id_field


class Review(SQLModel, table=True):
    __tablename__ = "reviews"
    __table_args__ = (
        # Tutor.reviews: newest first, the id breaking ties (the cursor's order).
        Index("ix_reviews_tutor_created_id", "tutor_id", "created_at", "id"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="ck_reviews_rating"),
    )

    id: uuid.UUID = id_field()
    booking_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid, ForeignKey("bookings.id", ondelete="CASCADE"), nullable=False, unique=True
        )
    )
    tutor_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("tutors.id", ondelete="CASCADE"), nullable=False)
    )
    service_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("services.id", ondelete="CASCADE"), nullable=False)
    )
    rating: int = Field(sa_column=Column(SmallInteger, nullable=False))
    comment: str | None = Field(default=None, sa_type=Text)
    # Shown publicly: the first name and the last name's initial, fixed when it was written.
    author_name: str = Field(max_length=200)
    reply: str | None = Field(default=None, sa_type=Text)
    replied_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    created_at: CreatedAt


class TutorReviewStats(SQLModel, table=True):
    """How many reviews a tutor has and the sum of their ratings: the mean without a scan."""

    __tablename__ = "tutor_review_stats"

    tutor_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid, ForeignKey("tutors.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    review_count: int = 0
    rating_sum: int = 0
