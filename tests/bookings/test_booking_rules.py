"""The booking rules that decide without the database, at their boundaries: the free-time check
every booking write makes (notice, window, hours and grid, capacity, the student's other
bookings), the package ledger's arithmetic and checks, and a service's rules as an offer.

The same rules are exercised end to end through GraphQL in test_bookings_api.py and
test_packages_api.py; these pin the edges a mutation run (bench/mutants.py) showed loose."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

import pytest

from domain.bookings.free_time import FreeTime, choose_duration, offer_of
from domain.errors import (
    InvalidInput,
    PackageUnusable,
    PolicyViolation,
    SlotUnavailable,
    StudentBusy,
)
from domain.packages import (
    MAX_TEXT,
    MAX_TOTAL,
    Grant,
    _check_grant,
    check_credit,
    cost,
    ledger_line,
    month_bounds,
    spend,
)
from domain.services import ServiceInfo
from domain.slots import Busy, Hours, Offer, Rule
from models import Booking, BookingStatus, Package, Service, ServiceDuration, Tutor

SERVICE = uuid.UUID(int=1)
OTHER = uuid.UUID(int=2)
TUTOR = uuid.UUID(int=3)
NOW = datetime(2027, 6, 7, 8, tzinfo=UTC)  # a Monday, 08:00 UTC


def at(hour: int, minute: int = 0, days: int = 0) -> datetime:
    return datetime(2027, 6, 7, hour, minute, tzinfo=UTC) + timedelta(days=days)


def service(**rules: int) -> ServiceInfo:
    row = Service(
        id=SERVICE, title="Piano", kind="ONE_ON_ONE", slot_interval_minutes=30, created_at=NOW
    )
    for name, value in rules.items():
        setattr(row, name, value)
    lengths = [
        ServiceDuration(service_id=SERVICE, minutes=60, position=0),
        ServiceDuration(service_id=SERVICE, minutes=30, position=1),
    ]
    return ServiceInfo(row=row, durations=lengths, tutor_ids=[TUTOR])


def free_time(
    info: ServiceInfo | None = None,
    *,
    busy: list[Busy] | None = None,
    student_busy: list[tuple[datetime, datetime]] | None = None,
    as_tutor: bool = False,
    hours: Hours | None = None,
) -> FreeTime:
    tutor = Tutor(id=TUTOR, user_id="tutor", display_name="Ada", time_zone="UTC", created_at=NOW)
    weekdays = Hours("UTC", [Rule(d, time(9), time(17)) for d in range(5)])
    return FreeTime(
        tutor,
        info or service(),
        weekdays if hours is None else hours,
        busy or [],
        student_busy or [],
        as_tutor,
        NOW,
        "Europe/Paris",
    )


def hour(info: ServiceInfo) -> ServiceDuration:
    return info.durations[0]


# ---------------------------------------------------------------- the free-time check


def test_a_free_start_on_the_grid_gives_the_session_end() -> None:
    info = service()
    assert free_time(info).check(at(9), hour(info), "input.start") == at(10)
    assert free_time(info).check(at(16, 30), info.durations[1], "input.start") == at(17)


def test_notice_is_met_exactly_at_its_edge() -> None:
    info = service(minimum_notice_minutes=60)
    assert free_time(info).check(at(9), hour(info), "input.start") == at(10)
    info = service(minimum_notice_minutes=61)
    with pytest.raises(PolicyViolation) as caught:
        free_time(info).check(at(9), hour(info), "input.start")
    assert caught.value.policy == "MINIMUM_NOTICE"
    assert caught.value.message == "Bookings need 61 minutes' notice"


def test_the_window_is_open_to_its_last_instant() -> None:
    # now 08:00 Monday: with a one-day window, 08:00 Tuesday is the last start. Open from 08:00.
    hours = Hours("UTC", [Rule(d, time(8), time(17)) for d in range(5)])
    info = service(booking_window_days=1)
    assert free_time(info, hours=hours).check(at(8, days=1), hour(info), "s") == at(9, days=1)
    with pytest.raises(PolicyViolation) as caught:
        free_time(info, hours=hours).check(at(8, 30, days=1), hour(info), "s")
    assert caught.value.policy == "BOOKING_WINDOW"
    assert caught.value.message == "Bookings open at most 1 days ahead"


def test_a_time_off_the_grid_or_outside_hours_is_unavailable_with_alternatives() -> None:
    info = service()
    with pytest.raises(SlotUnavailable) as caught:
        free_time(info).check(at(9, 10), hour(info), "input.slots.0.start")
    assert caught.value.message == f"{at(9, 10).isoformat()} is not available (input.slots.0.start)"
    # The five free starts closest to 09:10, in order, written in the student's zone.
    starts = [alternative.slot.start for alternative in caught.value.alternatives]
    assert starts == [at(9), at(9, 30), at(10), at(10, 30), at(11)]
    first = caught.value.alternatives[0]
    assert (first.tutor.id, first.duration.minutes, first.zone) == (TUTOR, 60, "Europe/Paris")
    with pytest.raises(SlotUnavailable):
        free_time(info).check(at(16, 30), hour(info), "s")  # would end after 17:00
    # No schedule: nothing is offered, and there is nothing to suggest.
    unscheduled = free_time(info)
    unscheduled.hours = None
    with pytest.raises(SlotUnavailable) as caught:
        unscheduled.check(at(9), hour(info), "s")
    assert caught.value.alternatives == []


def test_alternatives_are_looked_for_from_12_hours_before_to_36_after() -> None:
    info = service()

    def alternatives(hours: Hours, asked: datetime) -> list[datetime]:
        with pytest.raises(SlotUnavailable) as caught:
            free_time(info, hours=hours).check(asked, hour(info), "s")
        return [alternative.slot.start for alternative in caught.value.alternatives]

    tuesday = Hours("UTC", [Rule(1, time(9), time(10))])  # only Tuesday 09:00
    assert alternatives(tuesday, at(21, days=1)) == [at(9, days=1)]  # 12 hours after it
    assert alternatives(tuesday, at(21, 30, days=1)) == []
    wednesday = Hours("UTC", [Rule(2, time(9), time(10))])  # only Wednesday 09:00
    assert alternatives(wednesday, at(21, 30)) == [at(9, days=2)]  # 35.5 hours before it
    assert alternatives(wednesday, at(21)) == []  # 36 hours before it


def test_a_tutor_books_outside_hours_notice_and_window_but_not_over_capacity() -> None:
    info = service(minimum_notice_minutes=600, booking_window_days=0)
    assert free_time(info, as_tutor=True).check(at(20, 10), hour(info), "s") == at(21, 10)
    busy = [Busy(at(20), at(21), SERVICE, BookingStatus.CONFIRMED)]
    with pytest.raises(SlotUnavailable):
        free_time(info, busy=busy, as_tutor=True).check(at(20, 10), hour(info), "s")
    # Capacity 2 leaves room for one more.
    roomy = service(capacity=2)
    assert free_time(roomy, busy=busy, as_tutor=True).check(at(20, 10), hour(roomy), "s") == at(
        21, 10
    )


def test_a_lapsed_hold_does_not_block_a_tutor() -> None:
    info = service()
    lapsed = [Busy(at(20), at(21), SERVICE, BookingStatus.PENDING_PAYMENT, NOW)]
    assert free_time(info, busy=lapsed, as_tutor=True).check(at(20), hour(info), "s") == at(21)
    held = [
        Busy(at(20), at(21), SERVICE, BookingStatus.PENDING_PAYMENT, NOW + timedelta(seconds=1))
    ]
    with pytest.raises(SlotUnavailable):
        free_time(info, busy=held, as_tutor=True).check(at(20), hour(info), "s")


def test_capacity_and_other_services_for_a_student() -> None:
    busy = [Busy(at(9), at(10), SERVICE, BookingStatus.CONFIRMED)]
    info = service(capacity=2)
    assert free_time(info, busy=busy).check(at(9), hour(info), "s") == at(10)
    with pytest.raises(SlotUnavailable):
        free_time(info, busy=busy * 2).check(at(9), hour(info), "s")
    with pytest.raises(SlotUnavailable):
        free_time(info, busy=[Busy(at(9), at(10), OTHER, BookingStatus.CONFIRMED)]).check(
            at(9), hour(info), "s"
        )


def test_the_student_cannot_be_in_two_places() -> None:
    info = service()
    student_busy = [(at(10), at(11))]
    with pytest.raises(StudentBusy) as caught:
        free_time(info, student_busy=student_busy).check(at(10, 30), hour(info), "s")
    assert caught.value.message == "The student has another booking at that time"
    with pytest.raises(StudentBusy):
        free_time(info, student_busy=student_busy).check(at(9, 30), hour(info), "s")
    # Touching is not overlapping.
    assert free_time(info, student_busy=student_busy).check(at(9), hour(info), "s") == at(10)
    assert free_time(info, student_busy=student_busy).check(at(11), hour(info), "s") == at(12)


def test_a_booking_placed_earlier_in_the_transaction_counts() -> None:
    info = service(capacity=2, buffer_after_minutes=30)
    table = free_time(info)
    end = table.check(at(9), hour(info), "s")
    table.place(
        Booking(
            service_id=SERVICE,
            tutor_id=TUTOR,
            student_id=uuid.UUID(int=9),
            status=BookingStatus.CONFIRMED,
            start_at=at(9),
            end_at=end,
            block_start=at(9),
            block_end=end + timedelta(minutes=30),
            duration_minutes=60,
            student_time_zone="UTC",
            created_at=NOW,
        )
    )
    assert table.busy[-1] == Busy(at(9), at(10, 30), SERVICE, BookingStatus.CONFIRMED)
    # A seat is left, but the same student is already there.
    with pytest.raises(StudentBusy):
        table.check(at(9, 30), hour(info), "s")
    assert table.check(at(10), hour(info), "s") == at(11)


# ---------------------------------------------------------------- a service as an offer


def test_a_service_becomes_an_offer_field_by_field() -> None:
    info = service(
        slot_interval_minutes=20,
        buffer_before_minutes=5,
        buffer_after_minutes=10,
        capacity=4,
        minimum_notice_minutes=90,
        booking_window_days=30,
    )
    assert offer_of(info, 45) == Offer(
        service_id=SERVICE,
        duration_minutes=45,
        interval_minutes=20,
        buffer_before_minutes=5,
        buffer_after_minutes=10,
        capacity=4,
        notice_minutes=90,
        window_days=30,
    )


def test_choose_a_length() -> None:
    info = service()
    assert choose_duration(info, None, "f").minutes == 60
    assert choose_duration(info, 30, "f").minutes == 30
    with pytest.raises(InvalidInput) as caught:
        choose_duration(info, 45, "input.durationMinutes")
    assert caught.value.field == "input.durationMinutes"
    assert caught.value.message == "This service is not offered for 45 minutes (offered: 60, 30)"


# ---------------------------------------------------------------- the package ledger


def package(**fields: object) -> Package:
    credit = Package(
        student_id=uuid.UUID(int=9),
        tutor_id=TUTOR,
        unit="SESSIONS",
        total=5,
        remaining=3,
        created_at=NOW,
    )
    for name, value in fields.items():
        setattr(credit, name, value)
    return credit


def test_a_ledger_line_moves_the_balance_by_its_delta() -> None:
    credit = package()
    booking = uuid.uuid4()
    line = ledger_line(credit, "REDEMPTION", -2, NOW, "user-1", "booked", booking)
    assert credit.remaining == 1
    assert (line.package_id, line.kind, line.delta, line.reason) == (
        credit.id,
        "REDEMPTION",
        -2,
        "booked",
    )
    assert (line.booking_id, line.actor_id, line.at) == (booking, "user-1", NOW)
    refund = ledger_line(credit, "REFUND", 2, NOW, None)
    assert credit.remaining == 3 and refund.reason is None and refund.booking_id is None


def test_cost_of_a_session() -> None:
    assert cost(package(), 45, at(9)) == 1
    assert cost(package(session_duration_minutes=60), 60, at(9)) == 1
    assert cost(package(unit="MINUTES", session_duration_minutes=None), 45, at(9)) == 45
    with pytest.raises(PackageUnusable) as caught:
        cost(package(session_duration_minutes=60), 30, at(9))
    assert caught.value.reason == "WRONG_DURATION"
    assert caught.value.message == "A credit buys a 60-minute session"
    # Usable for a session starting at the very instant it expires, not a moment later.
    assert cost(package(expires_at=at(9)), 60, at(9)) == 1
    with pytest.raises(PackageUnusable) as caught:
        cost(package(expires_at=at(9)), 60, at(9) + timedelta(seconds=1))
    assert caught.value.reason == "EXPIRED"
    assert caught.value.message == (
        f"The package expires at {at(9).isoformat()}, before the session"
    )


def test_spending_the_last_credit_and_no_more() -> None:
    spend(package(remaining=3), 3)
    with pytest.raises(PackageUnusable) as caught:
        spend(package(remaining=3), 4)
    assert caught.value.reason == "INSUFFICIENT_BALANCE"
    assert caught.value.message == "The package has 3 left and this takes 4"


def test_credit_checks_at_their_bounds() -> None:
    for unit, total, minutes in [
        ("SESSIONS", 1, None),
        ("MINUTES", MAX_TOTAL, None),
        ("SESSIONS", 3, 5),
        ("SESSIONS", 3, 720),
    ]:
        check_credit(unit, total, minutes)
    bad = [
        ("HOURS", 1, None, "input.unit", "unit is SESSIONS or MINUTES"),
        ("SESSIONS", 0, None, "input.total", f"total is 1 to {MAX_TOTAL}"),
        ("SESSIONS", MAX_TOTAL + 1, None, "input.total", f"total is 1 to {MAX_TOTAL}"),
        (
            "MINUTES",
            60,
            30,
            "input.sessionDurationMinutes",
            "Only SESSIONS packages have a session length",
        ),
    ] + [
        (
            "SESSIONS",
            3,
            minutes,
            "input.sessionDurationMinutes",
            "A session length is 5 to 720 minutes, on a 5-minute grid",
        )
        for minutes in (0, 725, 62)
    ]
    for unit, total, minutes, field, message in bad:
        with pytest.raises(InvalidInput) as caught:
            check_credit(unit, total, minutes)
        assert (caught.value.field, caught.value.message) == (field, message)


def test_a_grant_expires_in_the_future_and_has_short_notes() -> None:
    student = uuid.UUID(int=9)
    _check_grant(Grant(student, "SESSIONS", 3, expires_at=NOW + timedelta(seconds=1)), NOW)
    _check_grant(Grant(student, "SESSIONS", 3, notes="n" * MAX_TEXT), NOW)
    with pytest.raises(InvalidInput) as caught:
        _check_grant(Grant(student, "SESSIONS", 3, expires_at=NOW), NOW)
    assert (caught.value.field, caught.value.message) == (
        "input.expiresAt",
        "expiresAt must be in the future",
    )
    with pytest.raises(InvalidInput) as caught:
        _check_grant(Grant(student, "SESSIONS", 3, notes="n" * (MAX_TEXT + 1)), NOW)
    assert (caught.value.field, caught.value.message) == (
        "input.notes",
        f"At most {MAX_TEXT} characters",
    )
    with pytest.raises(InvalidInput) as caught:
        _check_grant(Grant(student, "SESSIONS", 0), NOW)
    assert caught.value.field == "input.total"
    with pytest.raises(InvalidInput) as caught:
        _check_grant(Grant(student, "SESSIONS", 3, session_duration_minutes=62), NOW)
    assert caught.value.field == "input.sessionDurationMinutes"


def test_month_bounds_in_the_schedule_zone() -> None:
    # 1 January 02:00 in UTC is still December in New York.
    first, following = month_bounds(datetime(2028, 1, 1, 2, tzinfo=UTC), "America/New_York")
    assert first.isoformat() == "2027-12-01T00:00:00-05:00"
    assert following.isoformat() == "2028-01-01T00:00:00-05:00"
    first, following = month_bounds(datetime(2027, 3, 31, 12, tzinfo=UTC), "Europe/London")
    assert (first.isoformat(), following.isoformat()) == (
        "2027-03-01T00:00:00+00:00",
        "2027-04-01T00:00:00+01:00",
    )
    first, _ = month_bounds(datetime(2027, 3, 31, 23, 59, 59, 999, tzinfo=UTC), "UTC")
    assert first == datetime(2027, 3, 1, tzinfo=UTC)
