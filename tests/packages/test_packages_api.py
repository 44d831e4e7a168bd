"""Packages through GraphQL: grants, the ledger, redemption, refunds, allowance, enrollment."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from infra.db import Database
from models import BookingStatus
from schema.node import encode_id
from tests.helpers import (
    CANCEL,
    CLOCK,
    PACKAGE,
    REDEEM,
    RESCHEDULE,
    GraphQLClient,
    Tutor,
    add_booking,
    at,
    book,
    count_statements,
    grant,
    make_tutor,
    monday,
    pk,
    stored_student,
    token,
    weekly,
)

# On the awkward days CI picks too (tests/calendar_days.py).
pytestmark = pytest.mark.calendar

ADJUST = f"""mutation($input: AdjustPackageInput!) {{ adjustPackage(input: $input) {{
  __typename ... on PackageAdjusted {{ package {{ {PACKAGE} }} }}
  ... on InvalidInput {{ message field }} ... on NotFound {{ message }} }} }}"""
ENROLL = """mutation($input: EnrollStudentInput!) { enrollStudent(input: $input) {
  __typename ... on StudentEnrolled { service { id } student { id } }
  ... on NotFound { message } } }"""
MINE = f"{{ viewer {{ packages {{ {PACKAGE} }} }} }}"
BALANCE = """query($id: ID!) { node(id: $id) {
  ... on Package { remaining adjustments { delta } } } }"""


async def setup(
    gql: GraphQLClient, db: Database, **service: Any
) -> tuple[Tutor, dict[str, Any], str, str]:
    ada = await make_tutor(gql, "ada", "UTC", weekly("00:00", "00:00"))
    service.setdefault("slotIntervalMinutes", 30)
    service.setdefault("durations", [{"minutes": 60}, {"minutes": 30}])
    made = (await ada.service(**service))["service"]
    sam = token("sam")
    return ada, made, sam, await stored_student(db, sam)


async def test_grant_adjust_and_the_ledger(gql: GraphQLClient, db: Database) -> None:
    ada, _, sam, sam_id = await setup(gql, db)
    granted = await grant(
        gql,
        ada,
        studentId=sam_id,
        unit="SESSIONS",
        total=8,
        sessionDurationMinutes=60,
        notes="Spring",
    )
    package = granted["package"]
    assert (package["total"], package["remaining"], package["notes"]) == (8, 8, "Spring")
    assert package["adjustments"] == [{"delta": 8, "reason": "granted", "booking": None}]
    mine = (await gql(MINE, token=sam))["viewer"]["packages"]
    assert [p["id"] for p in mine] == [package["id"]]

    adjust = {"packageId": package["id"], "delta": -3, "reason": "moved to group"}
    adjusted = (await gql(ADJUST, {"input": adjust}, ada.token))["adjustPackage"]["package"]
    assert adjusted["remaining"] == 5
    too_far = (await gql(ADJUST, {"input": {**adjust, "delta": -6}}, ada.token))["adjustPackage"]
    assert too_far["field"] == "input.delta"
    zero = (await gql(ADJUST, {"input": {**adjust, "delta": 0}}, ada.token))["adjustPackage"]
    assert zero["field"] == "input.delta"
    bob = await make_tutor(gql, "bob")
    assert (await gql(ADJUST, {"input": adjust}, bob.token))["adjustPackage"][
        "__typename"
    ] == "NotFound"
    denied = await gql.error(ADJUST, {"input": adjust}, sam)
    assert denied["extensions"]["code"] == "FORBIDDEN"
    hidden = await gql(
        "query($id: ID!) { node(id: $id) { id } }", {"id": package["id"]}, token("kim")
    )
    assert hidden["node"] is None


async def test_grant_validation(gql: GraphQLClient, db: Database) -> None:
    ada, _, _, sam_id = await setup(gql, db)
    base = {"studentId": sam_id, "unit": "SESSIONS", "total": 5}
    assert (await grant(gql, ada, **{**base, "total": 0}))["field"] == "input.total"
    assert (await grant(gql, ada, **{**base, "unit": "MINUTES", "sessionDurationMinutes": 60}))[
        "field"
    ] == "input.sessionDurationMinutes"
    assert (await grant(gql, ada, **{**base, "expiresAt": "2020-01-01T00:00:00Z"}))[
        "field"
    ] == "input.expiresAt"
    assert (await grant(gql, ada, **{**base, "studentId": "junk"}))["field"] == "input.studentId"
    assert (await grant(gql, ada, **{**base, "studentId": encode_id("Student", uuid.uuid4())}))[
        "__typename"
    ] == "NotFound"


async def test_redeem_at_booking_and_refund_on_cancel(gql: GraphQLClient, db: Database) -> None:
    ada, service, sam, sam_id = await setup(gql, db, cancellationNoticeHours=48)
    sessions = (
        await grant(gql, ada, studentId=sam_id, unit="SESSIONS", total=2, sessionDurationMinutes=60)
    )["package"]
    minutes = (await grant(gql, ada, studentId=sam_id, unit="MINUTES", total=90))["package"]
    day = monday(2)
    first = await book(
        gql,
        sam,
        serviceId=service["id"],
        tutorId=ada.id,
        start=at(day, 10),
        packageId=sessions["id"],
    )
    assert first["__typename"] == "BookingCreated"
    short = await book(
        gql,
        sam,
        serviceId=service["id"],
        tutorId=ada.id,
        start=at(day, 12),
        durationMinutes=30,
        packageId=minutes["id"],
    )
    assert short["__typename"] == "BookingCreated"

    async def remaining(package_id: str) -> int:
        found = await gql(
            "query($id: ID!) { node(id: $id) { ... on Package { remaining } } }",
            {"id": package_id},
            sam,
        )
        return int(found["node"]["remaining"])

    assert await remaining(sessions["id"]) == 1
    assert await remaining(minutes["id"]) == 60
    moved = (
        await gql(
            RESCHEDULE,
            {"input": {"bookingId": first["booking"]["id"], "newStart": at(day, 14)}},
            sam,
        )
    )["rescheduleBooking"]
    assert moved["__typename"] == "BookingRescheduled"
    assert await remaining(sessions["id"]) == 1  # rescheduling never touches credit
    cancelled = (await gql(CANCEL, {"input": {"bookingId": first["booking"]["id"]}}, sam))[
        "cancelBooking"
    ]
    assert cancelled["refund"] == {"kind": "PACKAGE_CREDIT", "amount": 1}
    assert await remaining(sessions["id"]) == 2
    ledger = await gql(
        "query($id: ID!) { node(id: $id) { ... on Package { adjustments { delta } } } }",
        {"id": sessions["id"]},
        sam,
    )
    assert [a["delta"] for a in ledger["node"]["adjustments"]] == [2, -1, 1]

    # Late: a student cancelling inside the notice gets nothing back.
    soon = CLOCK().date() + timedelta(days=1)
    late = await book(
        gql,
        sam,
        serviceId=service["id"],
        tutorId=ada.id,
        start=at(soon, 10),
        packageId=sessions["id"],
    )
    kept = (await gql(CANCEL, {"input": {"bookingId": late["booking"]["id"]}}, sam))[
        "cancelBooking"
    ]
    assert kept["refund"] == {"kind": "NONE", "amount": 0}
    assert await remaining(sessions["id"]) == 1


async def test_every_reason_a_package_is_unusable(gql: GraphQLClient, db: Database) -> None:
    ada, service, sam, sam_id = await setup(gql, db)
    bob = await make_tutor(gql, "bob", "UTC", weekly("00:00", "00:00"))
    bobs = (await bob.service(slotIntervalMinutes=30))["service"]
    day = monday(2)
    expiry = datetime(day.year, day.month, day.day, 11, tzinfo=UTC)
    package = (
        await grant(
            gql,
            ada,
            studentId=sam_id,
            unit="SESSIONS",
            total=1,
            sessionDurationMinutes=60,
            expiresAt=expiry.isoformat(),
        )
    )["package"]

    async def reason(who: str = sam, **change: Any) -> Any:
        input = {
            "serviceId": service["id"],
            "tutorId": ada.id,
            "start": at(day, 12),
            "packageId": package["id"],
            **change,
        }
        result = await book(gql, who, **input)
        return result.get("packageReason", result["__typename"])

    assert await reason() == "EXPIRED"  # the session starts after expiresAt
    assert await reason(durationMinutes=30, start=at(day, 9)) == "WRONG_DURATION"
    assert await reason(serviceId=bobs["id"], tutorId=bob.id, start=at(day, 9)) == "WRONG_TUTOR"
    assert await reason(who=token("kim"), start=at(day, 9)) == "NOT_OWNER"
    assert (
        await reason(start=at(day, 10)) == "BookingCreated"
    )  # ends at 11:00, starts before expiry
    assert await reason(start=at(day, 8)) == "INSUFFICIENT_BALANCE"


async def test_fifty_concurrent_redemptions_of_one_credit(gql: GraphQLClient, db: Database) -> None:
    ada, service, sam, sam_id = await setup(gql, db)
    package = (await grant(gql, ada, studentId=sam_id, unit="SESSIONS", total=1))["package"]
    day = monday(3)

    async def attempt(i: int) -> str:
        start = at(day + timedelta(days=i // 20), i % 20)
        result = await book(
            gql, sam, serviceId=service["id"], tutorId=ada.id, start=start, packageId=package["id"]
        )
        return str(result.get("packageReason", result["__typename"]))

    outcomes = await asyncio.gather(*(attempt(i) for i in range(50)))
    assert outcomes.count("BookingCreated") == 1
    assert outcomes.count("INSUFFICIENT_BALANCE") == 49
    found = await gql(
        "query($id: ID!) { node(id: $id) { ... on Package { remaining adjustments { delta } } } }",
        {"id": package["id"]},
        sam,
    )
    assert found["node"]["remaining"] == 0
    assert [a["delta"] for a in found["node"]["adjustments"]] == [1, -1]


async def test_ledger_always_sums_to_remaining(gql: GraphQLClient, db: Database) -> None:
    ada, service, sam, sam_id = await setup(gql, db, cancellationNoticeHours=1)
    package = (await grant(gql, ada, studentId=sam_id, unit="MINUTES", total=600))["package"]
    rng = random.Random(20261121)
    booked: list[str] = []
    day = monday(2)
    for step in range(40):
        move = rng.choice(["book", "book", "cancel", "adjust"])
        if move == "book":
            start = at(day + timedelta(days=step // 10), 8 + step % 10)
            made = await book(
                gql,
                sam,
                serviceId=service["id"],
                tutorId=ada.id,
                start=start,
                durationMinutes=rng.choice([30, 60]),
                packageId=package["id"],
            )
            if made["__typename"] == "BookingCreated":
                booked.append(made["booking"]["id"])
        elif move == "cancel" and booked:
            await gql(
                CANCEL,
                {"input": {"bookingId": booked.pop(rng.randrange(len(booked)))}},
                rng.choice([sam, ada.token]),
            )
        else:
            await gql(
                ADJUST,
                {"input": {"packageId": package["id"], "delta": rng.choice([-45, -10, 15, 120])}},
                ada.token,
            )
        found = await gql(
            BALANCE,
            {"id": package["id"]},
            sam,
        )
        node = found["node"]
        assert node["remaining"] == sum(a["delta"] for a in node["adjustments"]) >= 0, step


async def test_redeem_a_booking_waiting_for_payment(gql: GraphQLClient, db: Database) -> None:
    ada, service, sam, sam_id = await setup(gql, db)
    package = (await grant(gql, ada, studentId=sam_id, unit="SESSIONS", total=3))["package"]
    day = monday(2)
    pending = await add_booking(
        db,
        ada.id,
        service["id"],
        datetime(day.year, day.month, day.day, 10, tzinfo=UTC),
        status=BookingStatus.PENDING_PAYMENT,
        hold_expires_at=CLOCK() + timedelta(minutes=10),
        student_id=pk(sam_id),
    )
    booking_id = encode_id("Booking", pending)
    paid = (
        await gql(REDEEM, {"input": {"bookingId": booking_id, "packageId": package["id"]}}, sam)
    )["redeemPackage"]
    assert paid["booking"] == {
        "id": booking_id,
        "status": "CONFIRMED",
        "package": {"id": package["id"]},
    }
    assert paid["package"]["remaining"] == 2
    again = (
        await gql(REDEEM, {"input": {"bookingId": booking_id, "packageId": package["id"]}}, sam)
    )["redeemPackage"]
    assert again["policy"] == "INVALID_TRANSITION"
    other = (
        await gql(
            REDEEM, {"input": {"bookingId": booking_id, "packageId": package["id"]}}, token("kim")
        )
    )["redeemPackage"]
    assert other["__typename"] == "NotFound"


async def test_enrollment_and_required_packages(gql: GraphQLClient, db: Database) -> None:
    ada, course, sam, sam_id = await setup(gql, db, enrollmentRequired=True, requiresPackage=True)
    day = monday(2)
    assert (await book(gql, sam, serviceId=course["id"], tutorId=ada.id, start=at(day, 10)))[
        "reason"
    ] == "NOT_ENROLLED"
    enrolled = (
        await gql(ENROLL, {"input": {"serviceId": course["id"], "studentId": sam_id}}, ada.token)
    )["enrollStudent"]
    assert enrolled == {
        "__typename": "StudentEnrolled",
        "service": {"id": course["id"]},
        "student": {"id": sam_id},
    }
    denied = await gql.error(
        ENROLL, {"input": {"serviceId": course["id"], "studentId": sam_id}}, sam
    )
    assert denied["extensions"]["code"] == "FORBIDDEN"
    assert (await book(gql, sam, serviceId=course["id"], tutorId=ada.id, start=at(day, 10)))[
        "policy"
    ] == "PACKAGE_REQUIRED"
    package = (await grant(gql, ada, studentId=sam_id, unit="SESSIONS", total=1))["package"]
    paid = await book(
        gql, sam, serviceId=course["id"], tutorId=ada.id, start=at(day, 10), packageId=package["id"]
    )
    assert paid["__typename"] == "BookingCreated"


async def test_monthly_allowance_follows_the_tutors_calendar(gql: GraphQLClient) -> None:
    # Tokyo is UTC+9: 08:00 on the 1st there is still the previous month in UTC.
    ada = await make_tutor(gql, "ada", "Asia/Tokyo", weekly("00:00", "00:00"))
    service = (
        await ada.service(
            title="Check-in",
            kind="CHECKIN",
            monthlyFreeAllowance=1,
            slotIntervalMinutes=60,
            bookingWindowDays=120,
        )
    )["service"]
    sam = token("sam")
    # Next month's last day and the first after it: far enough ahead whatever today is (this
    # month's last day may be today, its 10:00 in Tokyo already past).
    today = CLOCK().date()
    months = today.year * 12 + today.month + 1  # the month after next, counted from year 0
    first = date(months // 12, months % 12 + 1, 1)
    last_day = first - timedelta(days=1)

    def tokyo(day: date, hour: int) -> str:
        return (
            datetime(day.year, day.month, day.day, hour, tzinfo=UTC) - timedelta(hours=9)
        ).isoformat()

    async def attempt(day: date, hour: int) -> dict[str, Any]:
        return await book(gql, sam, serviceId=service["id"], tutorId=ada.id, start=tokyo(day, hour))

    end_of_month = await attempt(last_day, 10)
    assert end_of_month["__typename"] == "BookingCreated"
    start_of_next = await attempt(first, 8)  # the previous month in UTC, the next in Tokyo
    assert start_of_next["__typename"] == "BookingCreated"
    assert (await attempt(last_day, 15))["policy"] == "MONTHLY_ALLOWANCE_USED"
    await gql(CANCEL, {"input": {"bookingId": end_of_month["booking"]["id"]}}, sam)
    assert (await attempt(last_day, 15))[
        "__typename"
    ] == "BookingCreated"  # cancelled ones don't count


async def test_a_ledger_loads_its_bookings_in_one_batch(gql: GraphQLClient, db: Database) -> None:

    ada, service, sam, sam_id = await setup(gql, db)
    ledger = """query($id: ID!) { node(id: $id) { ... on Package {
      adjustments { delta booking { id status } } } } }"""

    async def statements(bookings: int) -> int:
        package = (
            await grant(
                gql, ada, studentId=sam_id, unit="SESSIONS", total=8, sessionDurationMinutes=60
            )
        )["package"]
        day = monday(bookings)
        for hour in range(9, 9 + bookings):
            made = await book(
                gql,
                sam,
                serviceId=service["id"],
                tutorId=ada.id,
                start=at(day, hour),
                packageId=package["id"],
            )
            assert made["__typename"] == "BookingCreated"
        with count_statements(db) as seen:
            found = await gql(ledger, {"id": package["id"]}, sam)
        lines = found["node"]["adjustments"]
        assert [line["delta"] for line in lines] == [8] + [-1] * bookings
        assert sum(line["booking"] is not None for line in lines) == bookings
        return len(seen)

    assert await statements(2) == await statements(6)
