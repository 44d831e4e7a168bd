"""availableSlots: load what the engine needs in a constant number of queries, then ask it.

Queries per search: the service (3: row, lengths, tutors), the tutors, their schedules, the rules,
the overrides and the busy time of the range; the overrides and busy time once more for every
93 days nextAvailable has to look past the range. Never one per day, per tutor or per slot.

Work is bounded: the engine makes at most MAX_SLOTS_FOUND + 1 slots of the range (more asks for a
narrower range) and one of each stretch looked past it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, true
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import slots as engine
from domain.availability import overrides_of_schedules, rules_of_schedules
from domain.errors import InvalidInput, NotFound
from domain.services import ServiceInfo, services_info
from infra.db import Database
from models import Booking, Schedule, ServiceDuration, Tutor

MAX_RANGE = timedelta(days=93)
# The most free slots a search answers with; past this it asks for a narrower range.
MAX_SLOTS_FOUND = 10_000
# Busy time is read with a margin: a slot's span reaches past the range by its buffers and
# length, and a booking's block can start well before the span it overlaps.
MARGIN = timedelta(days=2)
LONGEST_BLOCK = timedelta(days=3)


TutorSlot = tuple[uuid.UUID, engine.Slot]


@dataclass(frozen=True)
class SlotSearchResult:
    service: ServiceInfo
    duration: ServiceDuration
    tutors: dict[uuid.UUID, Tutor]
    slots: list[TutorSlot]
    next_available: TutorSlot | None


@dataclass(frozen=True)
class _Calendar:
    """Each searched tutor's hours, and what loads them for a range."""

    schedules: dict[uuid.UUID, Schedule]  # tutor -> the schedule used
    rules: dict[uuid.UUID, list[engine.Rule]]  # schedule -> weekly rules


def offer_of(info: ServiceInfo, minutes: int) -> engine.Offer:
    row = info.row
    return engine.Offer(
        service_id=row.id,
        duration_minutes=minutes,
        interval_minutes=row.slot_interval_minutes,
        buffer_before_minutes=row.buffer_before_minutes,
        buffer_after_minutes=row.buffer_after_minutes,
        capacity=row.capacity,
        notice_minutes=row.minimum_notice_minutes,
        window_days=row.booking_window_days,
    )


def choose_duration(info: ServiceInfo, minutes: int | None, field: str) -> ServiceDuration:
    if minutes is None:
        return info.durations[0]
    for option in info.durations:
        if option.minutes == minutes:
            return option
    offered = ", ".join(str(d.minutes) for d in info.durations)
    raise InvalidInput(
        f"This service is not offered for {minutes} minutes (offered: {offered})", field
    )


async def _calendar(
    session: AsyncSession, info: ServiceInfo, tutor_ids: Sequence[uuid.UUID]
) -> _Calendar:
    """The service's own schedule for its tutor; every other tutor's default schedule."""
    conditions: list[ColumnElement[bool]] = [
        col(Schedule.tutor_id).in_(tutor_ids) & col(Schedule.is_default)
    ]
    if info.row.schedule_id is not None:
        conditions.append(col(Schedule.id) == info.row.schedule_id)
    chosen: dict[uuid.UUID, Schedule] = {}
    for schedule in await session.exec(select(Schedule).where(or_(*conditions))):
        if schedule.tutor_id not in tutor_ids:
            continue
        if schedule.id == info.row.schedule_id or schedule.tutor_id not in chosen:
            chosen[schedule.tutor_id] = schedule
    rules = await rules_of_schedules(session, [s.id for s in chosen.values()])
    return _Calendar(
        schedules=chosen,
        rules={
            sid: [engine.Rule(r.weekday, r.start_time, r.end_time) for r in rows]
            for sid, rows in rules.items()
        },
    )


async def load_busy(
    session: AsyncSession,
    tutor_ids: Sequence[uuid.UUID],
    start: datetime,
    end: datetime,
    exclude: uuid.UUID | None = None,
) -> dict[uuid.UUID, list[engine.Busy]]:
    """Each tutor's bookings that may block [start, end) (the margin included); `exclude` leaves
    out a booking being moved."""
    low, high = start - MARGIN, end + MARGIN
    # Plain columns, not ORM objects: a busy month can be thousands of rows (5,000 rows: 60 ms
    # as objects, 15 ms as tuples). SQLModel's exec() has no typed overload for six columns.
    rows = await session.exec(  # type: ignore[call-overload]
        core_select(
            col(Booking.tutor_id),
            col(Booking.block_start),
            col(Booking.block_end),
            col(Booking.service_id),
            col(Booking.status),
            col(Booking.hold_expires_at),
        ).where(
            col(Booking.tutor_id).in_(tutor_ids),
            col(Booking.status).in_(engine.BLOCKING),
            # The first bound keeps the index range scan short; the second is the real test.
            col(Booking.block_start) > low - LONGEST_BLOCK,
            col(Booking.block_start) < high,
            col(Booking.block_end) > low,
            col(Booking.id) != exclude if exclude is not None else true(),
        )
    )
    found: dict[uuid.UUID, list[engine.Busy]] = {t: [] for t in tutor_ids}
    for tutor_id, *busy in rows:
        found[tutor_id].append(engine.Busy(*busy))
    return found


