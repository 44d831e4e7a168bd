"""Schedules: named weekly hours in one zone, and per-date overrides. Only their tutor edits."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Select, delete, update
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import slots as engine
from domain.errors import Forbidden, InvalidInput, NotFound, OverlappingRules
from domain.people import clean_name, tutor_of_user
from domain.service_rules import MAX_CAPACITY
from domain.spans import MIDNIGHT
from infra.auth import Identity
from infra.db import Database, UnitOfWork
from models import AvailabilityOverride, AvailabilityRule, Schedule, Tutor

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MAX_RULES = 70
# Overrides further away than this are almost certainly a typo in the year.
MAX_OVERRIDE_YEARS = 5


@dataclass(frozen=True)
class RuleInput:
    weekday: int
    start: time
    end: time


def _minutes(value: time, field: str) -> int:
    if value.second or value.microsecond:
        raise InvalidInput("Times are whole minutes, such as 09:30", field)
    return value.hour * 60 + value.minute


def _end_minutes(start: time, end: time, field: str) -> int:
    """End in minutes of the day; 00:00 as an end means midnight at the end of the day."""
    start_minutes = _minutes(start, f"{field}.start")
    end_minutes = _minutes(end, f"{field}.end")
    if end == MIDNIGHT:
        return 1440
    if end_minutes <= start_minutes:
        raise InvalidInput("end must be after start (00:00 means midnight)", f"{field}.end")
    return end_minutes


def validate_rules(rules: Sequence[RuleInput]) -> list[RuleInput]:
    if len(rules) > MAX_RULES:
        raise InvalidInput(f"At most {MAX_RULES} rules", "input.rules")
    by_day: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for index, rule in enumerate(rules):
        field = f"input.rules.{index}"
        by_day[rule.weekday].append(
            (_minutes(rule.start, f"{field}.start"), _end_minutes(rule.start, rule.end, field))
        )
    for weekday, spans in by_day.items():
        spans.sort()
        for (a, b), (c, d) in pairwise(spans):
            if c < b:
                raise OverlappingRules(
                    f"{WEEKDAYS[weekday]} rules overlap: {a // 60:02}:{a % 60:02}-"
                    f"{b // 60 % 24:02}:{b % 60:02} and {c // 60:02}:{c % 60:02}-"
                    f"{d // 60 % 24:02}:{d % 60:02}"
                )
    return list(rules)


async def _own_tutor(session: AsyncSession, identity: Identity) -> Tutor:
    tutor = await tutor_of_user(session, identity.sub)
    if tutor is None:
        raise Forbidden("Only tutors have schedules: create a tutor profile first")
    return tutor


async def _own_schedule(
    session: AsyncSession, identity: Identity, schedule_id: uuid.UUID, *, lock: bool = False
) -> Schedule:
    query = select(Schedule).where(Schedule.id == schedule_id)
    schedule = (await session.exec(query.with_for_update() if lock else query)).first()
    if schedule is None:
        raise NotFound("No such schedule")
    tutor = await tutor_of_user(session, identity.sub)
    if tutor is None or tutor.id != schedule.tutor_id:
        raise Forbidden("Only the schedule's tutor may change it")
    return schedule


def _rule_rows(schedule_id: uuid.UUID, rules: Sequence[RuleInput]) -> list[AvailabilityRule]:
    return [
        AvailabilityRule(
            schedule_id=schedule_id, weekday=r.weekday, start_time=r.start, end_time=r.end
        )
        for r in rules
    ]


async def create_schedule(
    db: Database,
    identity: Identity,
    name: str,
    time_zone: str,
    rules: Sequence[RuleInput],
    is_default: bool | None,
    now: datetime,
) -> Schedule:
    clean = clean_name(name, "input.name")
    checked = validate_rules(rules)
    async with db.transaction() as session:
        tutor = await _own_tutor(session, identity)
        # Serialize a tutor's schedule changes: exactly one default, whatever runs at once.
        await session.exec(select(Tutor).where(Tutor.id == tutor.id).with_for_update())
        has_default = (
            await session.exec(
                select(Schedule.id).where(Schedule.tutor_id == tutor.id, col(Schedule.is_default))
            )
        ).first() is not None
        make_default = bool(is_default) or not has_default
        if make_default and has_default:
            await session.exec(
                update(Schedule).where(col(Schedule.tutor_id) == tutor.id).values(is_default=False)
            )
        schedule = Schedule(
            tutor_id=tutor.id,
            name=clean,
            time_zone=time_zone,
            is_default=make_default,
            created_at=now,
        )
        session.add(schedule)
        await session.flush()
        session.add_all(_rule_rows(schedule.id, checked))
    return schedule


async def set_weekly_rules(
    db: Database,
    identity: Identity,
    schedule_id: uuid.UUID,
    time_zone: str | None,
    rules: Sequence[RuleInput],
) -> Schedule:
    checked = validate_rules(rules)
    async with db.transaction() as session:
        schedule = await _own_schedule(session, identity, schedule_id, lock=True)
        if time_zone is not None:
            schedule.time_zone = time_zone
            session.add(schedule)
        await session.exec(
            delete(AvailabilityRule).where(col(AvailabilityRule.schedule_id) == schedule.id)
        )
        session.add_all(_rule_rows(schedule.id, checked))
    return schedule


def _check_override(
    start: time | None, end: time | None, available: bool, capacity: int | None
) -> None:
    if (start is None) != (end is None):
        raise InvalidInput(
            "Give both start and end, or neither", "input.end" if end is None else "input.start"
        )
    if capacity is not None:
        if not available:
            raise InvalidInput("A blocked override takes no capacity", "input.capacity")
        if not 1 <= capacity <= MAX_CAPACITY:
            raise InvalidInput(f"capacity must be between 1 and {MAX_CAPACITY}", "input.capacity")
    if start is not None and end is not None:
        _end_minutes(start, end, "input")
    elif available and capacity is None:
        raise InvalidInput(
            "Extra hours need a start and an end (or a capacity for the whole date)",
            "input.start",
        )


async def add_override(
    db: Database,
    identity: Identity,
    schedule_id: uuid.UUID,
    on_date: date,
    start: time | None,
    end: time | None,
    available: bool,
    now: datetime,
    capacity: int | None = None,
) -> AvailabilityOverride:
    """Block a date or a range of it, add extra hours, or (available, with a capacity) set every
    service's seats within the times, or for the whole date when there are none."""
    _check_override(start, end, available, capacity)
    if abs((on_date - now.date()).days) > 366 * MAX_OVERRIDE_YEARS:
        raise InvalidInput(f"The date must be within {MAX_OVERRIDE_YEARS} years", "input.date")
    async with db.transaction() as session:
        schedule = await _own_schedule(session, identity, schedule_id)
        override = AvailabilityOverride(
            schedule_id=schedule.id,
            on_date=on_date,
            start_time=start,
            end_time=end,
            available=available,
            capacity=capacity,
            created_at=now,
        )
        session.add(override)
        if available:
            await _time_added(session, schedule, on_date, now)
    return override


