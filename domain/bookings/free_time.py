"""Is this time free for this caller: what listing and booking both load, and ask the engine.

Listing (`domain/slot_search.py`) and every booking write load a tutor's hours (schedule, weekly
rules, that stretch's overrides) and busy time here, and turn a service into the engine's
`Offer` here; `domain/slots.py` alone decides. A write re-checks under its locks (`FreeTime`),
and adds what only it must: the student's other bookings, and the bookings it makes itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, String, true, type_coerce
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import custom_durations
from domain import slots as engine
from domain.availability import (
    engine_overrides_of,
    engine_rules_of,
)
from domain.bookings.held import load_held
from domain.bookings.requests import ALTERNATIVES
from domain.errors import (
    Alternative,
    InvalidInput,
    Policy,
    PolicyViolation,
    SlotUnavailable,
    StudentBusy,
)
from domain.services import ServiceInfo
from models import Booking, BookingStatus, Schedule, ServiceDuration, Tutor

# Busy time is read with a margin: a slot's span reaches past the range by its buffers and
# length, and a booking's block can start well before the span it overlaps.
MARGIN = timedelta(days=2)
LONGEST_BLOCK = timedelta(days=3)

TutorSlot = tuple[uuid.UUID, engine.Slot]
_STATUS = {status.value: status for status in BookingStatus}


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
    """The option for `minutes` of this service, with its price: a listed duration, else a
    length on its custom grid (None: the first listed). Search and every booking ask here."""
    if minutes is None:
        return info.durations[0]
    for option in info.durations:
        if option.minutes == minutes:
            return option
    custom = custom_durations.option_for(info.row, minutes)
    if custom is not None:
        return custom
    offered = ", ".join(str(d.minutes) for d in info.durations)
    offered += custom_durations.described(info.row)
    raise InvalidInput(
        f"This service is not offered for {minutes} minutes (offered: {offered})", field
    )


# ---------------------------------------------------------------- hours and busy time


@dataclass(frozen=True)
class Calendar:
    """Each tutor's hours for one service, and what loads them for a range."""

    schedules: dict[uuid.UUID, Schedule]  # tutor -> the schedule used
    rules: dict[uuid.UUID, list[engine.Rule]]  # schedule -> weekly rules


async def load_calendar(
    session: AsyncSession, info: ServiceInfo, tutor_ids: Sequence[uuid.UUID]
) -> Calendar:
    """The service's own schedule for its tutor; every other tutor's default schedule."""
    chosen = (await _schedules_of(session, [(info, t) for t in tutor_ids]))[info.row.id]
    rules = await engine_rules_of(session, [s.id for s in chosen.values()])
    return Calendar(schedules=chosen, rules=rules)


async def _schedules_of(
    session: AsyncSession, wanted: Sequence[tuple[ServiceInfo, uuid.UUID]]
) -> dict[uuid.UUID, dict[uuid.UUID, Schedule]]:
    """Per service, the schedule each of its wanted tutors uses for it, in one statement: the
    service's own schedule for its tutor, any other tutor's default."""
    if not wanted:
        return {}
    own = {info.row.schedule_id for info, _ in wanted if info.row.schedule_id is not None}
    tutor_ids = {tutor_id for _, tutor_id in wanted}
    query = select(Schedule).where(
        (col(Schedule.tutor_id).in_(tutor_ids) & col(Schedule.is_default))
        | col(Schedule.id).in_(own)
    )
    found = list(await session.exec(query))
    chosen: dict[uuid.UUID, dict[uuid.UUID, Schedule]] = {info.row.id: {} for info, _ in wanted}
    for info, tutor_id in wanted:
        for schedule in found:
            if schedule.tutor_id != tutor_id:
                continue
            mine = chosen[info.row.id]
            if schedule.id == info.row.schedule_id or (
                schedule.is_default and tutor_id not in mine
            ):
                mine[tutor_id] = schedule
    return chosen


