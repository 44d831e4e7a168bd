"""Per-date capacity in the pure engine: seats an override sets, slots straddling its edges,
overlapping overrides, whole local dates across DST, the tutor's check (`fits`), and that
capacity changes nothing outside the time it covers."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from domain import spans
from domain.slots import Busy, Hours, Offer, Override, Rule, Slot, fits, free_slots
from models.bookings import BookingStatus
from tests.availability.test_slot_properties import (
    DAYS,
    FIRST_DAY,
    ZONES,
    bookings,
    common,
    offers,
    overrides,
    rules,
    search,
)

SERVICE = uuid.UUID(int=1)
OTHER = uuid.UUID(int=2)
DAY = date(2027, 6, 7)  # a Monday
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
NINE_TO_FIVE = [Rule(weekday, time(9), time(17)) for weekday in range(7)]


def offer(capacity: int = 1, minutes: int = 60, interval: int = 60, **more: int) -> Offer:
    return Offer(SERVICE, minutes, interval, capacity=capacity, window_days=3650, **more)


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def booked(hour: int, minute: int = 0, minutes: int = 60, service: uuid.UUID = SERVICE) -> Busy:
    start = at(hour, minute)
    return Busy(start, start + timedelta(minutes=minutes), service, BookingStatus.CONFIRMED)


def seats(changes: list[Override], busy: list[Busy], wanted: Offer) -> dict[str, int]:
    """Each slot of DAY (UTC) as 'HH:MM' -> seats left."""
    hours = Hours("UTC", NINE_TO_FIVE, changes)
    found = free_slots(
        hours, busy, wanted, start=at(0), end=at(0, day=DAY + timedelta(1)), now=LONG_AGO
    )
    return {s.start.strftime("%H:%M"): s.remaining for s in found}


def test_extra_hours_with_capacity_add_hours_and_seats_within_them_only() -> None:
    extra = Override(DAY, time(17), time(20), True, capacity=3)
    found = seats([extra], [], offer())
    assert found["16:00"] == 1 and found["17:00"] == 3 and found["19:00"] == 3
    assert "20:00" not in found


def test_seats_count_down_and_the_last_seat_closes_the_slot() -> None:
    change = [Override(DAY, time(9), time(12), True, capacity=3)]
    assert seats(change, [booked(10)], offer())["10:00"] == 2
    assert seats(change, [booked(10), booked(10)], offer())["10:00"] == 1
    assert "10:00" not in seats(change, [booked(10)] * 3, offer())
    # Outside the override one booking fills the one-to-one service, as before.
    assert "13:00" not in seats(change, [booked(13)], offer())


def test_a_whole_date_override_changes_seats_not_hours() -> None:
    whole = Override(DAY, None, None, True, capacity=2)
    found = seats([whole], [booked(9)], offer(capacity=10))
    assert found == {f"{h:02}:00": 1 if h == 9 else 2 for h in range(9, 17)}
    # The next date keeps the service's capacity.
    hours = Hours("UTC", NINE_TO_FIVE, [whole])
    next_day = free_slots(
        hours,
        [],
        offer(capacity=10),
        start=at(0, day=DAY + timedelta(1)),
        end=at(0, day=DAY + timedelta(2)),
        now=LONG_AGO,
    )
    assert {s.remaining for s in next_day} == {10}


def test_a_slot_straddling_the_edge_gets_the_fewer_seats() -> None:
    # The override 10:30-12:00 gives 4 seats, the service has 2: 90-minute slots on a 30-minute
    # grid starting 09:00 to 10:00 straddle its start, 11:00 and later straddle its end.
    change = [Override(DAY, time(10, 30), time(12), True, capacity=4)]
    found = seats(change, [], offer(capacity=2, minutes=90, interval=30))
    assert found["09:00"] == 2  # entirely before it
    assert found["10:00"] == 2  # straddles its start
    assert found["10:30"] == 4  # entirely inside (10:30-12:00)
    assert found["11:00"] == 2  # straddles its end
    # The other way round: fewer seats inside than the service's.
    fewer = [Override(DAY, time(10, 30), time(12), True, capacity=1)]
    found = seats(fewer, [], offer(capacity=3, minutes=90, interval=30))
    assert (found["09:00"], found["10:00"], found["10:30"], found["11:00"]) == (3, 1, 1, 1)


def test_a_straddling_slot_counts_bookings_across_its_whole_span() -> None:
    # Two bookings 09:00-10:00 outside the override; a 09:30-10:30 slot straddles the override
    # (10:00-12:00, 2 seats) so it has 2 seats, both taken at 09:30: no slot.
    change = [Override(DAY, time(10), time(12), True, capacity=2)]
    found = seats(change, [booked(9), booked(9)], offer(capacity=5, minutes=60, interval=30))
    assert found["09:00"] == 3 and "09:30" not in found and found["10:00"] == 2


def test_overlapping_overrides_give_the_fewest_seats_and_gaps_the_service_capacity() -> None:
    changes = [
        Override(DAY, time(9), time(12), True, capacity=5),
        Override(DAY, time(10), time(11), True, capacity=3),
        Override(DAY, time(13), time(14), True, capacity=6),
    ]
    found = seats(changes, [], offer(capacity=2, minutes=60, interval=60))
    assert [found[f"{h:02}:00"] for h in range(9, 15)] == [5, 3, 5, 2, 6, 2]
    # A session over 11:00-14:00 meets 5, the gap's 2 and 6: the gap decides.
    long = seats(changes, [], offer(capacity=2, minutes=180, interval=60))
    assert long["11:00"] == 2


def test_a_blocked_override_never_gives_seats() -> None:
    change = [Override(DAY, time(9), time(12), False, capacity=5)]
    assert "10:00" not in seats(change, [], offer())
    assert seats(change, [], offer(capacity=2))["13:00"] == 2


def test_another_services_booking_still_blocks_whatever_the_seats() -> None:
    change = [Override(DAY, None, None, True, capacity=5)]
    assert "10:00" not in seats(change, [booked(10, service=OTHER)], offer())


def test_a_whole_date_on_a_dst_day_covers_the_local_days_instants() -> None:
    # New York springs forward on 14 March 2027: that date has 23 hours.
    zone = ZoneInfo("America/New_York")
    day = date(2027, 3, 14)
    hours = Hours(
        "America/New_York",
        [Rule(weekday, time(0), time(0)) for weekday in range(7)],
        [Override(day, None, None, True, capacity=3)],
    )
    start = datetime.combine(day - timedelta(days=1), time(0), zone)
    found = free_slots(hours, [], offer(), start=start, end=start + timedelta(days=3), now=LONG_AGO)
    on: dict[date, set[int]] = {}
    for s in found:
        on.setdefault(s.start.astimezone(zone).date(), set()).add(s.remaining)
    assert on == {day - timedelta(days=1): {1}, day: {3}, day + timedelta(days=1): {1}}
    assert sum(1 for s in found if s.remaining == 3) == 23


def test_fits_honours_the_seats_of_the_hours_it_is_given() -> None:
    hours = Hours("UTC", [], [Override(DAY, None, None, True, capacity=3)])
    two = [booked(10), booked(10)]
    assert fits(two, offer(), at(10), LONG_AGO) is None  # without hours: the capacity, 1
    assert fits(two, offer(), at(10), LONG_AGO, hours) == 1
    assert fits([*two, booked(10)], offer(), at(10), LONG_AGO, hours) is None
    # A session crossing into the next date meets that date's seats too: the capacity, 1.
    midnight = at(0, day=DAY + timedelta(days=1))
    next_date = [Busy(midnight, midnight + timedelta(hours=1), SERVICE, BookingStatus.CONFIRMED)]
    assert fits(next_date, offer(), at(23), LONG_AGO, hours) == 3
    assert fits(next_date, offer(minutes=120), at(23), LONG_AGO, hours) is None


def test_lowest_and_fewest() -> None:
    stretches = spans.lowest([(0, 10, 5), (5, 15, 3), (20, 30, 7)])
    assert stretches == [(0, 5, 5), (5, 10, 3), (10, 15, 3), (20, 30, 7)]
    ends = [b for _, b, _ in stretches]
    assert spans.fewest(stretches, ends, (0, 5), 9) == 5
    assert spans.fewest(stretches, ends, (0, 6), 9) == 3
    assert spans.fewest(stretches, ends, (20, 30), 9) == 7
    assert spans.fewest(stretches, ends, (12, 22), 9) == 3
    assert spans.fewest(stretches, ends, (20, 31), 4) == 4  # runs past the last
    assert spans.fewest(stretches, ends, (16, 29), 8) == 7  # a gap before the first it meets
    assert spans.fewest(stretches, ends, (40, 50), 8) == 8


# ---------------------------------------------------------------- properties


def _strip(changes: list[Override]) -> list[Override]:
    return [Override(o.on_date, o.start, o.end, o.available) for o in changes]


@st.composite
def with_capacity(draw: st.DrawFn) -> list[Override]:
    """Overrides as elsewhere, and available ones with a capacity, some for the whole date."""
    result = draw(overrides())
    for _ in range(draw(st.integers(1, 4))):
        day = FIRST_DAY + timedelta(days=draw(st.integers(0, DAYS - 1)))
        capacity = draw(st.integers(1, 4))
        if draw(st.booleans()):
            result.append(Override(day, None, None, True, capacity))
        else:
            start = draw(st.integers(0, 22 * 4)) * 15
            end = draw(st.integers(start // 15 + 1, 23 * 4 + 3)) * 15
            wall = time(start // 60, start % 60), time(end // 60, end % 60)
            result.append(Override(day, *wall, True, capacity))
    return result


def _covered(slot: Slot, zone: ZoneInfo, changes: list[Override]) -> bool:
    for o in changes:
        if o.capacity is None:
            continue
        a, b = o.start or spans.MIDNIGHT, o.end or spans.MIDNIGHT
        if o.start is None or o.end is None:
            a = b = spans.MIDNIGHT
        low, high = spans.local_range(o.on_date, a, b, zone)
        if spans.seconds(slot.start) < high and spans.seconds(slot.end) > low:
            return True
    return False


@common
@given(st.sampled_from(ZONES), rules(), with_capacity(), bookings(), offers)
def test_capacity_changes_only_the_slots_whose_session_it_covers(
    zone: str, weekly: list[Rule], changes: list[Override], busy: list[Busy], wanted: Offer
) -> None:
    # Without capacities the engine is the one the oracle checks (test_slot_properties.py).
    plain = search(Hours(zone, weekly, _strip(changes)), busy, wanted)
    seated = search(Hours(zone, weekly, changes), busy, wanted)
    z = ZoneInfo(zone)
    assert [s for s in plain if not _covered(s, z, changes)] == [
        s for s in seated if not _covered(s, z, changes)
    ]
    # Inside, the seats are capacities some override or the service has, never more than the
    # most of them.
    most = max([wanted.capacity] + [o.capacity or 0 for o in changes])
    assert all(0 < s.remaining <= most for s in seated)