async def _time_added(
    session: UnitOfWork, schedule: Schedule, on_date: date, now: datetime
) -> None:
    """Extra hours or seats may free time a waitlist entry wants: that date, in the schedule's
    zone."""
    # Imported here: the offers ask the slot engine through `free_time`, which reads this
    # module's rules and overrides.
    from domain import waitlist_offers

    zone = ZoneInfo(schedule.time_zone)
    start = datetime.combine(on_date, MIDNIGHT, zone)
    end = datetime.combine(on_date + timedelta(days=1), MIDNIGHT, zone)
    await waitlist_offers.time_freed(session, schedule.tutor_id, start, end, now)


async def remove_override(db: Database, identity: Identity, override_id: uuid.UUID) -> uuid.UUID:
    async with db.transaction() as session:
        override = await session.get(AvailabilityOverride, override_id)
        if override is None:
            raise NotFound("No such override")
        await _own_schedule(session, identity, override.schedule_id)
        await session.delete(override)
    return override_id


# ---------------------------------------------------------------- reads


async def schedules_of_tutors(
    db: Database, tutor_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Schedule]]:
    async with db.session() as session:
        rows = await session.exec(
            select(Schedule)
            .where(col(Schedule.tutor_id).in_(tutor_ids))
            .order_by(col(Schedule.is_default).desc(), col(Schedule.created_at))
        )
        found: dict[uuid.UUID, list[Schedule]] = defaultdict(list)
        for row in rows:
            found[row.tutor_id].append(row)
    return found


