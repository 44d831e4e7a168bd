"""availableSlots: load what the engine needs in a constant number of queries, then ask it.

Queries per search: the service (3: row, lengths, tutors), the tutors, their schedules, the rules,
the overrides and the busy time of the range; the overrides and busy time once more for every
93 days nextAvailable has to look past the range. Never one per day, per tutor or per slot. What
is loaded, and how a service becomes the engine's offer, is shared with every booking write
(`domain/bookings/free_time.py`).

With groupByStart, round robin's ranking (`domain/bookings/round_robin.py`) adds two queries per
stretch searched, whatever its length or the number of tutors.

Work is bounded: the engine makes at most MAX_SLOTS_FOUND + 1 slots of the range (more asks for a
narrower range) and one of each stretch looked past it.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.bookings import round_robin
from domain.bookings.free_time import (
    TutorSlot,
    choose_duration,
    free_slots_of_tutors,
    load_calendar,
    offer_of,
)
from domain.errors import InvalidInput, NotFound
from domain.services import ServiceInfo, services_info
from infra.db import Database
from models import ServiceDuration, Tutor

MAX_RANGE = timedelta(days=93)
# The most free slots a search answers with; past this it asks for a narrower range.
MAX_SLOTS_FOUND = 10_000


@dataclass(frozen=True)
class SlotSearchResult:
    service: ServiceInfo
    duration: ServiceDuration
    tutors: dict[uuid.UUID, Tutor]
    slots: list[TutorSlot]
    next_available: TutorSlot | None


async def search_slots(
    db: Database,
    service_id: uuid.UUID,
    tutor_id: uuid.UUID | None,
    duration_minutes: int | None,
    start: datetime,
    end: datetime,
    now: datetime,
    group_by_start: bool = False,
) -> SlotSearchResult:
    """Free slots of the tutor, or of every tutor of the service; `group_by_start` (with no
    tutor): one per start, of the tutor round robin would assign then."""
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
        calendar = await load_calendar(session, info, tutor_ids)
        offer = offer_of(info, duration.minutes)
        found = await free_slots_of_tutors(
            session, calendar, offer, tutor_ids, start, end, now, MAX_SLOTS_FOUND + 1
        )
        if len(found) > MAX_SLOTS_FOUND:
            raise InvalidInput(
                f"More than {MAX_SLOTS_FOUND:,} free slots between from and to: ask for a "
                "narrower range",
                "input.to",
            )
        grouped = group_by_start and tutor_id is None
        if grouped:
            found = await _round_robin(session, info, found, start, end)
        next_available = found[0] if found else None
        # Past the range, up to the booking window (two years at most), a stretch at a time:
        # the first free slot ends the search, and each stretch is a short run of the engine
        # (grouped: every tutor's first, since each tutor has at most one slot per start).
        window_end = now + timedelta(days=offer.window_days, seconds=1)
        cursor = max(end, now)
        while next_available is None and cursor < window_end:
            stretch_end = min(cursor + MAX_RANGE, window_end)
            later = await free_slots_of_tutors(
                session,
                calendar,
                offer,
                tutor_ids,
                cursor,
                stretch_end,
                now,
                len(tutor_ids) if grouped else 1,
            )
            if grouped and later:
                later = await _round_robin(session, info, later, cursor, stretch_end)
            next_available = later[0] if later else None
            cursor = stretch_end
    return SlotSearchResult(info, duration, tutors, found, next_available)


async def _round_robin(
    session: AsyncSession,
    info: ServiceInfo,
    found: list[TutorSlot],
    start: datetime,
    end: datetime,
) -> list[TutorSlot]:
    """One slot per start (`found` is sorted by start): the tutor round robin would assign."""
    load = await round_robin.load(session, info.row.id, info.tutor_ids, start, end)
    chosen: list[TutorSlot] = []
    for at, group in itertools.groupby(found, key=lambda f: f[1].start):
        free = dict(group)
        first = load.order(list(free), at)[0]
        chosen.append((first, free[first]))
    return chosen
