"""Reading bookings: the paginated list, loaders, history and attendance flags.

Each shows only what the caller may see (`access.py`): a booking to its tutor (and the owners
and admins of the tutor's organization) and its student; a guest sees theirs through its manage
token only. A student profile is seen by whoever may see one of their bookings.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, UnaryExpression, and_, exists, func, or_, tuple_
from sqlalchemy.orm import Mapped
from sqlmodel import col, select

from domain import organizations, people, spans
from domain.bookings.access import BookingAccess, access_of, token_hash
from domain.bookings.requests import ACTIVE
from domain.errors import InvalidInput
from infra.auth import Identity
from infra.db import Database, present
from models import AvailabilityOverride, Booking, BookingHistory, Schedule, Student

MAX_PAGE = 100
MAX_IDS = 100  # BookingFilter.ids: the rows a dashboard has selected
FLAG_WINDOW = timedelta(days=90)
FLAG_COUNT = 3


@dataclass(frozen=True)
class BookingFilter:
    tutor_id: uuid.UUID | None = None
    student_id: uuid.UUID | None = None
    # Its members' bookings, of those the caller may see (every member's, for a manager).
    organization_id: uuid.UUID | None = None
    statuses: Sequence[str] | None = None
    range: str = "ALL"
    start_from: datetime | None = None
    start_to: datetime | None = None
    search: str | None = None
    # Only these bookings (of those the caller may see).
    ids: Sequence[uuid.UUID] | None = None


class BookingOrder(StrEnum):
    START_ASC = "START_ASC"
    START_DESC = "START_DESC"
    CREATED_DESC = "CREATED_DESC"


def keyset(order: BookingOrder) -> tuple[tuple[Mapped[Any], ...], bool]:
    """An order's sort key, the id breaking ties, and whether it runs descending."""
    moment = Booking.created_at if order is BookingOrder.CREATED_DESC else Booking.start_at
    return (col(moment), col(Booking.id)), order is not BookingOrder.START_ASC


def sorting(order: BookingOrder, backward: bool = False) -> list[UnaryExpression[Any]]:
    """ORDER BY for `order` (reversed, walking backward)."""
    key, descending = keyset(order)
    return [c.desc() if descending != backward else c.asc() for c in key]


@dataclass(frozen=True)
class Page:
    rows: list[Booking]
    total: int
    has_next: bool
    has_previous: bool


async def visible_bookings(
    db: Database, identity: Identity | None, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Booking]:
    async with db.session() as session:
        access = await access_of(session, identity)
        rows = await session.exec(
            select(Booking).where(col(Booking.id).in_(ids), access.condition())
        )
        return {b.id: b for b in rows}


async def visible_student(
    db: Database, identity: Identity | None, student_id: uuid.UUID, now: datetime
) -> Student | None:
    """A student profile: the student's own, or one whose bookings the viewer may see (their
    tutor's, and the tutor's organization's owners and admins), with its email."""
    own = await people.visible_student(db, identity, student_id, now)
    if own is not None or identity is None:
        return own
    async with db.session() as session:
        access = await access_of(session, identity)
        seen = select(Booking.id).where(Booking.student_id == student_id, access.condition())
        return (
            await session.exec(select(Student).where(Student.id == student_id, exists(seen)))
        ).first()


async def booking_by_token(db: Database, token: str) -> Booking | None:
    if not token or len(token) > 200:
        return None
    async with db.session() as session:
        query = select(Booking).where(Booking.manage_token_hash == token_hash(token))
        return (await session.exec(query)).first()


