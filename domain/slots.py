"""The slot engine: the only code that decides what time is free.

Pure: no I/O and no clock reads (`now` is a parameter). Weekly rules are wall-clock times in the
schedule's zone, expanded per local date with zoneinfo, so 09:00 stays 09:00 across DST:

- a range runs from the instant its local start first occurs to the instant its local end last
  occurs; a start or end that falls in a spring-forward gap moves to the end of the gap;
- available = (weekly ranges - blocked ranges) | extra ranges, per date; touching ranges merge;
- starts step by the interval from the start of each open range (weekly or extra hours, before
  blocks are taken out, so a block never shifts the grid); a slot [s, s+d) must lie inside one
  available range, with now + notice <= s <= now + window;
- a booking occupies [start - its buffer before, end + its buffer after) (see `occupied`); a
  candidate occupies the same with its own service's buffers. It is free when no booking of
  another service overlaps that span and fewer than `capacity` bookings of its own service
  overlap it at every instant.

Internally instants are integer seconds since the epoch, so a 60-day search takes milliseconds.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

from domain import spans
from models.bookings import BookingStatus

DAY = 86400

Span = spans.Span


@dataclass(frozen=True, slots=True)
class Rule:
    """Weekly hours: weekday 0 is Monday; end 00:00 means midnight at the end of the day."""

    weekday: int
    start: time
    end: time


@dataclass(frozen=True, slots=True)
class Override:
    """A date in the schedule's zone: blocked (whole day when no times) or extra hours."""

    on_date: date
    start: time | None
    end: time | None
    available: bool


@dataclass(frozen=True, slots=True)
class Hours:
    time_zone: str
    rules: Sequence[Rule]
    overrides: Sequence[Override] = ()


@dataclass(frozen=True, slots=True)
class Busy:
    """A booking as the engine sees it: the span it occupies (buffers included) and its status."""

    start: datetime
    end: datetime
    service_id: UUID
    status: BookingStatus
    hold_expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Offer:
    """What is being booked: one length of one service, with that service's rules."""

    service_id: UUID
    duration_minutes: int
    interval_minutes: int
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    capacity: int = 1
    notice_minutes: int = 0
    window_days: int = 365


@dataclass(frozen=True, slots=True)
class Slot:
    start: datetime
    end: datetime
    remaining: int


# Every status holds time but these two; PENDING_PAYMENT only until its hold expires.
BLOCKING = frozenset(BookingStatus) - {BookingStatus.CANCELLED, BookingStatus.EXPIRED}


def is_blocking(status: BookingStatus, hold_expires_at: datetime | None, now: datetime) -> bool:
    if status == BookingStatus.PENDING_PAYMENT:
        return hold_expires_at is not None and hold_expires_at > now
    return status in BLOCKING


def occupied(
    start: datetime, end: datetime, buffer_before_minutes: int, buffer_after_minutes: int
) -> tuple[datetime, datetime]:
    """The time a booking keeps from others: its session plus its service's buffers."""
    return (
        start - timedelta(minutes=buffer_before_minutes),
        end + timedelta(minutes=buffer_after_minutes),
    )


def _day_spans(
    day: date, hours: Hours, zone: ZoneInfo, overrides: Sequence[Override]
) -> tuple[list[Span], list[Span], list[Span]]:
    """One local date's weekly, blocked and extra spans."""
    weekly = [
        spans.local_range(day, r.start, r.end, zone)
        for r in hours.rules
        if r.weekday == day.weekday()
    ]
    blocked: list[Span] = []
    extra: list[Span] = []
    for override in overrides:
        if override.start is None or override.end is None:
            if not override.available:
                blocked.append(spans.local_range(day, spans.MIDNIGHT, spans.MIDNIGHT, zone))
        elif override.available:
            extra.append(spans.local_range(day, override.start, override.end, zone))
        else:
            blocked.append(spans.local_range(day, override.start, override.end, zone))
    return weekly, blocked, extra


def _expand(hours: Hours, first: date, last: date) -> tuple[list[Span], list[Span], list[Span]]:
    """The weekly, blocked and extra spans of local dates `first` through `last`."""
    zone = ZoneInfo(hours.time_zone)
    by_date: dict[date, list[Override]] = {}
    for override in hours.overrides:
        if first <= override.on_date <= last:
            by_date.setdefault(override.on_date, []).append(override)
    weekly: list[Span] = []
    blocked: list[Span] = []
    extra: list[Span] = []
    day = first
    while day <= last:
        day_weekly, day_blocked, day_extra = _day_spans(day, hours, zone, by_date.get(day, ()))
        weekly += day_weekly
        blocked += day_blocked
        extra += day_extra
        day += timedelta(days=1)
    return weekly, blocked, extra


Piece = tuple[int, int, int]  # (grid origin, start, end)


def available_pieces(hours: Hours, first: date, last: date) -> list[Piece]:
    """Available time from local date `first` through `last`: sorted disjoint UTC spans, each with
    the start of the open range (weekly or extra hours) it lies in. Starts step from that origin,
    so blocked time and bookings remove starts but never shift the grid."""
    weekly, blocked, extra = _expand(hours, first, last)
    open_ranges = spans.merge(weekly + extra)
    origins = [a for a, _ in open_ranges]
    available = spans.merge(spans.subtract(spans.merge(weekly), spans.merge(blocked)) + extra)
    return [(origins[bisect.bisect_right(origins, a) - 1], a, b) for a, b in available]


def available_ranges(hours: Hours, first: date, last: date) -> list[tuple[datetime, datetime]]:
    return [
        (datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC))
        for _, a, b in available_pieces(hours, first, last)
    ]


