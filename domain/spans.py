"""Time as the slot engine reckons it: wall-clock times on local dates turned into instants
(integer seconds since the epoch) across DST, and the algebra of [start, end) spans. Pure."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MIDNIGHT = time(0, 0)

Span = tuple[int, int]  # [start, end) in epoch seconds
Seats = tuple[int, int, int]  # [start, end) and the seats there


# ---------------------------------------------------------------- wall clock to instants


def seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def instant(day: date, wall: time, zone: ZoneInfo, *, last: bool) -> int:
    """The instant a wall-clock time occurs on a date: its first (or last) occurrence, or the end
    of the gap when the clock skips it."""
    naive = datetime.combine(day, wall)
    early = seconds(naive.replace(tzinfo=zone, fold=0))
    late = seconds(naive.replace(tzinfo=zone, fold=1))
    if early == late:
        return early
    low, high = min(early, late), max(early, late)
    back = datetime.fromtimestamp(early, UTC).astimezone(zone).replace(tzinfo=None)
    if back == naive:  # it happens twice (clocks fall back)
        return high if last else low
    # Skipped (clocks spring forward): find the transition, the first instant in (low, high]
    # with the offset that follows the gap.
    after = datetime.fromtimestamp(high, UTC).astimezone(zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return high


def local_range(day: date, start: time, end: time, zone: ZoneInfo) -> Span:
    end_day = day + timedelta(days=1) if end == MIDNIGHT else day
    return instant(day, start, zone, last=False), instant(end_day, end, zone, last=True)


def local_span(day: date, start: time, end: time, time_zone: str) -> tuple[datetime, datetime]:
    """The instants a wall-clock range of one date covers (end 00:00: midnight after it)."""
    a, b = local_range(day, start, end, ZoneInfo(time_zone))
    return datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC)


# ---------------------------------------------------------------- interval algebra


def merge(spans: Iterable[Span]) -> list[Span]:
    """Sorted, disjoint; overlapping or touching spans become one."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def subtract(spans: list[Span], holes: list[Span]) -> list[Span]:
    """Both sorted and disjoint: one pass over each."""
    result: list[Span] = []
    i = 0
    for start, end in spans:
        while i < len(holes) and holes[i][1] <= start:
            i += 1  # holes wholly before this span are before every later one too
        cursor = start
        j = i
        while j < len(holes) and holes[j][0] < end:
            hole_start, hole_end = holes[j]
            if hole_start > cursor:
                result.append((cursor, hole_start))
            cursor = max(cursor, hole_end)
            if cursor >= end:
                break
            j += 1
        if cursor < end:
            result.append((cursor, end))
    return result


# ---------------------------------------------------------------- seats over time


def lowest(ranges: Iterable[Seats]) -> list[Seats]:
    """Sorted, disjoint stretches covered by at least one range, each with the fewest seats of
    the ranges over it."""
    given = list(ranges)
    bounds = sorted({moment for start, end, _ in given for moment in (start, end)})
    stretches: list[Seats] = []
    for low, high in itertools.pairwise(bounds):
        over = [n for start, end, n in given if start <= low and end >= high]
        if over:
            stretches.append((low, high, min(over)))
    return stretches


def fewest(stretches: Sequence[Seats], ends: Sequence[int], span: Span, default: int) -> int:
    """The fewest seats anywhere in `span`: the stretches' (sorted, disjoint, `ends` their ends)
    where they lie, `default` where none does."""
    low, high = span
    found: list[int] = []
    covered = low
    i = bisect.bisect_right(ends, low)
    while i < len(stretches) and stretches[i][0] < high:
        start, end, seats = stretches[i]
        found.append(seats if start <= covered else min(seats, default))  # a gap before it
        covered = end
        i += 1
    if covered < high:
        found.append(default)
    return min(found, default=default)


def concurrency(spans: list[Span]) -> list[tuple[int, int, int]]:
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
