"""The pure slot engine: DST days in many zones, and its invariants under random input."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.slots import Busy, Hours, Offer, Override, Rule, available_ranges, free_slots
from models.bookings import BookingStatus

SERVICE = uuid.UUID(int=1)
OTHER = uuid.UUID(int=2)
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def offer(**changes: int) -> Offer:
    base = {"duration_minutes": 60, "interval_minutes": 60, "window_days": 3650}
    base.update(changes)
    return Offer(service_id=SERVICE, **base)


def local_starts(zone: str, day: date, rules: list[Rule], **changes: int) -> list[str]:
    """Slot starts on one local date, as wall-clock times in the tutor's zone."""
    z = ZoneInfo(zone)
    start = datetime.combine(day, time(0), z)
    end = datetime.combine(day + timedelta(days=1), time(0), z)
    slots = free_slots(Hours(zone, rules), [], offer(**changes), start=start, end=end, now=LONG_AGO)
    return [s.start.astimezone(z).strftime("%H:%M%z") for s in slots]


def every_day(start: time, end: time) -> list[Rule]:
    return [Rule(weekday, start, end) for weekday in range(7)]


# ---------------------------------------------------------------- DST and odd zones

CASES = [
    # zone, transition date, what happens there
    ("America/New_York", date(2027, 3, 14), "spring forward 02:00 -> 03:00"),
    ("America/New_York", date(2027, 11, 7), "fall back 02:00 -> 01:00"),
    ("Europe/London", date(2027, 3, 28), "spring forward 01:00 -> 02:00"),
    ("Europe/London", date(2027, 10, 31), "fall back 02:00 -> 01:00"),
    ("Australia/Lord_Howe", date(2027, 4, 4), "fall back 30 minutes at 02:00"),
    ("Australia/Lord_Howe", date(2027, 10, 3), "spring forward 30 minutes at 02:00"),
    ("Pacific/Chatham", date(2027, 4, 4), "fall back 03:45 -> 02:45"),
    ("Pacific/Chatham", date(2027, 9, 26), "spring forward 02:45 -> 03:45"),
]


@pytest.mark.parametrize(("zone", "day", "what"), CASES)
def test_afternoon_hours_keep_their_wall_clock_on_transition_days(
    zone: str, day: date, what: str
) -> None:
    # A rule starting at 13:00 on the transition day (Cal.com #30021 shifts these by an hour).
    starts = local_starts(zone, day, every_day(time(13), time(17)))
    assert [s[:5] for s in starts] == ["13:00", "14:00", "15:00", "16:00"], what
    # ... and so do the days either side.
    for other in (day - timedelta(days=1), day + timedelta(days=1)):
        assert [s[:5] for s in local_starts(zone, other, every_day(time(9), time(11)))] == [
            "09:00",
            "10:00",
        ]


def test_new_york_spring_forward_gap() -> None:
    # 02:00-03:00 does not exist on 2027-03-14: a 01:00-04:00 rule is two real hours long.
    assert local_starts("America/New_York", date(2027, 3, 14), every_day(time(1), time(4))) == [
        "01:00-0500",
        "03:00-0400",
    ]
    # A start inside the gap moves to the end of the gap.
    assert local_starts(
        "America/New_York", date(2027, 3, 14), every_day(time(2, 30), time(5)), interval_minutes=30
    ) == ["03:00-0400", "03:30-0400", "04:00-0400"]


def test_new_york_fall_back_overlap() -> None:
    # 01:00-02:00 happens twice on 2027-11-07: a 00:00-03:00 rule is four real hours long.
    starts = local_starts("America/New_York", date(2027, 11, 7), every_day(time(0), time(3)))
    assert starts == ["00:00-0400", "01:00-0400", "01:00-0500", "02:00-0500"]
    # From the first 01:30 to the last 01:45: 75 minutes.
    ranges = available_ranges(
        Hours("America/New_York", every_day(time(1, 30), time(1, 45))),
        date(2027, 11, 7),
        date(2027, 11, 7),
    )
    assert [(b - a) for a, b in ranges] == [timedelta(minutes=75)]


def test_lord_howe_half_hour_shift() -> None:
    # On 2027-10-03 02:00 becomes 02:30 (+10:30 -> +11): a 01:00-04:00 rule holds 2.5 hours.
    ranges = available_ranges(
        Hours("Australia/Lord_Howe", every_day(time(1), time(4))),
        date(2027, 10, 3),
        date(2027, 10, 3),
    )
    assert [(b - a) for a, b in ranges] == [timedelta(hours=2, minutes=30)]


def test_kolkata_half_hour_offset_and_midnight_end() -> None:
    starts = local_starts("Asia/Kolkata", date(2027, 3, 14), every_day(time(22), time(0)))
    assert starts == ["22:00+0530", "23:00+0530"]
    ranges = available_ranges(
        Hours("Asia/Kolkata", [Rule(6, time(22), time(0))]), date(2027, 3, 14), date(2027, 3, 14)
    )
    assert ranges[0][0] == datetime(2027, 3, 14, 16, 30, tzinfo=UTC)
    assert ranges[0][1] == datetime(2027, 3, 14, 18, 30, tzinfo=UTC)


