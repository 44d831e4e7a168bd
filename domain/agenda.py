"""A tutor's calendar over a range, for the owner's side-by-side view: when they are open,
what they blocked, and what is booked. Read-only.

Open and blocked time come from the tutor's default schedule, expanded by the slot engine
(`domain/slots.py`), so an agenda shows exactly the hours a booking page offers. Active bookings
are CONFIRMED ones and PENDING_PAYMENT ones whose hold is still live: a lapsed hold takes no
time (the engine's rule) and is about to expire, so the calendar leaves it out.

Every tutor's agenda is loaded in the same few statements (schedules, rules, overrides,
bookings), however many tutors are asked for.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import slots as engine
from domain.availability import engine_overrides, overrides_of_schedules, rules_of_schedules
from domain.errors import InvalidInput
from domain.organizations import MAX_MEMBERS, managed_tutors
from domain.people import tutor_of_user
from domain.service_rules import MAX_DURATION
from infra.auth import Identity
from infra.db import Database
from models import Booking, BookingStatus, OrganizationMember, Schedule
from models.organizations import MANAGERS

MAX_RANGE = timedelta(days=31)
# What one agenda lists at most (each list's bound for the cost analysis). 31 days of three
# open stretches a day fit; a longer list is cut and the agenda says so (`truncated`).
MAX_OPEN_RANGES = 100
MAX_BLOCKED_RANGES = 40
MAX_BOOKINGS = 200
# A zone is at most 14 hours from UTC: the local dates a range touches lie within a day of its
# UTC dates, and one more on each side covers a range merging across midnight.
DATE_MARGIN = timedelta(days=2)

Range = tuple[datetime, datetime]


@dataclass(frozen=True)
class Agenda:
    tutor_id: uuid.UUID
    open_ranges: list[Range]
    blocked_ranges: list[Range]
    bookings: list[Booking]
    truncated: bool


def check_range(start: datetime, end: datetime) -> None:
    if start > end:
        raise InvalidInput("from must not be after to", "from")
    if end - start > MAX_RANGE:
        raise InvalidInput(f"An agenda covers at most {MAX_RANGE.days} days", "to")


def _clip(ranges: list[Range], start: datetime, end: datetime) -> list[Range]:
    return [(max(a, start), min(b, end)) for a, b in ranges if a < end and b > start]


async def _hours(
    session: AsyncSession, tutor_ids: Sequence[uuid.UUID], start: datetime, end: datetime
) -> dict[uuid.UUID, engine.Hours]:
    """Each tutor's default schedule as the engine reads it, with the range's overrides."""
    schedules = list(
        await session.exec(
            select(Schedule).where(col(Schedule.tutor_id).in_(tutor_ids), col(Schedule.is_default))
        )
    )
    ids = [s.id for s in schedules]
    rules = await rules_of_schedules(session, ids)
    overrides = await overrides_of_schedules(
        session, ids, (start - DATE_MARGIN).date(), (end + DATE_MARGIN).date()
    )
    return {
        s.tutor_id: engine.Hours(
            s.time_zone,
            [engine.Rule(r.weekday, r.start_time, r.end_time) for r in rules.get(s.id, [])],
            engine_overrides(overrides.get(s.id, [])),
        )
        for s in schedules
    }


async def _bookings(
    session: AsyncSession,
    tutor_ids: Sequence[uuid.UUID],
    start: datetime,
    end: datetime,
    now: datetime,
) -> dict[uuid.UUID, list[Booking]]:
    """Each tutor's active bookings overlapping the range by start, one more than the bound
    (to tell a cut list), in one statement for all the tutors."""
    ranked = (
        select(
            Booking,
            func.row_number()
            .over(
                partition_by=col(Booking.tutor_id),
                order_by=(col(Booking.start_at), col(Booking.id)),
            )
            .label("place"),
        )
        .where(
            col(Booking.tutor_id).in_(tutor_ids),
            # The lower bound keeps the index range scan short; the overlap is the real test.
            col(Booking.start_at) > start - timedelta(minutes=MAX_DURATION),
            col(Booking.start_at) < end,
            col(Booking.end_at) > start,
            or_(
                col(Booking.status) == BookingStatus.CONFIRMED,
                and_(
                    col(Booking.status) == BookingStatus.PENDING_PAYMENT,
                    col(Booking.hold_expires_at) > now,
                ),
            ),
        )
        .subquery()
    )
    row = aliased(Booking, ranked)
    found: dict[uuid.UUID, list[Booking]] = {t: [] for t in tutor_ids}
    for booking in await session.exec(
        select(row)
        .where(ranked.c.place <= MAX_BOOKINGS + 1)
        .order_by(ranked.c.start_at, ranked.c.id)
    ):
        found[booking.tutor_id].append(booking)
    return found


async def _agendas(
    session: AsyncSession,
    tutor_ids: Sequence[uuid.UUID],
    start: datetime,
    end: datetime,
    now: datetime,
) -> list[Agenda]:
    hours = await _hours(session, tutor_ids, start, end)
    bookings = await _bookings(session, tutor_ids, start, end, now)
    first, last = (start - DATE_MARGIN).date(), (end + DATE_MARGIN).date()
    agendas = []
    for tutor_id in tutor_ids:
        schedule = hours.get(tutor_id)
        open_ranges, blocked = (
            (
                _clip(engine.available_ranges(schedule, first, last), start, end),
                _clip(engine.blocked_ranges(schedule, first, last), start, end),
            )
            if schedule is not None
            else ([], [])
        )
        booked = bookings[tutor_id]
        truncated = (
            len(open_ranges) > MAX_OPEN_RANGES
            or len(blocked) > MAX_BLOCKED_RANGES
            or len(booked) > MAX_BOOKINGS
        )
        agendas.append(
            Agenda(
                tutor_id,
                open_ranges[:MAX_OPEN_RANGES],
                blocked[:MAX_BLOCKED_RANGES],
                booked[:MAX_BOOKINGS],
                truncated,
            )
        )
    return agendas


async def tutor_agenda(
    db: Database,
    identity: Identity | None,
    tutor_id: uuid.UUID,
    start: datetime,
    end: datetime,
    now: datetime,
) -> Agenda | None:
    """The tutor's agenda, for the tutor and their organization's owners and admins; None
    for everyone else."""
    check_range(start, end)
    async with db.session() as session:
        if tutor_id not in await managed_tutors(session, identity):
            return None
        return (await _agendas(session, [tutor_id], start, end, now))[0]


async def organization_agenda(
    db: Database,
    identity: Identity | None,
    organization_id: uuid.UUID,
    tutor_ids: Sequence[uuid.UUID | None] | None,
    start: datetime,
    end: datetime,
    now: datetime,
) -> list[Agenda]:
    """The agendas of the organization's members the caller may see (owners and admins: every
    member; a member: themselves), in `tutor_ids`' order when given (others left out), else in
    the members' order; empty for outsiders."""
    check_range(start, end)
    if tutor_ids is not None and len(tutor_ids) > MAX_MEMBERS:
        raise InvalidInput(f"At most {MAX_MEMBERS} tutorIds", "tutorIds")
    async with db.session() as session:
        me = await tutor_of_user(session, identity.sub) if identity is not None else None
        members = list(
            await session.exec(
                select(OrganizationMember)
                .where(OrganizationMember.organization_id == organization_id)
                .order_by(col(OrganizationMember.joined_at), col(OrganizationMember.tutor_id))
            )
        )
        mine = next((m for m in members if me is not None and m.tutor_id == me.id), None)
        if mine is None:
            return []
        visible = [m.tutor_id for m in members] if mine.role in MANAGERS else [mine.tutor_id]
        if tutor_ids is not None:
            allowed = set(visible)
            visible = list(dict.fromkeys(t for t in tutor_ids if t in allowed))
        return await _agendas(session, visible, start, end, now)