async def _search(
    session: AsyncSession,
    calendar: _Calendar,
    offer: engine.Offer,
    tutor_ids: Sequence[uuid.UUID],
    start: datetime,
    end: datetime,
    now: datetime,
    limit: int,
) -> list[TutorSlot]:
    hours = await _hours(session, calendar, start, end)
    busy = await load_busy(session, tutor_ids, start, end)
    calendars = [(t, hours[t], busy[t]) for t in tutor_ids if t in hours]
    return engine.free_slots_of(calendars, offer, start=start, end=end, now=now, limit=limit)


async def _hours(
    session: AsyncSession, calendar: _Calendar, start: datetime, end: datetime
) -> dict[uuid.UUID, engine.Hours]:
    """Each tutor's hours around [start, end): weekly rules plus that stretch's overrides."""
    schedules = calendar.schedules
    overrides = await overrides_of_schedules(
        session, [s.id for s in schedules.values()], (start - MARGIN).date(), (end + MARGIN).date()
    )
    return {
        tutor_id: engine.Hours(
            schedule.time_zone,
            calendar.rules.get(schedule.id, []),
            [
                engine.Override(o.on_date, o.start_time, o.end_time, o.available)
                for o in overrides.get(schedule.id, [])
            ],
        )
        for tutor_id, schedule in schedules.items()
    }


async def tutor_hours(
    session: AsyncSession, info: ServiceInfo, tutor_id: uuid.UUID, start: datetime, end: datetime
) -> engine.Hours | None:
    """One tutor's hours for this service around [start, end); None without a schedule."""
    calendar = await _calendar(session, info, [tutor_id])
    return (await _hours(session, calendar, start, end)).get(tutor_id)


async def search_slots(
    db: Database,
    service_id: uuid.UUID,
    tutor_id: uuid.UUID | None,
    duration_minutes: int | None,
    start: datetime,
    end: datetime,
    now: datetime,
) -> SlotSearchResult:
    if end <= start:
        raise InvalidInput("to must be after from", "input.to")
    if end - start > MAX_RANGE:
        raise InvalidInput("A search covers at most 93 days", "input.to")
    async with db.session() as session:
        info = (await services_info(session, [service_id])).get(service_id)
        if info is None:
            raise NotFound("No such service")
        duration = choose_duration(info, duration_minutes, "input.durationMinutes")
        if tutor_id is not None and tutor_id not in info.tutor_ids:
            raise InvalidInput("That tutor does not offer this service", "input.tutorId")
        tutor_ids = [tutor_id] if tutor_id is not None else info.tutor_ids
        tutors = {
            t.id: t for t in await session.exec(select(Tutor).where(col(Tutor.id).in_(tutor_ids)))
        }
        calendar = await _calendar(session, info, tutor_ids)
        offer = offer_of(info, duration.minutes)
        found = await _search(
            session, calendar, offer, tutor_ids, start, end, now, MAX_SLOTS_FOUND + 1
        )
        if len(found) > MAX_SLOTS_FOUND:
            raise InvalidInput(
                f"More than {MAX_SLOTS_FOUND:,} free slots between from and to: ask for a "
                "narrower range",
                "input.to",
            )
        next_available = found[0] if found else None
        # Past the range, up to the booking window (two years at most), a stretch at a time:
        # the first free slot ends the search, and each stretch is a short run of the engine.
        window_end = now + timedelta(days=offer.window_days, seconds=1)
        cursor = max(end, now)
        while next_available is None and cursor < window_end:
            stretch_end = min(cursor + MAX_RANGE, window_end)
            later = await _search(session, calendar, offer, tutor_ids, cursor, stretch_end, now, 1)
            next_available = later[0] if later else None
            cursor = stretch_end
    return SlotSearchResult(info, duration, tutors, found, next_available)
