"""A tutor's students (the roster), each student's record with one tutor, a student's
favorite times (which slots to mark), and who sees a student's phone (their tutors: the roster's
rule, `students_of`).

Who sees what is the role rule (`organizations.managed_tutors`): the roster of a tutor the
caller manages lists the students of every tutor the caller manages (an OWNER or ADMIN: the
whole organization's; a member: their own); a record is the student's own, and their tutor's
(and the tutor's managers'). A record is always with one tutor, even in an organization's roster:
the tutor whose roster it is.

Weeks and wall-clock times are in the tutor's schedule zone: the zone of their default schedule
(the hours every service without one of its own keeps, as booking and the agenda read them), or
the tutor's own when they have none. PostgreSQL turns each start into that zone's wall clock (pure
functions decide the streak and the favorites), so the statements stay the same whatever the
number of students: who the caller manages, the count and the page; then, for all the page's
records at once, who the caller is and four more (counts, attendance marks, completed days,
favorite times).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    Time,
    and_,
    cast,
    extract,
    func,
    or_,
    tuple_,
    union,
)
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import bookings, organizations, people
from domain.errors import InvalidInput
from infra.auth import Identity
from infra.db import Database
from infra.text import unstorable
from models import (
    Booking,
    BookingAction,
    BookingHistory,
    BookingStatus,
    Package,
    Schedule,
    Student,
    Tutor,
)

MAX_PAGE = 100
MAX_SEARCH = 200
# A weekday and time is a favorite from its second booking; a record shows the three most booked.
FAVORITE_BOOKINGS = 2
FAVORITES_SHOWN = 3
WEEK = timedelta(days=7)

Pair = tuple[uuid.UUID, uuid.UUID]  # (student, tutor)
WeekTime = tuple[int, time]  # (weekday, 0 = Monday; wall-clock time)


# ---------------------------------------------------------------- the record, pure


@dataclass(frozen=True)
class FavoriteTime:
    weekday: int
    time: time
    count: int


@dataclass(frozen=True)
class Stats:
    completed: int = 0
    upcoming: int = 0
    no_shows: int = 0
    cancellations: int = 0
    streak_weeks: int = 0
    favorites: tuple[FavoriteTime, ...] = ()
    last_session_at: datetime | None = None
    next_session_at: datetime | None = None

    @property
    def flagged(self) -> bool:
        return self.no_shows >= bookings.FLAG_COUNT or self.cancellations >= bookings.FLAG_COUNT


def streak_weeks(days: Collection[date], today: date) -> int:
    """Consecutive weeks (Monday to Sunday) with one of `days` in them, ending with today's week
    when it has one, else with the week before; 0 when neither has."""
    weeks = {day - timedelta(days=day.weekday()) for day in days}
    week = today - timedelta(days=today.weekday())
    if week not in weeks:
        week -= WEEK
    streak = 0
    while week in weeks:
        streak, week = streak + 1, week - WEEK
    return streak


def top_favorites(counts: Mapping[WeekTime, int]) -> tuple[FavoriteTime, ...]:
    """The most booked weekday-and-times (at least FAVORITE_BOOKINGS each), most booked first,
    then earliest in the week; at most FAVORITES_SHOWN."""
    ranked = sorted(
        (FavoriteTime(day, at, n) for (day, at), n in counts.items() if n >= FAVORITE_BOOKINGS),
        key=lambda f: (-f.count, f.weekday, f.time),
    )
    return tuple(ranked[:FAVORITES_SHOWN])


@dataclass(frozen=True)
class Favorites:
    """A student's favorite times with one tutor, for marking slots."""

    zone: str
    times: frozenset[WeekTime]

    def includes(self, start: datetime) -> bool:
        local = start.astimezone(ZoneInfo(self.zone))
        return (local.weekday(), local.time()) in self.times


# ---------------------------------------------------------------- the statements


# The tutor's schedule zone, and a booking's start on its wall clock, in a query from
# `_zoned` (each booking joined to its tutor and their default schedule).
ZONE = func.coalesce(col(Schedule.time_zone), col(Tutor.time_zone))
LOCAL = func.timezone(ZONE, col(Booking.start_at))
WEEKDAY = extract("isodow", LOCAL)  # 1 = Monday
CLOCK = cast(LOCAL, Time)


