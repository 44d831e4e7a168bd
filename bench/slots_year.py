"""The slot engine over 50 tutors and 365 days, made from the shared input (bench.slots)."""

from __future__ import annotations

import time as clock
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from domain.slots import Busy, Hours, free_slots, free_slots_of
from models import BookingStatus

if TYPE_CHECKING:
    from bench.slots import Input

BLOCKER = uuid.UUID(int=2)  # the service the input's bookings are of (not the one searched)


def timed(once: Callable[[], Any], runs: int) -> tuple[Any, list[float]]:
    """The last result and each run's seconds, after five runs of warm-up."""
    for _ in range(5):
        found = once()
    times = []
    for _ in range(runs):
        began = clock.perf_counter()
        found = once()
        times.append(clock.perf_counter() - began)
    return found, times


YEAR, TUTORS = 365, 50
REPEAT = timedelta(days=63)  # nine weeks: the input's 60 days repeat on the same weekdays


def year_calendars(data: Input) -> list[tuple[int, Hours, list[Busy]]]:
    """50 tutors over 365 days from the input: tutor i has tutor i % 10's bookings a week later
    for each ten before it; bookings and overrides repeat every nine weeks; all share hours."""
    copies = range(-(-YEAR // REPEAT.days))
    overrides = [replace(o, on_date=o.on_date + k * REPEAT) for k in copies for o in data.overrides]
    hours = Hours(data.zone, data.rules, overrides)
    calendars = []
    for i in range(TUTORS):
        shift = timedelta(weeks=i // len(data.bookings))
        busy = [
            Busy(a + k * REPEAT + shift, b + k * REPEAT + shift, BLOCKER, BookingStatus.CONFIRMED)
            for k in copies
            for a, b in data.bookings[i % len(data.bookings)]
        ]
        calendars.append((i, hours, busy))
    return calendars


def engine_year_case(data: Input, runs: int) -> tuple[int, int, bool, list[float]]:
    """The engine over 50 tutors and 365 days: slots, distinct starts, whether they are exactly
    each tutor's own search's, and the times."""
    calendars = year_calendars(data)
    offer = replace(data.offer, window_days=YEAR + 1)
    end = data.start + timedelta(days=YEAR)

    def once() -> list[Any]:
        return free_slots_of(calendars, offer, start=data.start, end=end, now=data.start)

    found, times = timed(once, runs)
    alone = sorted(
        (
            (key, slot)
            for key, hours, busy in calendars
            for slot in free_slots(hours, busy, offer, start=data.start, end=end, now=data.start)
        ),
        key=lambda pair: (pair[1].start, pair[0]),
    )
    return len(found), len({slot.start for _, slot in found}), found == alone, times
