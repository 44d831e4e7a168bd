"""Invariants of the slot engine under random schedules, overrides and bookings (hypothesis)."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.slots import (
    Busy,
    Hours,
    Offer,
    Override,
    Rule,
    Slot,
    available_ranges,
    fits,
    free_slots,
    grid_origins,
)
from models.bookings import BookingStatus

SERVICE = uuid.UUID(int=1)
OTHER = uuid.UUID(int=2)
ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
FIRST_DAY = date(2027, 3, 10)  # spans the US and EU spring transitions
DAYS = 21
NOW = datetime(2027, 3, 9, 12, tzinfo=UTC)
END = NOW + timedelta(days=DAYS)

quarter_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))


@st.composite
def rules(draw: st.DrawFn) -> list[Rule]:
    result = []
    for weekday in range(7):
        cursor = 0
        for _ in range(draw(st.integers(0, 2))):
            if cursor > 22 * 4:
                break
            start = draw(st.integers(cursor, 22 * 4)) * 15
            end = draw(st.integers(start // 15 + 1, 24 * 4)) * 15
            cursor = end // 15
            end_time = time(0) if end == 1440 else time(end // 60, end % 60)
            result.append(Rule(weekday, time(start // 60, start % 60), end_time))
            if end == 1440:
                break
    return result


@st.composite
def overrides(draw: st.DrawFn) -> list[Override]:
    result = []
    for _ in range(draw(st.integers(0, 6))):
        day = FIRST_DAY + timedelta(days=draw(st.integers(0, DAYS - 1)))
        if draw(st.booleans()):
            result.append(Override(day, None, None, False))
            continue
        start = draw(st.integers(0, 22 * 4)) * 15
        end = draw(st.integers(start // 15 + 1, 23 * 4 + 3)) * 15
        result.append(
            Override(
                day, time(start // 60, start % 60), time(end // 60, end % 60), draw(st.booleans())
            )
        )
    return result


@st.composite
def bookings(draw: st.DrawFn) -> list[Busy]:
    result = []
    for _ in range(draw(st.integers(0, 25))):
        start = NOW + timedelta(minutes=15 * draw(st.integers(0, DAYS * 96)))
        length = timedelta(minutes=15 * draw(st.integers(1, 12)))
        service = draw(st.sampled_from([SERVICE, SERVICE, OTHER]))
        result.append(Busy(start, start + length, service, BookingStatus.CONFIRMED))
    return result


offers = st.builds(
    Offer,
    service_id=st.just(SERVICE),
    duration_minutes=st.sampled_from([15, 30, 45, 60, 90]),
    interval_minutes=st.sampled_from([5, 15, 20, 30, 60]),
    buffer_before_minutes=st.sampled_from([0, 0, 10, 15]),
    buffer_after_minutes=st.sampled_from([0, 0, 5, 15]),
    capacity=st.integers(1, 3),
    notice_minutes=st.sampled_from([0, 60, 24 * 60]),
    window_days=st.integers(1, DAYS + 2),
)

# HYPOTHESIS_EXAMPLES=5000 pytest tests/availability/test_slot_properties.py for a longer hunt.
common = settings(
    max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def search(hours: Hours, busy: list[Busy], offer: Offer) -> list[Slot]:
    return free_slots(hours, busy, offer, start=NOW, end=END, now=NOW)


def span(slot: Slot, offer: Offer) -> tuple[datetime, datetime]:
    return (
        slot.start - timedelta(minutes=offer.buffer_before_minutes),
        slot.end + timedelta(minutes=offer.buffer_after_minutes),
    )


@common
@given(st.sampled_from(ZONES), rules(), overrides(), bookings(), offers)
def test_every_slot_obeys_every_rule(
    zone: str, weekly: list[Rule], changes: list[Override], busy: list[Busy], offer: Offer
) -> None:
    hours = Hours(zone, weekly, changes)
    slots = search(hours, busy, offer)
    first, last = FIRST_DAY - timedelta(days=2), FIRST_DAY + timedelta(days=DAYS + 2)
    ranges = available_ranges(hours, first, last)
    origins = grid_origins(hours, first, last)
    step = timedelta(minutes=offer.interval_minutes)
    assert slots == sorted(slots, key=lambda s: s.start)
    for slot in slots:
        # Inside one available range, on that range's grid.
        inside = [i for i, (a, b) in enumerate(ranges) if a <= slot.start and slot.end <= b]
        assert len(inside) == 1, slot
        assert (slot.start - origins[inside[0]]) % step == timedelta(0)
        # Notice and window.
        assert slot.start >= NOW + timedelta(minutes=offer.notice_minutes)
        assert slot.start <= NOW + timedelta(days=offer.window_days)
        low, high = span(slot, offer)
        # No other service's booking touches its span.
        assert not [b for b in busy if b.service_id == OTHER and b.start < high and b.end > low]
        # Fewer than capacity of its own service at every instant of its span.
        same = [b for b in busy if b.service_id == SERVICE and b.start < high and b.end > low]
        edges = sorted({low, *(b.start for b in same if b.start > low)})
        peak = max((sum(1 for b in same if b.start <= t < b.end) for t in edges), default=0)
        assert peak < offer.capacity
        assert slot.remaining == offer.capacity - peak


@common
@given(st.sampled_from(ZONES), rules(), bookings(), offers, st.data())
def test_removing_a_booking_never_removes_a_slot(
    zone: str, weekly: list[Rule], busy: list[Busy], offer: Offer, data: st.DataObject
) -> None:
    if not busy:
        return
    hours = Hours(zone, weekly)
    index = data.draw(st.integers(0, len(busy) - 1))
    before = {s.start for s in search(hours, busy, offer)}
    after = {s.start for s in search(hours, busy[:index] + busy[index + 1 :], offer)}
    assert before <= after


@common
@given(st.sampled_from(ZONES), rules(), overrides(), bookings(), offers, st.data())
def test_a_blocked_override_never_adds_a_slot(
    zone: str,
    weekly: list[Rule],
    changes: list[Override],
    busy: list[Busy],
    offer: Offer,
    data: st.DataObject,
) -> None:
    day = FIRST_DAY + timedelta(days=data.draw(st.integers(0, DAYS - 1)))
    whole = data.draw(st.booleans())
    start = data.draw(quarter_times)
    end = (datetime.combine(day, start) + timedelta(minutes=data.draw(st.integers(15, 600)))).time()
    block = (
        Override(day, None, None, False)
        if whole or end <= start
        else Override(day, start, end, False)
    )
    before = {s.start for s in search(Hours(zone, weekly, changes), busy, offer)}
    after = {s.start for s in search(Hours(zone, weekly, [*changes, block]), busy, offer)}
    assert after <= before


# ---------------------------------------------------------------- against a brute-force oracle
#
# The rules of the module docstring, applied literally to a grid of five-minute units in zones
# without DST (so a local minute maps to one instant): the engine must give exactly the same slots,
# seats included. This is what catches an off-by-one at a range, override, notice, window or
# capacity boundary, which the invariants above tolerate.

UNIT = 5  # minutes: every time the oracle draws is a multiple of it
FIXED_ZONES = ["UTC", "Pacific/Honolulu", "Asia/Kolkata", "Pacific/Kiritimati"]
ORACLE_DAY = date(2027, 6, 7)  # a Monday
ORACLE_NOW = datetime(2027, 6, 7, 6, tzinfo=UTC)
STATUSES = [*BookingStatus, BookingStatus.CONFIRMED]  # confirmed the most often


def _clock(units: int) -> time:
    return time(units * UNIT // 60, units * UNIT % 60)


# Midnight and touching ranges are where the boundaries are: draw them often.
edge_units = st.one_of(st.just(0), st.just(288), st.integers(0, 288))


@st.composite
def unit_rules(draw: st.DrawFn) -> list[Rule]:
    """Weekly ranges on the five-minute grid, often touching or running to midnight."""
    result = []
    for weekday in range(7):
        cursor = 0
        for _ in range(draw(st.integers(0, 2))):
            start = draw(st.just(cursor) | edge_units.filter(lambda u: u < 288))
            end = draw(st.just(288) | st.integers(start + 1, 288)) if start < 288 else 288
            result.append(Rule(weekday, _clock(start), _clock(end % 288)))
            cursor = end % 288
    return result


@st.composite
def unit_overrides(draw: st.DrawFn) -> list[Override]:
    """Blocks and extra hours around the search; a missing start or end means the whole day."""
    result = []
    for _ in range(draw(st.integers(0, 5))):
        day = ORACLE_DAY + timedelta(days=draw(st.integers(-2, 4)))
        start = draw(st.none() | edge_units.filter(lambda u: u < 288).map(_clock))
        end = draw(st.none() | edge_units.filter(lambda u: u > 0).map(lambda u: _clock(u % 288)))
        available = draw(st.booleans())
        capacity = draw(st.none() | st.integers(1, 4)) if available else None
        result.append(Override(day, start, end, available, capacity))
    return result


@st.composite
def unit_bookings(draw: st.DrawFn) -> list[Busy]:
    result = []
    for _ in range(draw(st.integers(0, 12))):
        start = ORACLE_NOW + timedelta(minutes=UNIT * draw(st.integers(-300, 1200)))
        length = timedelta(minutes=UNIT * draw(st.integers(1, 36)))
        status = draw(st.sampled_from(STATUSES))
        hold = None
        if status == BookingStatus.PENDING_PAYMENT:
            hold = draw(
                st.none() | st.integers(-2, 2).map(lambda m: ORACLE_NOW + timedelta(minutes=m))
            )
        service = draw(st.sampled_from([SERVICE, SERVICE, OTHER]))
        result.append(Busy(start, start + length, service, status, hold))
    return result


unit_offers = st.builds(
    Offer,
    service_id=st.just(SERVICE),
    duration_minutes=st.integers(1, 24).map(lambda u: u * UNIT),
    # Steps that do not divide a day show whose grid a slot is on.
    interval_minutes=st.sampled_from([5, 15, 25, 35, 45, 50, 60, 70]),
    buffer_before_minutes=st.integers(0, 4).map(lambda u: u * UNIT),
    buffer_after_minutes=st.integers(0, 4).map(lambda u: u * UNIT),
    capacity=st.integers(1, 3),
    notice_minutes=st.integers(0, 60).map(lambda u: u * UNIT),
    window_days=st.integers(0, 4),
)


def _runs(units: set[int]) -> list[tuple[int, int]]:
    """Maximal runs [a, b) of consecutive units."""
    runs: list[tuple[int, int]] = []
    for u in sorted(units):
        if runs and runs[-1][1] == u:
            runs[-1] = (runs[-1][0], u + 1)
        else:
            runs.append((u, u + 1))
    return runs


def _units(i: int, a: time, b: time) -> set[int]:
    """The units of a wall-clock range on the i-th date (end 00:00: midnight after it)."""
    low, high = (a.hour * 60 + a.minute) // UNIT, (b.hour * 60 + b.minute) // UNIT or 288
    return set(range(i * 288 + low, i * 288 + high))


def _override_seats(hours: Hours, first: date, days: int) -> dict[int, int]:
    """The fewest seats any available override with a capacity sets on each unit, counted from
    midnight of `first`: within its times, or its whole date when it has none."""
    seats: dict[int, int] = {}
    for o in hours.overrides:
        i = (o.on_date - first).days
        if o.capacity is None or not o.available or not 0 <= i < days:
            continue
        whole = o.start is None or o.end is None
        a, b = (time(0), time(0)) if whole else (o.start, o.end)
        for u in _units(i, a, b):  # type: ignore[arg-type]
            seats[u] = min(seats.get(u, o.capacity), o.capacity)
    return seats


def _seats(
    busy: list[Busy], offer: Offer, start: datetime, now: datetime, capacity: int
) -> int | None:
    """Seats left for a session at `start` around the busy time (`capacity` seats), None when it
    does not fit."""
    low = start - timedelta(minutes=offer.buffer_before_minutes)
    high = start + timedelta(minutes=offer.duration_minutes + offer.buffer_after_minutes)
    holding = [
        b
        for b in busy
        if b.start < high
        and b.end > low
        and (
            b.status in ("CONFIRMED", "COMPLETED", "NO_SHOW")
            or (
                (b.status == "PENDING_PAYMENT" and b.hold_expires_at is not None)
                and b.hold_expires_at > now
            )  # type: ignore[operator]
        )
    ]
    if any(b.service_id != offer.service_id for b in holding):
        return None
    moments = {low} | {b.start for b in holding if b.start > low}
    peak = max((sum(1 for b in holding if b.start <= t < b.end) for t in moments), default=0)
    return capacity - peak if peak < capacity else None


def oracle(
    hours: Hours, busy: list[Busy], offer: Offer, start: datetime, end: datetime, now: datetime
) -> list[Slot]:
    zone = ZoneInfo(hours.time_zone)
    earliest = max(start, now + timedelta(minutes=offer.notice_minutes))
    latest = min(end - timedelta(seconds=1), now + timedelta(days=offer.window_days))
    if latest < earliest:
        return []
    first = earliest.astimezone(zone).date() - timedelta(days=1)
    last = latest.astimezone(zone).date() + timedelta(days=1)
    base = datetime.combine(first, time(0), zone)  # a fixed offset: units map to instants

    weekly: set[int] = set()
    blocked: set[int] = set()
    extra: set[int] = set()
    for i in range((last - first).days + 1):
        day = first + timedelta(days=i)
        for rule in hours.rules:
            if rule.weekday == day.weekday():
                weekly |= _units(i, rule.start, rule.end)
        for o in hours.overrides:
            if o.on_date != day:
                continue
            if o.start is None or o.end is None:
                blocked |= set() if o.available else _units(i, time(0), time(0))
            else:
                (extra if o.available else blocked).update(_units(i, o.start, o.end))
    available = (weekly - blocked) | extra
    override_seats = _override_seats(hours, first, (last - first).days + 1)
    step, length = offer.interval_minutes // UNIT, offer.duration_minutes // UNIT
    found = []
    for origin, run_end in _runs(weekly | extra):
        for s in range(origin, run_end, step):
            moment = base + timedelta(minutes=s * UNIT)
            if not earliest <= moment <= latest:
                continue
            if not all(u in available for u in range(s, s + length)):
                continue
            capacity = min(override_seats.get(u, offer.capacity) for u in range(s, s + length))
            seats = _seats(busy, offer, moment, now, capacity)
            if seats is not None:
                end_at = moment + timedelta(minutes=offer.duration_minutes)
                found.append(Slot(moment.astimezone(UTC), end_at.astimezone(UTC), seats))
    return sorted(found, key=lambda slot: slot.start)


@common
@given(
    st.sampled_from(FIXED_ZONES),
    unit_rules(),
    unit_overrides(),
    unit_bookings(),
    unit_offers,
    st.integers(-150, 600),
    st.integers(1, 700),
)
def test_the_engine_agrees_with_a_brute_force_oracle(
    zone: str,
    weekly: list[Rule],
    changes: list[Override],
    busy: list[Busy],
    offer: Offer,
    from_units: int,
    span_units: int,
) -> None:
    hours = Hours(zone, weekly, changes)
    start = ORACLE_NOW + timedelta(minutes=UNIT * from_units)
    end = start + timedelta(minutes=UNIT * span_units)
    expected = oracle(hours, busy, offer, start, end, ORACLE_NOW)
    assert free_slots(hours, busy, offer, start=start, end=end, now=ORACLE_NOW) == expected


@common
@given(
    st.sampled_from(FIXED_ZONES),
    unit_overrides(),
    unit_bookings(),
    unit_offers,
    st.integers(-300, 1200),
)
def test_fits_agrees_with_the_oracle(
    zone: str, changes: list[Override], busy: list[Busy], offer: Offer, at_units: int
) -> None:
    # fits() asks only the busy time and the seats overrides set: hours, notice and window are
    # the caller's business.
    hours = Hours(zone, [], changes)
    start = ORACLE_NOW + timedelta(minutes=UNIT * at_units)
    first = ORACLE_DAY - timedelta(days=4)
    base = datetime.combine(first, time(0), ZoneInfo(zone))
    s = (start - base) // timedelta(minutes=UNIT)
    override_seats = _override_seats(hours, first, 10)
    length = offer.duration_minutes // UNIT
    capacity = min(override_seats.get(u, offer.capacity) for u in range(s, s + length))
    expected = _seats(busy, offer, start, ORACLE_NOW, capacity)
    assert fits(busy, offer, start, ORACLE_NOW, hours) == expected
    if not any(o.capacity for o in changes):
        assert fits(busy, offer, start, ORACLE_NOW) == expected
