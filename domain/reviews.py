"""Reviews: a student's rating of a completed session, the tutor's reply, and what the public
reads of them (a tutor's reviews, newest first, and their count and mean).

Who may review is the booking's rule (`bookings.lock_for_change`: its student, or the guest
holding its manage token); who may reply is the role rule (`organizations.manages`: the tutor,
or an owner or admin of their organization). A tutor's count and rating sum are kept in
`tutor_review_stats`, written in the review's transaction, so a list of tutors reads one row
per tutor and never aggregates reviews.
"""

from __future__ import annotations

import base64
import binascii
import json
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from domain import bookings, organizations, webhooks
from domain.errors import InvalidInput, NotFound, Policy, PolicyViolation
from domain.review_requests import REVIEW_WINDOW
from infra.auth import Identity
from infra.db import Database, present
from infra.ids import encode_id
from models import Review, Student, TutorReviewStats, WebhookEventType
from models.bookings import BookingStatus

MAX_COMMENT = 2000
MAX_REPLY = 2000
MAX_PAGE = 50


@dataclass(frozen=True)
class Stats:
    count: int
    rating_sum: int

    @property
    def rating(self) -> float | None:
        return self.rating_sum / self.count if self.count else None


NO_REVIEWS = Stats(0, 0)


def author_name(display_name: str) -> str:
    """The first name and the last name's initial: "Maria Lopez" is "Maria L."; one name is
    shown as it is. The initial keeps its accents (a letter and its combining marks)."""
    names = unicodedata.normalize("NFC", display_name).split()
    if len(names) < 2:
        return names[0] if names else "A student"
    last = names[-1]
    end = 1
    while end < len(last) and unicodedata.combining(last[end]):
        end += 1
    return f"{names[0]} {last[:end]}."


def _text(value: str | None, limit: int, field: str) -> str | None:
    """Plain text, trimmed; empty is none. (Unstorable characters are refused centrally.)"""
    value = value.strip() if value else None
    if value and len(value) > limit:
        raise InvalidInput(f"At most {limit:,} characters", field)
    return value or None


async def submit_review(
    db: Database,
    caller: bookings.Caller,
    booking_id: uuid.UUID | None,
    rating: int,
    comment: str | None,
    now: datetime,
) -> Review:
    """By the booking's student (or guest, by its token), once, for a COMPLETED session,
    within REVIEW_WINDOW of its end. Anyone else is told the booking does not exist."""
    if not 1 <= rating <= 5:
        raise InvalidInput("A rating is 1 to 5", "input.rating")
    comment = _text(comment, MAX_COMMENT, "input.comment")
    async with db.transaction() as session:
        locked = await bookings.lock_for_change(session, caller, booking_id, lock_tutor=False)
        booking = locked.booking
        if locked.as_tutor:
            raise NotFound("No booking of yours to review")
        if booking.status != BookingStatus.COMPLETED:
            raise PolicyViolation(
                f"Only a completed session is reviewed; this one is {booking.status.lower()}",
                Policy.NOT_COMPLETED,
            )
        if now > booking.end_at + REVIEW_WINDOW:
            raise PolicyViolation(
                f"A session is reviewed within {REVIEW_WINDOW.days} days of its end",
                Policy.REVIEW_WINDOW,
            )
        # The booking's lock serializes two submissions; the unique key backs it.
        taken = await session.exec(select(Review.id).where(Review.booking_id == booking.id))
        if taken.first() is not None:
            raise PolicyViolation("This session is reviewed already", Policy.ALREADY_REVIEWED)
        student = present(await session.get(Student, booking.student_id), "booking's student")
        review = Review(
            booking_id=booking.id,
            tutor_id=booking.tutor_id,
            service_id=booking.service_id,
            rating=rating,
            comment=comment,
            author_name=author_name(student.display_name),
            created_at=now,
        )
        session.add(review)
        await session.exec(
            insert(TutorReviewStats)
            .values(tutor_id=booking.tutor_id, review_count=1, rating_sum=rating)
            .on_conflict_do_update(
                index_elements=["tutor_id"],
                set_={
                    "review_count": TutorReviewStats.review_count + 1,
                    "rating_sum": TutorReviewStats.rating_sum + rating,
                },
            )
        )
        data = await webhooks.booking_data(session, booking)
        data["review"] = {
            "id": encode_id("Review", review.id),
            "rating": rating,
            "comment": comment,
            "authorName": review.author_name,
        }
        await webhooks.emit(
            session, [booking.tutor_id], WebhookEventType.REVIEW_SUBMITTED, data, now, booking.id
        )
    return review


async def reply_to_review(
    db: Database, identity: Identity, review_id: uuid.UUID, reply: str, now: datetime
) -> Review:
    """The tutor's public answer (an organization's owner or admin may give it for them); a
    second reply replaces the first."""
    text = _text(reply, MAX_REPLY, "input.reply")
    if text is None:
        raise InvalidInput("Write a reply", "input.reply")
    async with db.transaction() as session:
        query = select(Review).where(Review.id == review_id).with_for_update()
        review = (await session.exec(query)).first()
        if review is None or not await organizations.manages(session, identity, review.tutor_id):
            raise NotFound("No such review")
        review.reply, review.replied_at = text, now
        session.add(review)
    return review


# ---------------------------------------------------------------- reads (all public)


async def reviews_by_id(db: Database, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Review]:
    async with db.session() as session:
        return {r.id: r for r in await session.exec(select(Review).where(col(Review.id).in_(ids)))}


async def reviews_of_bookings(
    db: Database, booking_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Review]:
    async with db.session() as session:
        rows = await session.exec(select(Review).where(col(Review.booking_id).in_(booking_ids)))
        return {r.booking_id: r for r in rows}


async def stats_of_tutors(db: Database, tutor_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Stats]:
    async with db.session() as session:
        rows = await session.exec(
            select(TutorReviewStats).where(col(TutorReviewStats.tutor_id).in_(tutor_ids))
        )
        return {s.tutor_id: Stats(s.review_count, s.rating_sum) for s in rows}


@dataclass(frozen=True)
class Page:
    reviews: list[Review]
    total: int
    has_next: bool
    has_previous: bool


def encode_cursor(review: Review) -> str:
    raw = json.dumps([review.created_at.isoformat(), str(review.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, key = json.loads(raw)
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError(at)
        return moment, uuid.UUID(key)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidInput("Not a cursor from this list", "after") from None


async def tutor_reviews(db: Database, tutor_id: uuid.UUID, first: int, after: str | None) -> Page:
    """`first` reviews of the tutor after the cursor, newest first."""
    if not 1 <= first <= MAX_PAGE:
        raise InvalidInput(f"first is 1 to {MAX_PAGE}", "first")
    cursor = _decode_cursor(after) if after else None
    async with db.session() as session:
        stats = await session.get(TutorReviewStats, tutor_id)
        query = select(Review).where(Review.tutor_id == tutor_id)
        if cursor is not None:
            query = query.where(tuple_(col(Review.created_at), col(Review.id)) < tuple_(*cursor))
        query = query.order_by(col(Review.created_at).desc(), col(Review.id).desc())
        rows = list(await session.exec(query.limit(first + 1)))
    total = stats.review_count if stats is not None else 0
    return Page(rows[:first], total, len(rows) > first, cursor is not None)
