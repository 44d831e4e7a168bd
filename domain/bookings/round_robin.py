"""Round robin: which of a service's tutors gets a booking made without a tutor.

The rule (README, "Round robin"): of the tutors free at the start, the one with the fewest
active bookings (PENDING_PAYMENT or CONFIRMED) of this service in the start's week, the ISO week
in UTC (Monday 00:00 UTC to the next Monday 00:00 UTC); ties go to the one whose latest active
booking of the service was made longest ago (never booked first), then to the service's order of
tutors. Listing (`availableSlots` with groupByStart) and booking rank with the same `Load.order`.

Booking tries the candidates in that order, one tutor lock at a time: each is locked in a
savepoint and its time checked by the engine; a candidate found taken is let go (rolling back
to the savepoint releases its row lock) before the next is locked. So concurrent requests never
wait on each other in a cycle, never double-book (the usual lock and re-check), and fail only
when every candidate was taken when its turn came.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlalchemy import select as core_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.bookings.free_time import load_free_time
from domain.bookings.requests import ACTIVE
from domain.bookings.writes import lock
from domain.errors import NotFound, SlotUnavailable
from domain.services import ServiceInfo
from infra.auth import Identity
from infra.db import present
from models import Booking, ServiceDuration, Tutor

WEEK = timedelta(days=7)
NEVER = datetime.min.replace(tzinfo=UTC)


def week_of(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the ISO week `moment` falls in."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class Load:
    """A service's active bookings per tutor: how many in each week, and when the latest was
    made."""

    per_week: dict[tuple[uuid.UUID, datetime], int]
    last_made: dict[uuid.UUID, datetime]

    def order(self, tutor_ids: Sequence[uuid.UUID], start: datetime) -> list[uuid.UUID]:
        """The tutors in the order round robin tries them for a session at `start`."""
        week = week_of(start)
        # sorted() is stable: full ties keep the order given (the service's order of tutors).
        return sorted(
            tutor_ids,
            key=lambda t: (self.per_week.get((t, week), 0), self.last_made.get(t, NEVER)),
        )


async def load(
    session: AsyncSession,
    service_id: uuid.UUID,
    tutor_ids: Sequence[uuid.UUID],
    first: datetime,
    last: datetime,
) -> Load:
    """What ranking needs for sessions starting from `first` to `last`: two queries whatever
    the range or the number of tutors."""
    week = func.date_trunc("week", func.timezone("UTC", col(Booking.start_at)))
    active = (
        col(Booking.service_id) == service_id,
        col(Booking.tutor_id).in_(tutor_ids),
        col(Booking.status).in_(ACTIVE),
    )
    counts = await session.exec(  # type: ignore[call-overload]
        core_select(col(Booking.tutor_id), week, func.count())
        .where(
            *active,
            col(Booking.start_at) >= week_of(first),
            col(Booking.start_at) < week_of(last) + WEEK,
        )
        .group_by(col(Booking.tutor_id), week)
    )
    # date_trunc of a UTC wall time is a naive Monday 00:00: it is UTC.
    per_week = {(t, monday.replace(tzinfo=UTC)): n for t, monday, n in counts}
    latest = await session.exec(  # type: ignore[call-overload]
        core_select(col(Booking.tutor_id), func.max(col(Booking.created_at)))
        .where(*active)
        .group_by(col(Booking.tutor_id))
    )
    return Load(per_week, dict(latest.all()))


@dataclass(frozen=True)
class Wanted:
    """The sessions a booking asks for, as round robin checks them against each candidate."""

    slots: Sequence[tuple[datetime, ServiceDuration, str]]  # start, length, its input field
    zone: str
    now: datetime


async def assign(
    session: AsyncSession, identity: Identity | None, info: ServiceInfo, wanted: Wanted
) -> Tutor:
    """The tutor round robin books, locked; SlotUnavailable (the first candidate's, with its
    alternatives) when none is free for every session asked for."""
    if not info.tutor_ids:
        raise NotFound("This service has no tutors (input.serviceId)")
    starts = [start for start, _, _ in wanted.slots]
    first, last = min(starts), max(starts)
    ranked = (await load(session, info.row.id, info.tutor_ids, first, first)).order(
        info.tutor_ids, first
    )
    refused: SlotUnavailable | None = None
    for tutor_id in ranked:
        try:
            async with session.begin_nested():
                tutor: Tutor = present(await lock(session, Tutor, tutor_id), "service's tutor")
                as_tutor = identity is not None and tutor.user_id == identity.sub
                free = await load_free_time(
                    session,
                    info,
                    tutor,
                    None,
                    as_tutor,
                    (first, last + timedelta(hours=12)),
                    wanted.now,
                    wanted.zone,
                )
                for start, option, field in wanted.slots:
                    free.check(start, option, field)
                return tutor
        except SlotUnavailable as taken:
            refused = refused or taken
    raise present(refused, "a refusal")