def blocked_ranges(hours: Hours, first: date, last: date) -> list[tuple[datetime, datetime]]:
    """The blocked overrides of local dates `first` through `last`: sorted, merged UTC spans."""
    return [
        (datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC))
        for a, b in spans.merge(_expand(hours, first, last)[1])
    ]


def grid_origins(hours: Hours, first: date, last: date) -> list[datetime]:
    return [datetime.fromtimestamp(o, UTC) for o, _, _ in available_pieces(hours, first, last)]


# ---------------------------------------------------------------- busy time


def _concurrency(spans: list[Span]) -> list[tuple[int, int, int]]:
    """(start, end, how many overlap) for every stretch where at least one does."""
    events: list[tuple[int, int]] = []
    for start, end in spans:
        events.append((start, 1))
        events.append((end, -1))
    events.sort()
    stretches: list[tuple[int, int, int]] = []
    count = 0
    previous = 0
    for moment, change in events:
        if count > 0 and moment > previous:
            stretches.append((previous, moment, count))
        count += change
        previous = moment
    return stretches


class _BusyTime:
    """Busy time as one offer sees it: what blocks a span outright, and its own service's load."""

    def __init__(self, busy: Iterable[Busy], offer: Offer, now: datetime) -> None:
        other: list[Span] = []
        same: list[Span] = []
        for booking in busy:
            if not is_blocking(booking.status, booking.hold_expires_at, now):
                continue
            span = (spans.seconds(booking.start), spans.seconds(booking.end))
            (same if booking.service_id == offer.service_id else other).append(span)
        self.load = _concurrency(same)
        self.load_ends = [b for _, b, _ in self.load]
        full = [(a, b) for a, b, count in self.load if count >= offer.capacity]
        self.blocked = spans.merge(other + full)
        self.blocked_ends = [b for _, b in self.blocked]
        self.capacity = offer.capacity
        self.before = offer.buffer_before_minutes * 60
        self.after = offer.buffer_after_minutes * 60
        self.duration = offer.duration_minutes * 60

    def blocked_until(self, s: int) -> int | None:
        """None when a session starting at s fits; else the end of the stretch it runs into."""
        low, high = s - self.before, s + self.duration + self.after
        i = bisect.bisect_right(self.blocked_ends, low)
        if i < len(self.blocked) and self.blocked[i][0] < high:
            return self.blocked[i][1]
        return None

    def remaining(self, s: int) -> int:
        """Seats left for a session starting at s (which fits)."""
        low, high = s - self.before, s + self.duration + self.after
        peak = 0
        j = bisect.bisect_right(self.load_ends, low)
        while j < len(self.load) and self.load[j][0] < high:
            peak = max(peak, self.load[j][2])
            j += 1
        return self.capacity - peak


def fits(busy: Iterable[Busy], offer: Offer, start: datetime, now: datetime) -> int | None:
    """Seats left if a session of `offer` at `start` fits around the busy time, else None.
    Hours, notice and window are not asked: this is for a tutor booking outside them."""
    busy_time = _BusyTime(busy, offer, now)
    s = spans.seconds(start)
    return None if busy_time.blocked_until(s) is not None else busy_time.remaining(s)


# ---------------------------------------------------------------- slots


def free_slots(
    hours: Hours,
    busy: Iterable[Busy],
    offer: Offer,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
) -> list[Slot]:
    """Every free slot starting in [start, end), sorted."""
    return list(_free_slots(hours, busy, offer, start=start, end=end, now=now))


def _free_slots(
    hours: Hours,
    busy: Iterable[Busy],
    offer: Offer,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
) -> Iterator[Slot]:
    """Free slots in order, made only as they are asked for."""
    zone = ZoneInfo(hours.time_zone)
    earliest = max(spans.seconds(start), spans.seconds(now) + offer.notice_minutes * 60)
    latest = min(spans.seconds(end) - 1, spans.seconds(now) + offer.window_days * DAY)
    if latest < earliest:
        return
    duration = offer.duration_minutes * 60
    step = offer.interval_minutes * 60
    # A range that begins the day before can still hold a slot that starts in the search.
    first = datetime.fromtimestamp(earliest, UTC).astimezone(zone).date() - timedelta(days=1)
    last = datetime.fromtimestamp(latest, UTC).astimezone(zone).date() + timedelta(days=1)
    pieces = available_pieces(hours, first, last)
    busy_time = _BusyTime(busy, offer, now)

    for origin, range_start, range_end in pieces:
        if range_end - range_start < duration or range_end <= earliest:
            continue
        floor = max(range_start, earliest)
        s = origin + -(-(floor - origin) // step) * step
        while s + duration <= range_end and s <= latest:
            until = busy_time.blocked_until(s)
            if until is not None:
                # Jump to the first grid start whose span clears this blocked stretch.
                clear = until + busy_time.before
                s += max(1, -(-(clear - s) // step)) * step
                continue
            yield Slot(
                datetime.fromtimestamp(s, UTC),
                datetime.fromtimestamp(s + duration, UTC),
                busy_time.remaining(s),
            )
            s += step


K = TypeVar("K")


def free_slots_of(
    calendars: Sequence[tuple[K, Hours, Iterable[Busy]]],
    offer: Offer,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    limit: int | None = None,
) -> list[tuple[K, Slot]]:
    """Free slots of several tutors (each with their hours and busy time), sorted by start and
    then by the tutors' order; only the first `limit` are made when it is given."""
    # Each tutor's slots come in order, so the merge (lazy) makes no slot past the limit.
    tagged = (
        zip(itertools.repeat(key), _free_slots(hours, busy, offer, start=start, end=end, now=now))
        for key, hours, busy in calendars
    )
    return list(itertools.islice(heapq.merge(*tagged, key=lambda f: f[1].start), limit))