async def schedule_zones(
    session: AsyncSession, wanted: Sequence[tuple[ServiceInfo, Tutor]]
) -> dict[tuple[uuid.UUID, uuid.UUID], str]:
    """The zone each (service, tutor) keeps its calendar in, as booking sees it: its
    schedule's, or the tutor's own when it has none (`_within_allowance` in `create`)."""
    chosen = await _schedules_of(session, [(info, tutor.id) for info, tutor in wanted])
    zones: dict[tuple[uuid.UUID, uuid.UUID], str] = {}
    for info, tutor in wanted:
        schedule = chosen[info.row.id].get(tutor.id)
        zones[info.row.id, tutor.id] = schedule.time_zone if schedule else tutor.time_zone
    return zones


async def _hours(
    session: AsyncSession, calendar: Calendar, start: datetime, end: datetime
) -> dict[uuid.UUID, engine.Hours]:
    """Each tutor's hours around [start, end): weekly rules plus that stretch's overrides."""
    schedules = calendar.schedules
    overrides = await engine_overrides_of(
        session, [s.id for s in schedules.values()], (start - MARGIN).date(), (end + MARGIN).date()
    )
    return {
        tutor_id: engine.Hours(
            schedule.time_zone,
            calendar.rules.get(schedule.id, []),
            overrides.get(schedule.id, []),
        )
        for tutor_id, schedule in schedules.items()
    }


def busy_where(
    tutor_ids: Sequence[uuid.UUID],
    start: datetime,
    end: datetime,
    exclude: uuid.UUID | None = None,
) -> list[ColumnElement[bool]]:
    """Which of these tutors' bookings may block [start, end) (the margin included); `exclude`
    leaves out a booking being moved."""
    low, high = start - MARGIN, end + MARGIN
    return [
        col(Booking.tutor_id).in_(tutor_ids),
        col(Booking.status).in_(engine.BLOCKING),
        # The first bound keeps the index range scan short; the second is the real test.
        col(Booking.block_start) > low - LONGEST_BLOCK,
        col(Booking.block_start) < high,
        col(Booking.block_end) > low,
        col(Booking.id) != exclude if exclude is not None else true(),
    ]


async def _busy(
    session: AsyncSession, tutor_ids: Sequence[uuid.UUID], start: datetime, end: datetime
) -> dict[uuid.UUID, list[engine.Busy]]:
    """Each tutor's bookings that may block [start, end)."""
    # Plain columns, not ORM objects: a busy month can be thousands of rows (5,000 rows: 60 ms
    # as objects, 15 ms as tuples). SQLModel's exec() has no typed overload for six columns.
    rows = await session.exec(  # type: ignore[call-overload]
        core_select(
            col(Booking.tutor_id),
            col(Booking.block_start),
            col(Booking.block_end),
            col(Booking.service_id),
            # As text, turned into the member by a dict: the enum's own lookup cost more than
            # the rest of the row.
            type_coerce(col(Booking.status), String),
            col(Booking.hold_expires_at),
        ).where(*busy_where(tutor_ids, start, end))
    )
    found: dict[uuid.UUID, list[engine.Busy]] = {t: [] for t in tutor_ids}
    for tutor_id, start_at, end_at, service_id, status, hold in rows:
        found[tutor_id].append(engine.Busy(start_at, end_at, service_id, _STATUS[status], hold))
    return found


async def free_slots_of_tutors(
    session: AsyncSession,
    calendar: Calendar,
    offer: engine.Offer,
    tutor_ids: Sequence[uuid.UUID],
    start: datetime,
    end: datetime,
    now: datetime,
    limit: int,
) -> list[TutorSlot]:
    """Listing: the first `limit` free slots of these tutors starting in [start, end)."""
    hours = await _hours(session, calendar, start, end)
    busy = await _busy(session, tutor_ids, start, end)
    calendars = [(t, hours[t], busy[t]) for t in tutor_ids if t in hours]
    return engine.free_slots_of(calendars, offer, start=start, end=end, now=now, limit=limit)


# ---------------------------------------------------------------- the check every write makes


