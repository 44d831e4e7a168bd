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
  another service overlaps that span and fewer than its seats' worth of bookings of its own
  service overlap it at every instant;
- its seats are the service's `capacity`, or an override's `capacity` for every service within
  the override's times (the whole local date when it has none); a session [s, s+d) that meets
  several gets the fewest of them (so a slot straddling an override's edge gets the smaller).

Internally instants are integer seconds since the epoch, so a 60-day search takes milliseconds.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

from domain import spans
from models.bookings import BookingStatus

DAY = 86400

Span = spans.Span
Seats = spans.Seats


@dataclass(frozen=True, slots=True)
class Rule:
    """Weekly hours: weekday 0 is Monday; end 00:00 means midnight at the end of the day."""

    weekday: int
    start: time
    end: time


@dataclass(frozen=True, slots=True)
class Override:
    """A date in the schedule's zone: blocked (whole day when no times) or extra hours; when
    available, `capacity` sets every service's seats within its times (no times: the whole
    date, adding no hours)."""

    on_date: date
    start: time | None
    end: time | None
    available: bool
    capacity: int | None = None


@dataclass(frozen=True, slots=True)
class Hours:
    time_zone: str
    rules: Sequence[Rule]
    overrides: Sequence[Override] = ()


class Busy(NamedTuple):
    """A booking as the engine sees it: the span it occupies (buffers included) and its status.
    A tuple: a search reads thousands of them (a tuple is made three times faster than a frozen
    dataclass)."""

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


# Statuses that hold time whatever the moment (the fast path of is_blocking).
_HOLDING = BLOCKING - {BookingStatus.PENDING_PAYMENT}


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


@dataclass(slots=True)
class _Expanded:
    """Local dates' weekly, blocked and extra spans, and the seats overrides set."""

    weekly: list[Span] = field(default_factory=list)
    blocked: list[Span] = field(default_factory=list)
    extra: list[Span] = field(default_factory=list)
    seats: list[Seats] = field(default_factory=list)

    def add_day(
        self, day: date, hours: Hours, zone: ZoneInfo, overrides: Sequence[Override]
    ) -> None:
        self.weekly += [
            spans.local_range(day, r.start, r.end, zone)
            for r in hours.rules
            if r.weekday == day.weekday()
        ]
        for override in overrides:
            if override.start is None or override.end is None:
                span = spans.local_range(day, spans.MIDNIGHT, spans.MIDNIGHT, zone)
                if not override.available:
                    self.blocked.append(span)
            else:
                span = spans.local_range(day, override.start, override.end, zone)
                (self.extra if override.available else self.blocked).append(span)
            if override.available and override.capacity is not None:
                self.seats.append((*span, override.capacity))


def _expand(hours: Hours, first: date, last: date) -> _Expanded:
    """The spans of local dates `first` through `last`."""
    zone = ZoneInfo(hours.time_zone)
    by_date: dict[date, list[Override]] = {}
    for override in hours.overrides:
        if first <= override.on_date <= last:
            by_date.setdefault(override.on_date, []).append(override)
    expanded = _Expanded()
    day = first
    while day <= last:
        expanded.add_day(day, hours, zone, by_date.get(day, ()))
        day += timedelta(days=1)
    return expanded


Piece = tuple[int, int, int]  # (grid origin, start, end)


def available_pieces(hours: Hours, first: date, last: date) -> list[Piece]:
    """Available time from local date `first` through `last`: sorted disjoint UTC spans, each with
    the start of the open range (weekly or extra hours) it lies in. Starts step from that origin,
    so blocked time and bookings remove starts but never shift the grid."""
    return _pieces(_expand(hours, first, last))


def _pieces(expanded: _Expanded) -> list[Piece]:
    weekly, blocked, extra = expanded.weekly, expanded.blocked, expanded.extra
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
        for a, b in spans.merge(_expand(hours, first, last).blocked)
    ]


def grid_origins(hours: Hours, first: date, last: date) -> list[datetime]:
    return [datetime.fromtimestamp(o, UTC) for o, _, _ in available_pieces(hours, first, last)]


# ---------------------------------------------------------------- busy time


