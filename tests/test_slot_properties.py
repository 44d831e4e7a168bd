"""Invariants of the slot engine under random schedules, overrides and bookings (hypothesis)."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, date, datetime, time, timedelta

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
    free_slots,
    grid_origins,
)

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
        result.append(Busy(start, start + length, service, "CONFIRMED"))
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

# HYPOTHESIS_EXAMPLES=5000 pytest tests/test_slot_properties.py for a longer hunt.
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
