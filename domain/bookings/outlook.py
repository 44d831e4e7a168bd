"""What a student may book next: the month's free allowance left (for the viewer, or for one
student as their coach sees it), and the same time next week.

Both ask what booking asks, never a rule of their own: the allowance is counted by
`packages.free_bookings_in_months` (what `create` counts) in the month of `now` in the zone of the
schedule booking uses; the rebook suggestion is `FreeTime.check`, the check every booking makes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import organizations, packages, spans
from domain import slots as engine
from domain.bookings.access import access_of
from domain.bookings.free_time import choose_duration, load_free_time, schedule_zones
from domain.errors import UserError
from domain.services import ServiceInfo, services_info
from infra.auth import Identity
from infra.db import Database
from models import Booking, ServiceDuration, Tutor

WEEK = timedelta(days=7)


async def _month_zones(session: AsyncSession, infos: Sequence[ServiceInfo]) -> dict[uuid.UUID, str]:
    """The zone each service's month is counted in: that of its first tutor's schedule for it
    (a service's tutors may keep different zones; booking counts in the booked tutor's)."""
    first_tutors = {info.tutor_ids[0] for info in infos}
    tutors = {
        t.id: t for t in await session.exec(select(Tutor).where(col(Tutor.id).in_(first_tutors)))
    }
    wanted = [(info, tutors[info.tutor_ids[0]]) for info in infos]
    return {
        service_id: zone
        for (service_id, _), zone in (await schedule_zones(session, wanted)).items()
    }


@dataclass(frozen=True)
class Allowance:
    remaining: int | None  # None: not for this viewer (not signed in, or booking as the tutor)
    resets_on: date


async def allowances(
    db: Database, identity: Identity | None, service_ids: Sequence[uuid.UUID], now: datetime
) -> dict[uuid.UUID, Allowance]:
    """The monthly free allowance of each service that has one, for the viewer as a student.

    The month is the one `now` falls in, in the zone of `_month_zones`."""
    async with db.session() as session:
        infos = [
            info
            for info in (await services_info(session, service_ids)).values()
            if info.row.monthly_free_allowance > 0 and info.tutor_ids
        ]
        if not infos:
            return {}
        zones = await _month_zones(session, infos)
        access = await access_of(session, identity)
        # A student's own tutor (or their manager) books as the tutor: no allowance applies.
        as_student = [
            info
            for info in infos
            if identity is not None and not set(info.tutor_ids) <= access.tutor_ids
        ]
        used: list[int] = [0] * len(as_student)
        if access.student_id is not None:
            used = await packages.free_bookings_in_months(
                session,
                access.student_id,
                [(info.row.id, now, zones[info.row.id]) for info in as_student],
            )
    remaining = {
        info.row.id: max(info.row.monthly_free_allowance - count, 0)
        for info, count in zip(as_student, used, strict=True)
    }
    return {
        info.row.id: Allowance(
            remaining.get(info.row.id),
            packages.month_bounds(now, zones[info.row.id])[1].date(),
        )
        for info in infos
    }


@dataclass(frozen=True)
class Rebook:
    tutor: Tutor
    option: ServiceDuration
    slot: engine.Slot


async def rebook_suggestions(
    db: Database, identity: Identity | None, booking_ids: Sequence[uuid.UUID], now: datetime
) -> dict[uuid.UUID, Rebook]:
    """For each booking the viewer is the student or (acting as) the tutor of: the same weekday
    and wall-clock time a week later, in the zone of the tutor's schedule, when the booking's
    student could book it now (the check booking makes, with the student's rules)."""
    found: dict[uuid.UUID, Rebook] = {}
    async with db.session() as session:
        access = await access_of(session, identity)
        rows = [
            b
            for b in await session.exec(select(Booking).where(col(Booking.id).in_(booking_ids)))
            if access.role_for(b) in ("TUTOR", "STUDENT")
        ]
        infos = await services_info(session, list({b.service_id for b in rows}))
        tutors = {
            t.id: t
            for t in await session.exec(
                select(Tutor).where(col(Tutor.id).in_({b.tutor_id for b in rows}))
            )
        }
        wanted = [(infos[b.service_id], tutors[b.tutor_id]) for b in rows]
        zones = await schedule_zones(session, wanted)
        for booking in rows:
            info, tutor = infos[booking.service_id], tutors[booking.tutor_id]
            zone = ZoneInfo(zones[info.row.id, tutor.id])
            # A week later on the wall clock: across a DST change that is not 168 hours.
            local = booking.start_at.astimezone(zone)
            week_later = spans.instant(local.date() + WEEK, local.time(), zone, last=False)
            start = datetime.fromtimestamp(week_later, UTC)
            try:
                option = choose_duration(info, booking.duration_minutes, "durationMinutes")
                free = await load_free_time(
                    session,
                    info,
                    tutor,
                    booking.student_id,
                    False,
                    (start, start + timedelta(hours=12)),
                    now,
                    booking.student_time_zone,
                )
                end = free.check(start, option, "start")
            except UserError:  # the slot is not free for them: no suggestion
                continue
            found[booking.id] = Rebook(tutor, option, engine.Slot(start, end, 0))
    return found


async def allowances_for_student(
    db: Database,
    identity: Identity | None,
    service_ids: Sequence[uuid.UUID],
    student_id: uuid.UUID,
    now: datetime,
) -> dict[uuid.UUID, int]:
    """Free bookings one student has left this month in each service that has an allowance,
    for a caller who manages one of its tutors (the service's tutors, and their organization's
    owners and admins: `organizations.managed_tutors`); missing for any other service. The same
    count as `allowances`, for that student instead of the viewer."""
    async with db.session() as session:
        tutors = await organizations.managed_tutors(session, identity)
        if not tutors:
            return {}
        infos = [
            info
            for info in (await services_info(session, service_ids)).values()
            if info.row.monthly_free_allowance > 0 and tutors & set(info.tutor_ids)
        ]
        if not infos:
            return {}
        zones = await _month_zones(session, infos)
        used = await packages.free_bookings_in_months(
            session, student_id, [(info.row.id, now, zones[info.row.id]) for info in infos]
        )
    return {
        info.row.id: max(info.row.monthly_free_allowance - count, 0)
        for info, count in zip(infos, used, strict=True)
    }