async def rules_of_schedules(
    session: AsyncSession, schedule_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[AvailabilityRule]]:
    rows = await session.exec(
        select(AvailabilityRule)
        .where(col(AvailabilityRule.schedule_id).in_(schedule_ids))
        .order_by(col(AvailabilityRule.weekday), col(AvailabilityRule.start_time))
    )
    found: dict[uuid.UUID, list[AvailabilityRule]] = defaultdict(list)
    for row in rows:
        found[row.schedule_id].append(row)
    return found


async def overrides_of_schedules(
    session: AsyncSession,
    schedule_ids: Sequence[uuid.UUID],
    first: date | None = None,
    last: date | None = None,
) -> dict[uuid.UUID, list[AvailabilityOverride]]:
    query = select(AvailabilityOverride).where(
        col(AvailabilityOverride.schedule_id).in_(schedule_ids)
    )
    if first is not None:
        query = query.where(AvailabilityOverride.on_date >= first)
    if last is not None:
        query = query.where(AvailabilityOverride.on_date <= last)
    rows = await session.exec(
        query.order_by(col(AvailabilityOverride.on_date), col(AvailabilityOverride.start_time))
    )
    found: dict[uuid.UUID, list[AvailabilityOverride]] = defaultdict(list)
    for row in rows:
        found[row.schedule_id].append(row)
    return found


T = TypeVar("T")


async def _per_schedule(
    session: AsyncSession, query: Select[*tuple[Any, ...]], make: Callable[..., T]
) -> dict[uuid.UUID, list[T]]:
    """Rows whose first column is the schedule, each rest made into `make(*rest)`, in order."""
    found: dict[uuid.UUID, list[T]] = defaultdict(list)
    for schedule_id, *rest in await session.exec(query):  # type: ignore[call-overload]
        found[schedule_id].append(make(*rest))
    return found


async def engine_rules_of(
    session: AsyncSession, schedule_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[engine.Rule]]:
    """The schedules' weekly rules as the engine takes them, read as columns (a search reads
    hundreds of rules and overrides, and ORM objects of them cost several times more)."""
    rule = AvailabilityRule
    query = (
        core_select(
            col(rule.schedule_id), col(rule.weekday), col(rule.start_time), col(rule.end_time)
        )
        .where(col(rule.schedule_id).in_(schedule_ids))
        .order_by(col(rule.weekday), col(rule.start_time))
    )
    return await _per_schedule(session, query, engine.Rule)


async def engine_overrides_of(
    session: AsyncSession, schedule_ids: Sequence[uuid.UUID], first: date, last: date
) -> dict[uuid.UUID, list[engine.Override]]:
    """The schedules' overrides from `first` to `last` as the engine takes them (as columns)."""
    row = AvailabilityOverride
    query = (
        core_select(
            col(row.schedule_id),
            col(row.on_date),
            col(row.start_time),
            col(row.end_time),
            col(row.available),
            col(row.capacity),
        )
        .where(col(row.schedule_id).in_(schedule_ids))
        .where(col(row.on_date) >= first, col(row.on_date) <= last)
        .order_by(col(row.on_date), col(row.start_time))
    )
    return await _per_schedule(session, query, engine.Override)


def engine_overrides(rows: Sequence[AvailabilityOverride]) -> list[engine.Override]:
    """Overrides as the slot engine takes them, with the seats they set."""
    return [
        engine.Override(o.on_date, o.start_time, o.end_time, o.available, o.capacity) for o in rows
    ]