def _zoned(*columns: Any) -> Select[Any]:
    return (
        core_select(*columns)
        .select_from(Booking)
        .join(Tutor, col(Tutor.id) == col(Booking.tutor_id))
        .outerjoin(
            Schedule,
            and_(col(Schedule.tutor_id) == col(Booking.tutor_id), col(Schedule.is_default)),
        )
    )


def _held(now: datetime) -> ColumnElement[bool]:
    """Not cancelled: what takes place or took place (`slots.is_blocking`, as SQL)."""
    return or_(
        col(Booking.status).in_(
            (BookingStatus.CONFIRMED, BookingStatus.COMPLETED, BookingStatus.NO_SHOW)
        ),
        and_(
            col(Booking.status) == BookingStatus.PENDING_PAYMENT,
            col(Booking.hold_expires_at) > now,
        ),
    )


def _favorite_counts(now: datetime) -> Select[Any]:
    """Per student, tutor and wall-clock weekday and time, the bookings held there: only those
    booked often enough to be a favorite (the caller narrows it to whom it wants)."""
    pair = (col(Booking.student_id), col(Booking.tutor_id))
    return (
        _zoned(*pair, ZONE, WEEKDAY, CLOCK, func.count())
        .where(_held(now))
        .group_by(*pair, ZONE, WEEKDAY, CLOCK)
        .having(func.count() >= FAVORITE_BOOKINGS)
    )


async def _records(
    session: AsyncSession, pairs: Sequence[Pair], now: datetime
) -> dict[Pair, Stats]:
    """Every pair's record in four statements, however many pairs."""
    wanted = tuple_(col(Booking.student_id), col(Booking.tutor_id)).in_(pairs)
    pair = (col(Booking.student_id), col(Booking.tutor_id))
    upcoming = and_(_held(now), col(Booking.start_at) > now)
    past = and_(_held(now), col(Booking.start_at) <= now)
    counts = await session.exec(  # type: ignore[call-overload]
        core_select(
            *pair,
            func.count().filter(col(Booking.status) == BookingStatus.COMPLETED),
            func.count().filter(upcoming),
            func.max(col(Booking.start_at)).filter(past),
            func.min(col(Booking.start_at)).filter(upcoming),
        )
        .where(wanted)
        .group_by(*pair)
    )
    totals = {(s, t): rest for s, t, *rest in counts}
    marks = await session.exec(  # type: ignore[call-overload]
        core_select(*pair, col(BookingHistory.action), func.count())
        .select_from(Booking)
        .join(BookingHistory, col(BookingHistory.booking_id) == col(Booking.id))
        .join(Student, col(Student.id) == col(Booking.student_id))
        .where(wanted, bookings.attendance_marks(now))
        .group_by(*pair, col(BookingHistory.action))
    )
    marked = {(s, t, action): n for s, t, action, n in marks}
    # The days with a completed session, on the tutor's wall clock (and that zone's today).
    completed = await session.exec(  # type: ignore[call-overload]
        _zoned(*pair, ZONE, cast(LOCAL, Date))
        .where(wanted, col(Booking.status) == BookingStatus.COMPLETED)
        .distinct()
    )
    days: dict[Pair, tuple[str, list[date]]] = {}
    for s, t, zone, day in completed:
        days.setdefault((s, t), (zone, []))[1].append(day)
    favorites: dict[Pair, dict[WeekTime, int]] = defaultdict(dict)
    for s, t, _, weekday, at, n in await session.exec(  # type: ignore[call-overload]
        _favorite_counts(now).where(wanted)
    ):
        favorites[s, t][int(weekday) - 1, at] = n
    found: dict[Pair, Stats] = {}
    for key in pairs:
        done, coming, last, following = totals.get(key, (0, 0, None, None))
        zone, completed_days = days.get(key, ("UTC", []))
        found[key] = Stats(
            completed=done,
            upcoming=coming,
            no_shows=marked.get((*key, BookingAction.NO_SHOW), 0),
            cancellations=marked.get((*key, BookingAction.CANCELLED), 0),
            streak_weeks=streak_weeks(completed_days, now.astimezone(ZoneInfo(zone)).date()),
            favorites=top_favorites(favorites.get(key, {})),
            last_session_at=last,
            next_session_at=following,
        )
    return found


# ---------------------------------------------------------------- reads