@dataclass
class FreeTime:
    """One tutor's time as a booking transaction sees it, once its locks are taken."""

    tutor: Tutor
    info: ServiceInfo
    hours: engine.Hours | None
    busy: list[engine.Busy]
    student_busy: list[tuple[datetime, datetime]]
    as_tutor: bool
    now: datetime
    zone: str  # the student's: alternatives are written in it
    placed: list[tuple[datetime, datetime]] = field(default_factory=list)
    flags: tuple[bool, ...] = ()  # the answers to load_free_time's `flags`

    def check(self, start: datetime, option: ServiceDuration, start_field: str) -> datetime:
        """The end of a session that may start then; otherwise raises why it may not.

        Students and guests get what availableSlots offers them (hours, grid, notice, window);
        a tutor booking for a student skips hours, notice and window, never capacity (nor the
        seats an override sets)."""
        row = self.info.row
        offer = offer_of(self.info, option.minutes)
        end = start + timedelta(minutes=option.minutes)
        if self.as_tutor:
            free = engine.fits(self.busy, offer, start, self.now, self.hours) is not None
        else:
            if start < self.now + timedelta(minutes=row.minimum_notice_minutes):
                raise PolicyViolation(
                    f"Bookings need {row.minimum_notice_minutes} minutes' notice",
                    Policy.MINIMUM_NOTICE,
                )
            if start > self.now + timedelta(days=row.booking_window_days):
                raise PolicyViolation(
                    f"Bookings open at most {row.booking_window_days} days ahead",
                    Policy.BOOKING_WINDOW,
                )
            offered = engine.free_slots(
                self.hours or engine.Hours("UTC", []),
                self.busy,
                offer,
                start=start,
                end=start + timedelta(seconds=1),
                now=self.now,
            )
            free = bool(offered) and offered[0].start == start
        if not free:
            raise SlotUnavailable(
                f"{start.isoformat()} is not available ({start_field})",
                self._alternatives(start, option),
            )
        for other_start, other_end in self.student_busy + self.placed:
            if other_start < end and other_end > start:
                raise StudentBusy("The student has another booking at that time")
        return end

    def _alternatives(self, start: datetime, option: ServiceDuration) -> list[Alternative]:
        """Up to five free slots closest to the time asked for, within a day and a half."""
        if self.hours is None:
            return []
        nearby = engine.free_slots(
            self.hours,
            self.busy,
            offer_of(self.info, option.minutes),
            start=start - timedelta(hours=12),
            end=start + timedelta(hours=36),
            now=self.now,
        )
        closest = sorted(nearby, key=lambda s: abs((s.start - start).total_seconds()))
        chosen = sorted(closest[:ALTERNATIVES], key=lambda s: s.start)
        tutor = Tutor(**self.tutor.model_dump())
        length = ServiceDuration(**option.model_dump())
        return [Alternative(tutor, length, slot, self.zone) for slot in chosen]

    def place(self, booking: Booking) -> None:
        """A booking made earlier in this transaction counts against the next one."""
        self.busy.append(
            engine.Busy(booking.block_start, booking.block_end, booking.service_id, booking.status)
        )
        self.placed.append((booking.start_at, booking.end_at))


async def load_free_time(
    session: AsyncSession,
    info: ServiceInfo,
    tutor: Tutor,
    student_id: uuid.UUID | None,
    as_tutor: bool,
    span: tuple[datetime, datetime],
    now: datetime,
    zone: str,
    exclude: uuid.UUID | None = None,
    flags: Sequence[ColumnElement[bool]] = (),
) -> FreeTime:
    """The tutor's hours and busy time over `span` (`exclude`: a booking being moved), and the
    student's bookings around it, in one statement (`held.py`, with `flags` answered in it);
    call under the tutor's and the student's locks."""
    first, last = span
    held = await load_held(
        session,
        info.row.schedule_id,
        tutor.id,
        student_id,
        span,
        now,
        busy_where([tutor.id], first, last, exclude),
        exclude,
        MARGIN,
        flags,
    )
    return FreeTime(
        tutor, info, held.hours, held.busy, held.student_busy, as_tutor, now, zone, flags=held.flags
    )
