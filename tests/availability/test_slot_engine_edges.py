"""The slot engine at its edges: what a mutation run showed the other tests did not pin down."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.slots import (
    BLOCKING,
    Busy,
    Hours,
    Offer,
    Override,
    Rule,
    Slot,
    available_ranges,
    free_slots,
    free_slots_of,
    grid_origins,
    is_blocking,
    occupied,
)
from domain.spans import local_span
from models.bookings import BookingStatus

SERVICE = uuid.UUID(int=1)
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
MONDAY = date(2027, 6, 7)


def at(hour: int, minute: int = 0, day: date = MONDAY) -> datetime:
    return datetime.combine(day, time(hour, minute), UTC)


def offer(**changes: int) -> Offer:
    base = {"duration_minutes": 60, "interval_minutes": 60, "window_days": 3650}
    base.update(changes)
    return Offer(service_id=SERVICE, **base)


def test_which_statuses_hold_time() -> None:
    # BLOCKING is every status but two: a status added later must be placed here knowingly.
    assert {
        BookingStatus.PENDING_PAYMENT,
        BookingStatus.CONFIRMED,
        BookingStatus.COMPLETED,
        BookingStatus.NO_SHOW,
    } == BLOCKING
    now, later = LONG_AGO, LONG_AGO + timedelta(seconds=1)
    assert is_blocking(BookingStatus.PENDING_PAYMENT, later, now)  # its hold still runs
    assert not is_blocking(BookingStatus.PENDING_PAYMENT, now, now)
    assert not is_blocking(BookingStatus.PENDING_PAYMENT, None, now)
    assert is_blocking(BookingStatus.NO_SHOW, None, now)
    assert not is_blocking(BookingStatus.CANCELLED, later, now)
    assert not is_blocking(BookingStatus.EXPIRED, None, now)


def test_a_booking_occupies_its_buffers_on_both_sides() -> None:
    assert occupied(at(10), at(11), 15, 10) == (at(9, 45), at(11, 10))
    assert occupied(at(10), at(11), 0, 0) == (at(10), at(11))


def test_local_span_is_the_instants_of_a_wall_clock_range() -> None:
    # New York is at -04:00 in June; end 00:00 is the midnight after the date.
    assert local_span(MONDAY, time(9, 30), time(0), "America/New_York") == (
        at(13, 30),
        at(4, day=MONDAY + timedelta(days=1)),
    )
    # The first 01:30 and the last 01:45 of a fall-back night.
    night = date(2027, 11, 7)
    assert local_span(night, time(1, 30), time(1, 45), "America/New_York") == (
        datetime(2027, 11, 7, 5, 30, tzinfo=UTC),
        datetime(2027, 11, 7, 6, 45, tzinfo=UTC),
    )


def test_spring_forward_gap_moves_a_start_or_end_to_the_end_of_the_gap() -> None:
    gap_day = date(2027, 3, 14)  # New York: 02:00 -> 03:00
    start, end = local_span(gap_day, time(2, 30), time(2, 45), "America/New_York")
    assert start == end == datetime(2027, 3, 14, 7, tzinfo=UTC)  # 03:00 EDT
    # To the second, wherever the search for the transition starts from.
    for minute in (1, 17, 59):
        start, _ = local_span(gap_day, time(2, minute), time(4), "America/New_York")
        assert start == datetime(2027, 3, 14, 7, tzinfo=UTC), minute
    # Lord Howe skips half an hour (02:00 -> 02:30): 02:10 becomes 02:30 (+11:00).
    start, _ = local_span(date(2027, 10, 3), time(2, 10), time(3), "Australia/Lord_Howe")
    assert start == datetime(2027, 10, 2, 15, 30, tzinfo=UTC)


def test_a_half_given_override_blocks_the_whole_day() -> None:
    hours = Hours("UTC", [Rule(0, time(9), time(12))], [Override(MONDAY, time(10), None, False)])
    assert available_ranges(hours, MONDAY, MONDAY) == []
    hours = Hours("UTC", [Rule(0, time(9), time(12))], [Override(MONDAY, None, time(10), False)])
    assert available_ranges(hours, MONDAY, MONDAY) == []
    # ... while a half-given extra adds nothing.
    hours = Hours("UTC", [], [Override(MONDAY, time(10), None, True)])
    assert available_ranges(hours, MONDAY, MONDAY) == []


def test_an_empty_range_is_dropped_and_the_rest_kept() -> None:
    # 02:15-02:45 does not exist on New York's spring-forward Sunday: it is empty, not the end.
    sunday = date(2027, 3, 14)
    rules = [Rule(6, time(2, 15), time(2, 45)), Rule(6, time(9), time(10))]
    assert available_ranges(Hours("America/New_York", rules), sunday, sunday) == [
        (datetime(2027, 3, 14, 13, tzinfo=UTC), datetime(2027, 3, 14, 14, tzinfo=UTC))
    ]


def test_a_whole_day_block_is_the_local_day() -> None:
    # Honolulu is at -10:00: its 7 June runs from 10:00 UTC on 7 June to 10:00 UTC on 8 June.
    rules = [Rule(d, time(9), time(17)) for d in range(7)]
    blocked = Hours("Pacific/Honolulu", rules, [Override(MONDAY, None, None, False)])
    around = available_ranges(blocked, MONDAY - timedelta(days=1), MONDAY + timedelta(days=1))
    assert [a.astimezone(ZoneInfo("Pacific/Honolulu")).date() for a, _ in around] == [
        MONDAY - timedelta(days=1),
        MONDAY + timedelta(days=1),
    ]


def test_overrides_on_the_first_and_last_dates_count() -> None:
    rules = [Rule(d, time(9), time(10)) for d in range(7)]
    sunday = MONDAY + timedelta(days=6)
    blocks = [Override(MONDAY, None, None, False), Override(sunday, None, None, False)]
    ranges = available_ranges(Hours("UTC", rules, blocks), MONDAY, sunday)
    assert [a.date() for a, _ in ranges] == [MONDAY + timedelta(days=d) for d in range(1, 6)]
    extras = [
        Override(MONDAY, time(11), time(12), True),
        Override(sunday, time(11), time(12), True),
    ]
    ranges = available_ranges(Hours("UTC", [], extras), MONDAY, sunday)
    assert ranges == [(at(11), at(12)), (at(11, day=sunday), at(12, day=sunday))]


def test_blocks_cut_ranges_at_their_exact_edges() -> None:
    rules = [Rule(0, time(9), time(17))]
    blocks = [
        Override(MONDAY, time(9), time(10), False),  # at the start
        Override(MONDAY, time(12), time(13), False),  # inside
        Override(MONDAY, time(13), time(14), False),  # touching the one before
        Override(MONDAY, time(16), time(18), False),  # past the end
    ]
    assert available_ranges(Hours("UTC", rules, blocks), MONDAY, MONDAY) == [
        (at(10), at(12)),
        (at(14), at(16)),
    ]
    # A block covering it all leaves nothing; one outside leaves it whole.
    whole = [Override(MONDAY, time(8), time(18), False)]
    assert available_ranges(Hours("UTC", rules, whole), MONDAY, MONDAY) == []
    outside = [Override(MONDAY, time(17), time(18), False)]
    assert available_ranges(Hours("UTC", rules, outside), MONDAY, MONDAY) == [(at(9), at(17))]


def test_touching_ranges_merge_and_keep_the_first_grid() -> None:
    # 09:00-10:00 and 10:00-11:00 are one range: a 45-minute grid from 09:00 runs through 10:00.
    rules = [Rule(0, time(9), time(10)), Rule(0, time(10), time(11))]
    hours = Hours("UTC", rules)
    assert available_ranges(hours, MONDAY, MONDAY) == [(at(9), at(11))]
    slots = free_slots(hours, [], offer(interval_minutes=45), start=at(0), end=at(23), now=LONG_AGO)
    assert [s.start for s in slots] == [at(9), at(9, 45)]
    # A block does not move the grid: starts stay on 09:00 + n * 45 minutes.
    blocked = Hours("UTC", rules, [Override(MONDAY, time(9), time(9, 30), False)])
    assert grid_origins(blocked, MONDAY, MONDAY) == [at(9)]
    slots = free_slots(
        blocked,
        [],
        offer(interval_minutes=45, duration_minutes=30),
        start=at(0),
        end=at(23),
        now=LONG_AGO,
    )
    assert [s.start for s in slots] == [at(9, 45), at(10, 30)]


def test_a_range_from_the_day_before_sets_the_grid() -> None:
    # Open all day every day in Honolulu (-10:00, no DST): the grid starts at the search's local
    # date minus one, and 50 minutes does not divide a day.
    zone = ZoneInfo("Pacific/Honolulu")
    hours = Hours("Pacific/Honolulu", [Rule(d, time(0), time(0)) for d in range(7)])
    start = datetime(2027, 6, 7, 15, tzinfo=zone)  # already 8 June in UTC
    slots = free_slots(
        hours,
        [],
        offer(interval_minutes=50, duration_minutes=50),
        start=start,
        end=start + timedelta(hours=2),
        now=LONG_AGO,
    )
    origin = datetime(2027, 6, 6, tzinfo=zone)
    assert [(s.start - origin) % timedelta(minutes=50) for s in slots] == [timedelta(0)] * 3
    assert slots[0].start.astimezone(zone).time() == time(15, 10)  # 15:00 on a 7 June grid


def test_a_slot_on_the_last_local_date_may_run_past_midnight() -> None:
    # Kiritimati is at +14:00: 13:00 on 7 June there is still 6 June in UTC, and a twelve-hour
    # session from it runs into 8 June, whose hours must be read too.
    zone = ZoneInfo("Pacific/Kiritimati")
    hours = Hours("Pacific/Kiritimati", [Rule(d, time(0), time(0)) for d in range(7)])
    start = datetime(2027, 6, 7, 13, tzinfo=zone)
    slots = free_slots(
        hours,
        [],
        offer(duration_minutes=720),
        start=start,
        end=start + timedelta(minutes=1),
        now=LONG_AGO,
    )
    assert [s.start for s in slots] == [start]


def test_search_bounds_are_inclusive_of_start_and_exclusive_of_end() -> None:
    hours = Hours("UTC", [Rule(0, time(9), time(12))])
    slots = free_slots(hours, [], offer(), start=at(10), end=at(11), now=LONG_AGO)
    assert [s.start for s in slots] == [at(10)]
    slots = free_slots(
        hours, [], offer(), start=at(10), end=at(11, 0) + timedelta(seconds=1), now=LONG_AGO
    )
    assert [s.start for s in slots] == [at(10), at(11)]
    # A session must end by the end of its range, and may end exactly there.
    assert free_slots(
        hours, [], offer(duration_minutes=180), start=at(0), end=at(23), now=LONG_AGO
    ) == [Slot(at(9), at(12), 1)]
    assert (
        free_slots(hours, [], offer(duration_minutes=181), start=at(0), end=at(23), now=LONG_AGO)
        == []
    )
    assert free_slots(hours, [], offer(), start=at(11), end=at(11), now=LONG_AGO) == []


def test_notice_and_window_edges_are_inclusive() -> None:
    hours = Hours("UTC", [Rule(d, time(9), time(12)) for d in range(7)])
    now = at(8)
    # Exactly the notice ahead: offered. One minute less would not be.
    slots = free_slots(hours, [], offer(notice_minutes=60), start=now, end=at(12), now=now)
    assert [s.start for s in slots] == [at(9), at(10), at(11)]
    slots = free_slots(hours, [], offer(notice_minutes=61), start=now, end=at(12), now=now)
    assert [s.start for s in slots] == [at(10), at(11)]
    # Exactly the window ahead: offered.
    later = at(9) - timedelta(days=1)
    slots = free_slots(hours, [], offer(window_days=1), start=at(9), end=at(12), now=later)
    assert [s.start for s in slots] == [at(9)]
    # A window of zero days offers only what starts now.
    slots = free_slots(hours, [], offer(window_days=0), start=at(9), end=at(12), now=at(9))
    assert [s.start for s in slots] == [at(9)]


def test_buffers_touching_a_booking_are_free_and_overlapping_are_not() -> None:
    hours = Hours("UTC", [Rule(0, time(8), time(18))])
    other = uuid.UUID(int=2)
    busy = [Busy(at(12), at(13), other, BookingStatus.CONFIRMED)]
    search = dict(start=at(0), end=at(23), now=LONG_AGO)
    starts = [
        s.start
        for s in free_slots(
            hours, busy, offer(buffer_after_minutes=30, interval_minutes=30), **search
        )
    ]
    # 10:30-11:30 and its buffer to 12:00 touch the booking; 11:00 overlaps it.
    assert at(10, 30) in starts and at(11) not in starts and at(13) in starts
    starts = [
        s.start
        for s in free_slots(
            hours, busy, offer(buffer_before_minutes=30, interval_minutes=30), **search
        )
    ]
    assert at(13) not in starts and at(13, 30) in starts and at(11) in starts
    # After a blocked stretch the search jumps to the first grid start that clears it.
    starts = [
        s.start
        for s in free_slots(
            hours, busy, offer(buffer_before_minutes=20, interval_minutes=15), **search
        )
    ]
    assert [t for t in starts if at(11) <= t <= at(14)] == [at(11), at(13, 30), at(13, 45), at(14)]


def test_a_buffer_before_reaches_back_past_the_start_of_hours() -> None:
    # Hours from 13:00; a booking of another service ends at 13:00. With 30 minutes before, the
    # first start is 13:30, although nothing inside the hours is taken.
    hours = Hours("UTC", [Rule(0, time(13), time(18))])
    busy = [Busy(at(12), at(13), uuid.UUID(int=2), BookingStatus.CONFIRMED)]
    slots = free_slots(
        hours,
        busy,
        offer(buffer_before_minutes=30, interval_minutes=30),
        start=at(0),
        end=at(23),
        now=LONG_AGO,
    )
    assert slots[0].start == at(13, 30)


def test_the_busiest_moment_of_a_span_sets_the_seats() -> None:
    hours = Hours("UTC", [Rule(0, time(8), time(18))])
    busy = [
        Busy(at(10), at(10, 40), SERVICE, BookingStatus.CONFIRMED),
        Busy(at(10, 20), at(11), SERVICE, BookingStatus.CONFIRMED),
    ]
    seats = {
        s.start: s.remaining
        for s in free_slots(hours, busy, offer(capacity=3), start=at(0), end=at(23), now=LONG_AGO)
    }
    assert seats[at(10)] == 1  # 1, then 2 from 10:20 to 10:40, then 1: the peak is 2


def test_seats_count_what_the_buffers_reach() -> None:
    # A session at 10:00 with 30 minutes after it spans 10:00 to 11:30: a booking of its service
    # at 11:00 takes a seat from it; one at 11:30 (touching) does not.
    hours = Hours("UTC", [Rule(0, time(8), time(18))])
    roomy = offer(capacity=2, buffer_after_minutes=30)
    search = dict(start=at(10), end=at(10, 1), now=LONG_AGO)
    for booked, seats in ((at(11), 1), (at(11, 30), 2)):
        busy = [Busy(booked, booked + timedelta(minutes=30), SERVICE, BookingStatus.CONFIRMED)]
        assert [s.remaining for s in free_slots(hours, busy, roomy, **search)] == [seats]


def test_capacity_counts_overlap_at_each_instant() -> None:
    hours = Hours("UTC", [Rule(0, time(8), time(18))])
    search = dict(start=at(0), end=at(23), now=LONG_AGO)
    # Two bookings that only touch never overlap: capacity 2 leaves one seat across both.
    busy = [
        Busy(at(10), at(11), SERVICE, BookingStatus.CONFIRMED),
        Busy(at(11), at(12), SERVICE, BookingStatus.CONFIRMED),
    ]
    seats = {
        s.start: s.remaining
        for s in free_slots(hours, busy, offer(capacity=2, duration_minutes=120), **search)
    }
    assert seats[at(10)] == 1 and seats[at(9)] == 1 and seats[at(12)] == 2 and seats[at(8)] == 2
    # Capacity 1: a start right at a booking's end is free, one before is not.
    seats = {s.start: s.remaining for s in free_slots(hours, busy[:1], offer(), **search)}
    assert at(11) in seats and at(10) not in seats and at(9) in seats
    # Three at once against capacity 3: full; two: one seat left.
    three = [Busy(at(14), at(15), SERVICE, BookingStatus.CONFIRMED)] * 3
    seats = {s.start: s.remaining for s in free_slots(hours, three, offer(capacity=3), **search)}
    assert at(14) not in seats
    seats = {
        s.start: s.remaining for s in free_slots(hours, three[:2], offer(capacity=3), **search)
    }
    assert seats[at(14)] == 1


def test_slots_of_several_tutors_merge_by_start_then_tutor_order() -> None:
    early = Hours("UTC", [Rule(0, time(9), time(11))])
    late = Hours("UTC", [Rule(0, time(10), time(12))])
    calendars: list[tuple[str, Hours, list[Busy]]] = [("b", late, []), ("a", early, [])]
    found = free_slots_of(calendars, offer(), start=at(0), end=at(23), now=LONG_AGO)
    assert [(k, s.start.hour) for k, s in found] == [("a", 9), ("b", 10), ("a", 10), ("b", 11)]
    limited = free_slots_of(calendars, offer(), start=at(0), end=at(23), now=LONG_AGO, limit=2)
    assert [(k, s.start.hour) for k, s in limited] == [("a", 9), ("b", 10)]
    # The busy time, notice and window are each tutor's own.
    busy = [Busy(at(10), at(11), SERVICE, BookingStatus.CONFIRMED)]
    found = free_slots_of(
        [("b", late, busy), ("a", early, [])],
        offer(notice_minutes=30),
        start=at(0),
        end=at(23),
        now=at(9),
    )
    assert [(k, s.start.hour) for k, s in found] == [("a", 10), ("b", 11)]
