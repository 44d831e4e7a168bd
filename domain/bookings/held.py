"""What a booking write re-checks under its locks, read in one statement.

Once the tutor's and the student's rows are locked, a write needs the tutor's hours for the span
(the schedule the service uses, its weekly rules, that stretch's overrides), the tutor's busy
time and the student's own bookings around it. Five queries (`free_time.load_calendar`,
`_hours`, `_busy` and the student's bookings) were five round trips and five ORM result sets
inside the locked transaction, the stretch every concurrent booking of the tutor waits behind;
here they are one statement returning one row, each list an array of records.

It is read after the locks are taken, as its own statement: under READ COMMITTED each statement
sees what committed before it began, so it sees every booking committed by a transaction that
held either lock before us (a statement that took a lock and read in one would read from before
its wait).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, false, func, literal, or_, select, true
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import slots as engine
from models import AvailabilityOverride, AvailabilityRule, Booking, Schedule
from models.bookings import BookingStatus


@dataclass(frozen=True)
class Held:
    hours: engine.Hours | None  # None: the tutor has no schedule
    busy: list[engine.Busy]
    student_busy: list[tuple[datetime, datetime]]
    flags: tuple[bool, ...]


def _records(query: Select[Any]) -> ColumnElement[Any]:
    """ARRAY(SELECT ROW(...) ...): asyncpg decodes it as a list of typed tuples."""
    return func.array(query.scalar_subquery())


async def load_held(
    session: AsyncSession,
    schedule_id: uuid.UUID | None,
    tutor_id: uuid.UUID,
    student_id: uuid.UUID | None,
    span: tuple[datetime, datetime],
    now: datetime,
    busy_where: Sequence[ColumnElement[bool]],
    exclude: uuid.UUID | None,
    margin: timedelta,
    flags: Sequence[ColumnElement[bool]] = (),
) -> Held:
    """The tutor's hours around `span` (None: no schedule), the tutor's bookings that
    `busy_where` selects, and the student's blocking bookings within a day of the span.
    `schedule_id` is the service's own schedule, used when it is this tutor's (otherwise the
    tutor's default, as `free_time.load_calendar` chooses). `flags`: conditions the caller
    wants answered in the same statement (whether a later step has anything to do)."""
    first, last = span
    schedules = select(col(Schedule.id), col(Schedule.time_zone)).where(
        col(Schedule.tutor_id) == tutor_id
    )
    if schedule_id is None:
        schedules = schedules.where(col(Schedule.is_default))
    else:
        own = col(Schedule.id) == schedule_id
        schedules = schedules.where(or_(col(Schedule.is_default), own)).order_by(own.desc())
    chosen = schedules.limit(1).subquery("chosen")
    rule, override = AvailabilityRule, AvailabilityOverride
    rules = select(func.row(col(rule.weekday), col(rule.start_time), col(rule.end_time))).where(
        col(rule.schedule_id) == chosen.c.id
    )
    overrides = select(
        func.row(
            col(override.on_date),
            col(override.start_time),
            col(override.end_time),
            col(override.available),
            col(override.capacity),
        )
    ).where(
        col(override.schedule_id) == chosen.c.id,
        col(override.on_date) >= (first - margin).date(),
        col(override.on_date) <= (last + margin).date(),
    )
    busy = select(
        func.row(
            col(Booking.block_start),
            col(Booking.block_end),
            col(Booking.service_id),
            col(Booking.status),
            col(Booking.hold_expires_at),
        )
    ).where(*busy_where)
    low, high = first - timedelta(days=1), last + timedelta(days=1)
    mine = select(
        func.row(
            col(Booking.id),
            col(Booking.start_at),
            col(Booking.end_at),
            col(Booking.status),
            col(Booking.hold_expires_at),
        )
    ).where(
        col(Booking.student_id) == student_id if student_id is not None else false(),
        col(Booking.status).in_(engine.BLOCKING),
        col(Booking.start_at) < high,
        col(Booking.end_at) > low,
    )
    one = select(literal(1).label("one")).subquery("one")
    query = select(
        chosen.c.time_zone,
        _records(rules.order_by(col(rule.weekday), col(rule.start_time))),
        _records(overrides.order_by(col(override.on_date), col(override.start_time))),
        _records(busy),
        _records(mine),
        *flags,
    ).select_from(one.outerjoin(chosen, true()))
    # SQLModel's exec() has no typed overload for five columns.
    result = await session.exec(query)  # type: ignore[call-overload]
    zone, rule_rows, override_rows, busy_rows, mine_rows, *answers = result.one()
    hours = (
        None
        if zone is None
        else engine.Hours(
            zone,
            [engine.Rule(*r) for r in rule_rows],
            [engine.Override(*o) for o in override_rows],
        )
    )
    tutor_busy = [
        engine.Busy(start, end, service_id, BookingStatus(status), hold)
        for start, end, service_id, status, hold in busy_rows
    ]
    student_busy = [
        (start, end)
        for booking_id, start, end, status, hold in mine_rows
        if booking_id != exclude and engine.is_blocking(BookingStatus(status), hold, now)
    ]
    return Held(hours, tutor_busy, student_busy, tuple(answers))