class _BusyTime:
    """Busy time as one offer sees it: what blocks a span outright, its own service's load, and
    the seats overrides set (`seats`: ranges of them, possibly overlapping)."""

    def __init__(
        self, busy: Iterable[Busy], offer: Offer, now: datetime, seats: Iterable[Seats] = ()
    ) -> None:
        other: list[Span] = []
        same: list[Span] = []
        service = offer.service_id.int
        # One pass, inline: a year of fifty tutors' bookings is 150,000 of them.
        for booking in busy:
            if booking.status not in _HOLDING and not is_blocking(
                booking.status, booking.hold_expires_at, now
            ):
                continue
            span = (int(booking.start.timestamp()), int(booking.end.timestamp()))
            (same if booking.service_id.int == service else other).append(span)
        self.seats = spans.lowest(seats)
        self.seat_ends = [b for _, b, _ in self.seats]
        self.capacity = offer.capacity
        # Full for any session: as many as the most seats anywhere (the capacity, without seats).
        most = max([offer.capacity] + [n for _, _, n in self.seats])
        self.load = spans.concurrency(same)
        self.load_ends = [b for _, b, _ in self.load]
        full = [(a, b) for a, b, count in self.load if count >= most]
        self.blocked = spans.merge(other + full)
        self.blocked_ends = [b for _, b in self.blocked]
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

    def remaining(self, s: int) -> int | None:
        """Seats left for a session starting at s (which fits around the blocked time), None
        when its seats are taken: its seats less the most of its service's bookings at once."""
        low, high = s - self.before, s + self.duration + self.after
        peak = 0
        j = bisect.bisect_right(self.load_ends, low)
        while j < len(self.load) and self.load[j][0] < high:
            peak = max(peak, self.load[j][2])
            j += 1
        if self.seats:
            session = (s, s + self.duration)
            left = spans.fewest(self.seats, self.seat_ends, session, self.capacity) - peak
        else:
            left = self.capacity - peak
        return left if left > 0 else None


def fits(
    busy: Iterable[Busy], offer: Offer, start: datetime, now: datetime, hours: Hours | None = None
) -> int | None:
    """Seats left if a session of `offer` at `start` fits around the busy time, else None.
    Hours, notice and window are not asked: this is for a tutor booking outside them; `hours`
    gives only the seats its overrides set."""
    seats: list[Seats] = []
    if hours is not None:
        zone = ZoneInfo(hours.time_zone)
        end = start + timedelta(minutes=offer.duration_minutes)
        first = start.astimezone(zone).date() - timedelta(days=1)
        seats = _expand(hours, first, end.astimezone(zone).date() + timedelta(days=1)).seats
    busy_time = _BusyTime(busy, offer, now, seats)
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
    return [slot for _, slot in _Search(offer, start, end, now).slots(hours, busy)]


class _Search:
    """One search's bounds, and what its tutors share: each distinct weekly schedule (zone,
    rules and overrides) expanded once, and one Slot per start and seats left (immutable, so
    every tutor free then shares it)."""

    def __init__(self, offer: Offer, start: datetime, end: datetime, now: datetime) -> None:
        self.offer, self.now = offer, now
        self.earliest = max(spans.seconds(start), spans.seconds(now) + offer.notice_minutes * 60)
        self.latest = min(spans.seconds(end) - 1, spans.seconds(now) + offer.window_days * DAY)
        self.duration = offer.duration_minutes * 60
        self.step = offer.interval_minutes * 60
        self._expanded: dict[object, tuple[list[Piece], list[Seats]]] = {}
        self._slots: dict[tuple[int, int], Slot] = {}

    def _expand(self, hours: Hours) -> tuple[list[Piece], list[Seats]]:
        key = (hours.time_zone, tuple(hours.rules), tuple(hours.overrides))
        found = self._expanded.get(key)
        if found is None:
            zone = ZoneInfo(hours.time_zone)
            # A range that begins the day before can still hold a slot that starts in the search.
            first = datetime.fromtimestamp(self.earliest, UTC).astimezone(zone).date()
            last = datetime.fromtimestamp(self.latest, UTC).astimezone(zone).date()
            expanded = _expand(hours, first - timedelta(days=1), last + timedelta(days=1))
            found = self._expanded[key] = (_pieces(expanded), expanded.seats)
        return found

    def slots(self, hours: Hours, busy: Iterable[Busy]) -> Iterator[tuple[int, Slot]]:
        """One tutor's free slots in order (with their starts), made only as asked for."""
        earliest, latest, duration, step = self.earliest, self.latest, self.duration, self.step
        if latest < earliest:
            return
        pieces, seats = self._expand(hours)
        busy_time = _BusyTime(busy, self.offer, self.now, seats)
        # Without seats overrides or bookings of its own service, a slot that fits has them all.
        plain = None if busy_time.load or busy_time.seats else busy_time.capacity
        made = self._slots
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
                left = plain or busy_time.remaining(s)
                if left is not None:
                    slot = made.get((s, left))
                    if slot is None:
                        slot = made[s, left] = Slot(_instant(s), _instant(s + duration), left)
                    yield s, slot
                s += step


def _instant(s: int) -> datetime:
    return datetime.fromtimestamp(s, UTC)


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
    search = _Search(offer, start, end, now)
    # Each tutor's slots come in order, so the merge (lazy) makes no slot past the limit; the
    # tuples order by start, then by the tutor's place (never reaching the key).
    tagged = (
        _tagged(search.slots(hours, busy), i, key) for i, (key, hours, busy) in enumerate(calendars)
    )
    return [(key, slot) for _, _, key, slot in itertools.islice(heapq.merge(*tagged), limit)]


def _tagged(
    slots: Iterator[tuple[int, Slot]], place: int, key: K
) -> Iterator[tuple[int, int, K, Slot]]:
    for s, slot in slots:
        yield s, place, key, slot