def test_kiritimati_across_the_date_line() -> None:
    # Monday 09:00 at +14 is Sunday 09:00 in Honolulu (-10): same wall clock, previous date.
    kiritimati = Hours("Pacific/Kiritimati", [Rule(0, time(9), time(10))])
    honolulu = ZoneInfo("Pacific/Honolulu")
    start = datetime(2027, 3, 14, 0, 0, tzinfo=honolulu)  # Sunday in Honolulu
    slots = free_slots(
        kiritimati, [], offer(), start=start, end=start + timedelta(days=1), now=LONG_AGO
    )
    assert len(slots) == 1
    assert slots[0].start.astimezone(honolulu).isoformat() == "2027-03-14T09:00:00-10:00"
    assert slots[0].start.astimezone(ZoneInfo("Pacific/Kiritimati")).weekday() == 0


def test_viewer_zone_does_not_change_the_instants() -> None:
    hours = Hours("America/New_York", every_day(time(13), time(15)))
    for viewer in ("Asia/Kolkata", "Pacific/Chatham", "Europe/London"):
        z = ZoneInfo(viewer)
        start = datetime(2027, 3, 13, tzinfo=z)
        slots = free_slots(
            hours, [], offer(), start=start, end=start + timedelta(days=3), now=LONG_AGO
        )
        ny = [s.start.astimezone(ZoneInfo("America/New_York")).strftime("%d %H:%M") for s in slots]
        assert "14 13:00" in ny and "14 14:00" in ny, viewer
        assert all(t.endswith(("13:00", "14:00")) for t in ny), viewer


# ---------------------------------------------------------------- overrides, notice, window


def test_overrides_block_and_add() -> None:
    day = date(2027, 6, 7)  # a Monday
    rules = [Rule(0, time(9), time(17))]

    def starts(*overrides: Override) -> list[str]:
        z = ZoneInfo("Europe/Paris")
        slots = free_slots(
            Hours("Europe/Paris", rules, overrides),
            [],
            offer(),
            start=datetime.combine(day, time(0), z),
            end=datetime.combine(day, time(23, 59), z),
            now=LONG_AGO,
        )
        return [s.start.astimezone(z).strftime("%H:%M") for s in slots]

    assert len(starts()) == 8
    assert starts(Override(day, None, None, False)) == []
    assert starts(Override(day, time(10), time(15), False)) == ["09:00", "15:00", "16:00"]
    # Other hours that day: a whole-day block plus extra hours.
    assert starts(Override(day, None, None, False), Override(day, time(18), time(20), True)) == [
        "18:00",
        "19:00",
    ]
    # Extra hours touching the weekly ones make one longer range.
    assert starts(Override(day, time(17), time(18), True))[-1] == "17:00"


def test_notice_and_window() -> None:
    hours = Hours("UTC", every_day(time(9), time(17)))
    now = datetime(2027, 1, 4, 9, 30, tzinfo=UTC)
    end = now + timedelta(days=10)
    slots = free_slots(
        hours, [], offer(notice_minutes=120, window_days=2), start=now, end=end, now=now
    )
    assert slots[0].start == datetime(2027, 1, 4, 12, tzinfo=UTC)  # 09:30 + 2h, on the grid
    assert slots[-1].start <= now + timedelta(days=2)
    assert slots[-1].start == datetime(2027, 1, 6, 9, tzinfo=UTC)


# ---------------------------------------------------------------- busy time and capacity


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2027, 1, 4, hour, minute, tzinfo=UTC)


def day_starts(busy: list[Busy], **changes: int) -> dict[str, int]:
    hours = Hours("UTC", every_day(time(9), time(20)))
    slots = free_slots(hours, busy, offer(**changes), start=at(0), end=at(23), now=LONG_AGO)
    return {s.start.strftime("%H:%M"): s.remaining for s in slots}


def test_staggered_capacity() -> None:
    # Capacity 2: two 16:00-17:00 bookings make 16:30 unavailable and 17:00 available again.
    busy = [Busy(at(16), at(17), SERVICE, BookingStatus.CONFIRMED) for _ in range(2)]
    starts = day_starts(busy, capacity=2, interval_minutes=30)
    assert "16:00" not in starts and "16:30" not in starts and "15:30" not in starts
    assert starts["17:00"] == 2 and starts["15:00"] == 2
    one = day_starts(busy[:1], capacity=2, interval_minutes=30)
    assert one["16:30"] == 1 and one["16:00"] == 1 and one["17:00"] == 2


def test_other_service_blocks_whatever_the_capacity() -> None:
    busy = [Busy(at(12), at(13), OTHER, BookingStatus.CONFIRMED)]
    starts = day_starts(busy, capacity=5)
    assert "12:00" not in starts and "11:00" in starts and "13:00" in starts
    # The candidate's own buffers keep their distance from it (and may lie outside hours).
    buffered = day_starts(busy, capacity=5, buffer_before_minutes=15, buffer_after_minutes=15)
    assert "11:00" not in buffered and "13:00" not in buffered and "09:00" in buffered


def test_statuses_and_expired_holds() -> None:
    now = at(8)
    hours = Hours("UTC", every_day(time(9), time(12)))

    def free(status: str, hold: datetime | None = None) -> bool:
        busy = [Busy(at(10), at(11), SERVICE, BookingStatus(status), hold)]
        slots = free_slots(hours, busy, offer(), start=now, end=at(23), now=now)
        return at(10) in [s.start for s in slots]

    assert not free("CONFIRMED") and not free("COMPLETED") and not free("NO_SHOW")
    assert free("CANCELLED") and free("EXPIRED")
    assert not free("PENDING_PAYMENT", now + timedelta(minutes=1))
    assert free("PENDING_PAYMENT", now)  # the hold expired this very moment