def encode_cursor(booking: Booking, order: BookingOrder = BookingOrder.START_ASC) -> str:
    """The booking's place in `order`: the order's name, its sort key and its id."""
    moment = booking.created_at if order is BookingOrder.CREATED_DESC else booking.start_at
    raw = json.dumps([order.value, moment.isoformat(), str(booking.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(
    cursor: str, order: BookingOrder, field: str = "after"
) -> tuple[datetime, uuid.UUID]:
    """A cursor's (sort key, id); one made for another order is refused, not misread."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        name, moment, key = json.loads(raw)
        decoded = datetime.fromisoformat(moment), uuid.UUID(key)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidInput("Not a cursor from this list", field) from None
    if name != order.value:
        raise InvalidInput("A cursor from this list in another order", field)
    return decoded


def check_filter(where: BookingFilter) -> None:
    if where.search is not None and len(where.search) > 200:
        raise InvalidInput("At most 200 characters", "filter.search")
    if where.ids is not None and len(where.ids) > MAX_IDS:
        raise InvalidInput(f"At most {MAX_IDS} ids", "filter.ids")


def matching(
    access: BookingAccess, where: BookingFilter, now: datetime
) -> list[ColumnElement[bool]]:
    """The bookings a list shows: those the filter matches that the caller may see (the list
    and the CSV export ask this one function)."""
    conditions: list[ColumnElement[bool]] = [access.condition()]
    if where.ids is not None:
        conditions.append(col(Booking.id).in_(where.ids))
    if where.tutor_id is not None:
        conditions.append(col(Booking.tutor_id) == where.tutor_id)
    if where.student_id is not None:
        conditions.append(col(Booking.student_id) == where.student_id)
    if where.organization_id is not None:
        members = organizations.member_ids(where.organization_id)
        conditions.append(col(Booking.tutor_id).in_(members))
    if where.statuses:
        conditions.append(col(Booking.status).in_(where.statuses))
    if where.range == "UPCOMING":
        conditions.append(col(Booking.start_at) >= now)
    elif where.range == "PAST":
        conditions.append(col(Booking.start_at) < now)
    if where.start_from is not None:
        conditions.append(col(Booking.start_at) >= where.start_from)
    if where.start_to is not None:
        conditions.append(col(Booking.start_at) < where.start_to)
    if where.search and where.search.strip():
        matches = select(Student.id).where(people.name_or_email_matches(where.search.strip()))
        conditions.append(col(Booking.student_id).in_(matches))
    return conditions


async def list_bookings(
    db: Database,
    identity: Identity,
    where: BookingFilter,
    first: int,
    after: str | None,
    now: datetime,
    backward: bool = False,
    order: BookingOrder = BookingOrder.START_ASC,
) -> Page:
    """`first` bookings after the cursor `after` in `order`; backward (Relay's last/before),
    the `first` bookings just before the cursor, still in that order."""
    size_field, cursor_field = ("last", "before") if backward else ("first", "after")
    if not 1 <= first <= MAX_PAGE:
        raise InvalidInput(f"{size_field} is 1 to {MAX_PAGE}", size_field)
    check_filter(where)
    cursor = decode_cursor(after, order, cursor_field) if after else None
    async with db.session() as session:
        conditions = matching(await access_of(session, identity), where, now)
        total = (
            await session.exec(select(func.count()).select_from(Booking).where(*conditions))
        ).one()
        # (sort key, id) is the keyset; backward walks the same order from the cursor towards
        # the start.
        columns, descending = keyset(order)
        key = tuple_(*columns)
        page = select(Booking).where(*conditions)
        if cursor is not None:
            before = descending != backward
            page = page.where(key < tuple_(*cursor) if before else key > tuple_(*cursor))
        rows = list(await session.exec(page.order_by(*sorting(order, backward)).limit(first + 1)))
    more, cursor_given = len(rows) > first, cursor is not None
    if backward:
        return Page(rows[:first][::-1], total, cursor_given, more)
    return Page(rows[:first], total, more, cursor_given)


async def history_of(
    db: Database, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[BookingHistory]]:
    async with db.session() as session:
        rows = await session.exec(
            select(BookingHistory)
            .where(col(BookingHistory.booking_id).in_(ids))
            .order_by(col(BookingHistory.at), col(BookingHistory.id))
        )
        found: dict[uuid.UUID, list[BookingHistory]] = defaultdict(list)
        for row in rows:
            found[row.booking_id].append(row)
    # Same instant (bookings made before one entry per change were created, then confirmed,
    # at once): the order they were written in.
    order = {"CREATED": 0, "CONFIRMED": 1}
    for entries in found.values():
        entries.sort(key=lambda e: (e.at, order.get(e.action, 2)))
    return found


async def students_by_id(db: Database, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Student]:
    async with db.session() as session:
        return {
            s.id: s for s in await session.exec(select(Student).where(col(Student.id).in_(ids)))
        }


def attendance_marks(now: datetime) -> ColumnElement[bool]:
    """The history entries the attendance flag counts, by action: no-shows, and cancellations
    the student made, in the 90 days before `now` (the query joins the booking's Student)."""
    return and_(
        col(BookingHistory.at) >= now - FLAG_WINDOW,
        or_(
            col(BookingHistory.action) == "NO_SHOW",
            and_(
                col(BookingHistory.action) == "CANCELLED",
                # A guest (no account) or the student themself; not the tutor.
                or_(
                    col(BookingHistory.actor_id).is_(None),
                    col(BookingHistory.actor_id) == col(Student.user_id),
                ),
            ),
        ),
    )


async def attendance_flags(
    db: Database, identity: Identity | None, student_ids: Sequence[uuid.UUID], now: datetime
) -> dict[uuid.UUID, bool | None]:
    """For each student: flagged or not, when the viewer is one of their tutors (or manages
    one); else None.

    Flagged: 3 or more no-shows, or 3 or more cancellations the student made, in 90 days."""
    async with db.session() as session:
        access = await access_of(session, identity)
        if not access.tutor_ids:
            return {}
        theirs = set(
            await session.exec(
                select(Booking.student_id)
                .where(
                    col(Booking.student_id).in_(student_ids),
                    col(Booking.tutor_id).in_(access.tutor_ids),
                )
                .distinct()
            )
        )
        if not theirs:
            return {}
        counts = await session.exec(
            select(Booking.student_id, BookingHistory.action, func.count())
            .join(BookingHistory, col(BookingHistory.booking_id) == col(Booking.id))
            .join(Student, col(Student.id) == col(Booking.student_id))
            .where(col(Booking.student_id).in_(theirs), attendance_marks(now))
            .group_by(col(Booking.student_id), col(BookingHistory.action))
        )
        flagged = {student for student, _, count in counts if count >= FLAG_COUNT}
    return {s: s in flagged for s in theirs}


async def conflicting_bookings(db: Database, override: AvailabilityOverride) -> list[Booking]:
    """Active bookings in the time a blocking override takes away (none for extra hours)."""
    if override.available:
        return []
    async with db.session() as session:
        schedule = present(await session.get(Schedule, override.schedule_id), "schedule")
        start, end = spans.local_span(
            override.on_date,
            override.start_time or time(0),
            override.end_time or time(0),
            schedule.time_zone,
        )
        rows = await session.exec(
            select(Booking)
            .where(
                Booking.tutor_id == schedule.tutor_id,
                col(Booking.status).in_(ACTIVE),
                Booking.start_at < end,
                Booking.end_at > start,
            )
            .order_by(col(Booking.start_at))
        )
        return list(rows)