async def records(
    db: Database, identity: Identity | None, pairs: Sequence[Pair], now: datetime
) -> dict[Pair, Stats]:
    """The (student, tutor) records the caller may see: the student's own, and the tutor's (the
    tutor's organization's owners and admins too). Missing for any other."""
    if identity is None:
        return {}
    async with db.session() as session:
        tutors = await organizations.managed_tutors(session, identity)
        # Their stored profile, and (before one is stored) the id the claims give it.
        mine = {
            people.student_id_of(identity.sub),
            *await session.exec(select(Student.id).where(Student.user_id == identity.sub)),
        }
        visible = [p for p in pairs if p[1] in tutors or p[0] in mine]
        return await _records(session, visible, now) if visible else {}


async def favorite_times(
    db: Database, identity: Identity | None, tutor_ids: Sequence[uuid.UUID], now: datetime
) -> dict[uuid.UUID, Favorites]:
    """The signed-in student's times with each of these tutors booked at least twice (not
    cancelled), in one statement; none for a tutor they have no such time with."""
    if identity is None:
        return {}
    found: dict[uuid.UUID, tuple[str, set[WeekTime]]] = {}
    async with db.session() as session:
        rows = await session.exec(  # type: ignore[call-overload]
            _favorite_counts(now)
            .join(Student, col(Student.id) == col(Booking.student_id))
            .where(col(Student.user_id) == identity.sub, col(Booking.tutor_id).in_(tutor_ids))
        )
        for _, tutor_id, zone, weekday, at, _ in rows:
            found.setdefault(tutor_id, (zone, set()))[1].add((int(weekday) - 1, at))
    return {t: Favorites(zone, frozenset(times)) for t, (zone, times) in found.items()}


@dataclass(frozen=True)
class Roster:
    students: list[Student]
    total: int
    has_next: bool
    has_previous: bool


def encode_cursor(student: Student) -> str:
    raw = json.dumps([student.display_name, str(student.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        name, key = json.loads(raw)
        if not isinstance(name, str) or unstorable(name) is not None:
            raise ValueError(name)
        return name, uuid.UUID(key)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidInput("Not a cursor from this list", "after") from None


def students_of(tutors: Collection[uuid.UUID]) -> Any:
    """The students of these tutors, as a subquery: whoever booked (anything) or holds a
    package with one of them."""
    return union(
        select(Booking.student_id).where(col(Booking.tutor_id).in_(tutors)),
        select(Package.student_id).where(col(Package.tutor_id).in_(tutors)),
    )


async def phones(
    db: Database, identity: Identity | None, student_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str | None]:
    """Each student's phone, for the student themselves and their tutors (the roster's rule:
    the tutors they booked or hold a package with, and those tutors' organization's owners
    and admins); missing for anyone else."""
    if identity is None:
        return {}
    async with db.session() as session:
        tutors = await organizations.managed_tutors(session, identity)
        seen = col(Student.user_id) == identity.sub
        if tutors:
            seen = or_(seen, col(Student.id).in_(students_of(tutors)))
        rows = await session.exec(
            select(Student.id, Student.phone).where(col(Student.id).in_(student_ids), seen)
        )
        return {student: phone for student, phone in rows}


async def tutor_students(
    db: Database,
    identity: Identity | None,
    tutor_id: uuid.UUID,
    search: str | None,
    first: int,
    after: str | None,
) -> Roster:
    """`first` students after the cursor, by name: those who booked (anything) or hold a
    package with any tutor the caller manages, when the caller manages this tutor; none else."""
    if not 1 <= first <= MAX_PAGE:
        raise InvalidInput(f"first is 1 to {MAX_PAGE}", "first")
    if search is not None and len(search) > MAX_SEARCH:
        raise InvalidInput(f"At most {MAX_SEARCH} characters", "search")
    cursor = _decode_cursor(after) if after else None
    async with db.session() as session:
        tutors = await organizations.managed_tutors(session, identity)
        if tutor_id not in tutors:
            return Roster([], 0, False, False)
        conditions: list[ColumnElement[bool]] = [col(Student.id).in_(students_of(tutors))]
        if search and search.strip():
            conditions.append(people.name_or_email_matches(search.strip()))
        total = (
            await session.exec(select(func.count()).select_from(Student).where(*conditions))
        ).one()
        page = select(Student).where(*conditions)
        if cursor is not None:
            page = page.where(tuple_(col(Student.display_name), col(Student.id)) > tuple_(*cursor))
        rows = list(
            await session.exec(
                page.order_by(col(Student.display_name), col(Student.id)).limit(first + 1)
            )
        )
    return Roster(rows[:first], total, len(rows) > first, cursor is not None)
