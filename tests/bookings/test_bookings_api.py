"""The booking lifecycle through GraphQL: every result member, guests, tutors, history, ICS."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from infra.db import Database
from schema.node import encode_id
from tests.helpers import (
    ATTENDANCE,
    CANCEL,
    CREATE_MANY,
    RESCHEDULE,
    GraphQLClient,
    Tutor,
    at,
    book,
    make_tutor,
    monday,
    stored_student,
    token,
    weekly,
)

# On the awkward days CI picks too (tests/calendar_days.py).
pytestmark = pytest.mark.calendar

SLOTS = """query($input: SlotSearchInput!) { availableSlots(input: $input) { slots { start } } }"""


async def free_starts(gql: GraphQLClient, service_id: str, day: date) -> list[str]:
    window = {"from": f"{day}T00:00:00Z", "to": f"{day}T23:59:00Z"}
    data = await gql(SLOTS, {"input": {"serviceId": service_id, "timeZone": "UTC", **window}})
    return [s["start"][11:16] for s in data["availableSlots"]["slots"]]


async def setup(gql: GraphQLClient, **service: object) -> tuple[Tutor, dict[str, Any]]:
    ada = await make_tutor(gql, "ada", "UTC", weekly("09:00", "13:00"))
    service.setdefault("slotIntervalMinutes", 60)
    return ada, (await ada.service(**service))["service"]


async def test_student_books_and_the_slot_goes(gql: GraphQLClient, http: httpx.AsyncClient) -> None:
    ada, service = await setup(gql)
    day = monday()
    sam = token("sam", email="sam@example.com")
    made = await book(
        gql,
        sam,
        serviceId=service["id"],
        tutorId=ada.id,
        start=at(day, 10),
        timeZone="Europe/Paris",
        notes="Scales",
    )
    assert made["__typename"] == "BookingCreated"
    booking = made["booking"]
    assert booking["status"] == "CONFIRMED"
    assert booking["studentTimeZone"] == "Europe/Paris"
    assert booking["notes"] == "Scales"
    assert booking["student"]["email"] == "sam@example.com"
    # One change, one entry: created already confirmed.
    assert [(h["action"], h["actorId"]) for h in booking["history"]] == [("CREATED", "sam")]
    assert made["manageToken"] is None
    assert "10:00" not in await free_starts(gql, service["id"], day)

    ics = await http.get(booking["icsUrl"].replace("http://127.0.0.1:8000", ""))
    assert ics.status_code == 200
    assert ics.headers["content-type"].startswith("text/calendar")
    text = ics.text
    assert f"DTSTART:{day:%Y%m%d}T100000Z" in text
    assert "SUMMARY:Lesson with Ada" in text
    assert "UID:" in text
    forged = booking["icsUrl"].replace("http://127.0.0.1:8000", "")[:-4] + "0000"
    assert (await http.get(forged)).status_code == 404


async def test_taken_slot_offers_alternatives(gql: GraphQLClient) -> None:
    ada, service = await setup(gql)
    day = monday()
    first = await book(
        gql, token("sam"), serviceId=service["id"], tutorId=ada.id, start=at(day, 10)
    )
    assert first["__typename"] == "BookingCreated"
    taken = await book(
        gql, token("kim"), serviceId=service["id"], tutorId=ada.id, start=at(day, 10)
    )
    assert taken["__typename"] == "SlotUnavailable"
    starts = [a["start"] for a in taken["alternatives"]]
    assert len(starts) == 5
    assert at(day, 10) not in starts
    assert at(day, 9) in starts and at(day, 11) in starts
    off_grid = await book(
        gql, token("kim"), serviceId=service["id"], tutorId=ada.id, start=at(day, 10, 30)
    )
    assert off_grid["__typename"] == "SlotUnavailable"
    night = await book(
        gql, token("kim"), serviceId=service["id"], tutorId=ada.id, start=at(day, 22)
    )
    assert night["__typename"] == "SlotUnavailable"


async def test_policies_and_refusals(gql: GraphQLClient) -> None:
    ada, service = await setup(gql, minimumNoticeMinutes=60 * 24 * 3, bookingWindowDays=20)
    bob = await make_tutor(gql, "bob", "UTC", weekly("09:00", "13:00"))
    sam = token("sam")
    day = monday(2)

    async def attempt(**change: object) -> dict[str, Any]:
        input = {"serviceId": service["id"], "tutorId": ada.id, "start": at(day, 10), **change}
        return await book(gql, sam, **input)

    soon = monday(0) + timedelta(days=7)
    assert (await attempt(start=at(soon - timedelta(days=6), 10)))["policy"] in ("MINIMUM_NOTICE",)
    assert (await attempt(start=at(monday(5), 10)))["policy"] == "BOOKING_WINDOW"
    assert (await attempt(tutorId=bob.id))["reason"] == "NOT_OFFERED_BY_TUTOR"
    # Without a tutor (round robin) the same rules hold.
    assert (await attempt(tutorId=None, start=at(monday(5), 10)))["policy"] == "BOOKING_WINDOW"
    assert (await attempt(durationMinutes=45))["field"] == "input.durationMinutes"
    assert (await attempt(serviceId="junk"))["field"] == "input.serviceId"
    ghost = encode_id("Tutor", uuid.uuid4())
    assert (await attempt(tutorId=ghost))["__typename"] == "NotFound"
    assert (await attempt(notes="x" * 2001))["field"] == "input.notes"
    # No token and no guest: who is this for?
    assert (await book(gql, None, serviceId=service["id"], tutorId=ada.id, start=at(day, 10)))[
        "field"
    ] == "input.guest"

    priced = (
        await ada.service(
            title="Paid",
            durations=[{"minutes": 60, "price": {"amountMinor": 5000, "currency": "USD"}}],
        )
    )["service"]
    card = await book(gql, sam, serviceId=priced["id"], tutorId=ada.id, start=at(day, 10))
    assert card["__typename"] == "InvalidInput" and "payments" in card["message"]
    enrolled = (await ada.service(title="Course", enrollmentRequired=True))["service"]
    assert (await book(gql, sam, serviceId=enrolled["id"], tutorId=ada.id, start=at(day, 10)))[
        "reason"
    ] == "NOT_ENROLLED"
    package = (await ada.service(title="Pack", requiresPackage=True))["service"]
    assert (await book(gql, sam, serviceId=package["id"], tutorId=ada.id, start=at(day, 10)))[
        "policy"
    ] == "PACKAGE_REQUIRED"


async def test_student_cannot_be_in_two_places(gql: GraphQLClient) -> None:
    ada, service = await setup(gql)
    bob = await make_tutor(gql, "bob", "UTC", weekly("09:00", "13:00"))
    bobs = (await bob.service(slotIntervalMinutes=30))["service"]
    day = monday()
    sam = token("sam")
    assert (await book(gql, sam, serviceId=service["id"], tutorId=ada.id, start=at(day, 10)))[
        "__typename"
    ] == "BookingCreated"
    busy = await book(gql, sam, serviceId=bobs["id"], tutorId=bob.id, start=at(day, 10, 30))
    assert busy["__typename"] == "StudentBusy"
    fine = await book(gql, sam, serviceId=bobs["id"], tutorId=bob.id, start=at(day, 11))
    assert fine["__typename"] == "BookingCreated"


async def test_idempotency(gql: GraphQLClient) -> None:
    ada, service = await setup(gql)
    day = monday()
    sam = token("sam")
    input = {
        "serviceId": service["id"],
        "tutorId": ada.id,
        "start": at(day, 10),
        "idempotencyKey": "k-1",
    }
    first = await book(gql, sam, **input)
    again = await book(gql, sam, **input)
    assert again["__typename"] == "BookingCreated"
    assert again["booking"]["id"] == first["booking"]["id"]
    changed = await book(gql, sam, **{**input, "start": at(day, 11)})
    assert changed == {
        "__typename": "InvalidInput",
        "message": "This idempotency key was used with different input",
        "field": "input.idempotencyKey",
    }
    # Another user's same key is theirs alone.
    other = await book(gql, token("kim"), **{**input, "start": at(day, 11)})
    assert other["__typename"] == "BookingCreated"
    assert await free_starts(gql, service["id"], day) == ["09:00", "12:00"]


async def test_guest_booking_and_its_token(gql: GraphQLClient, db: Database) -> None:
    ada, service = await setup(gql)
    day = monday()
    # An account with the guest's email exists: the guest booking must not reach it.
    await stored_student(db, token("gina", email="gina@example.com"))
    guest = {"name": "Gina", "email": "gina@example.com", "phone": "+1 555 0100"}
    made = await book(
        gql, None, serviceId=service["id"], tutorId=ada.id, start=at(day, 10), guest=guest
    )
    assert made["__typename"] == "BookingCreated"
    secret = made["manageToken"]
    assert secret and len(secret) >= 40
    booking_id = made["booking"]["id"]
    by_token = await gql(
        "query($t: String!) { bookingByToken(token: $t) { id status } }", {"t": secret}
    )
    assert by_token["bookingByToken"]["id"] == booking_id
    assert (
        await gql("query($t: String!) { bookingByToken(token: $t) { id } }", {"t": secret + "x"})
    )["bookingByToken"] is None
    gina = token("gina", email="gina@example.com")
    assert (await gql("query($id: ID!) { booking(id: $id) { id } }", {"id": booking_id}, gina))[
        "booking"
    ] is None
    mine = await gql("{ bookings { totalCount } }", token=gina)
    assert mine["bookings"]["totalCount"] == 0

    moved = (await gql(RESCHEDULE, {"input": {"token": secret, "newStart": at(day, 11)}}))[
        "rescheduleBooking"
    ]
    assert moved["__typename"] == "BookingRescheduled"
    assert moved["booking"]["rescheduleCount"] == 1
    # A second guest's token does not open the first one's booking.
    other = await book(
        gql,
        None,
        serviceId=service["id"],
        tutorId=ada.id,
        start=at(day, 9),
        guest={"name": "Olo", "email": "olo@example.com"},
    )
    wrong = (
        await gql(CANCEL, {"input": {"token": other["manageToken"], "bookingId": booking_id}})
    )["cancelBooking"]
    assert wrong["__typename"] == "NotFound"
    cancelled = (await gql(CANCEL, {"input": {"token": secret, "reason": "Sick"}}))["cancelBooking"]
    assert cancelled["booking"]["status"] == "CANCELLED"
    assert cancelled["refund"] == {"kind": "NONE", "amount": 0}


async def test_tutor_books_for_a_student_outside_hours(gql: GraphQLClient, db: Database) -> None:
    ada, service = await setup(gql, minimumNoticeMinutes=60 * 24 * 30)
    day = monday()
    sam_token = token("sam")
    sam_id = await stored_student(db, sam_token)
    evening = await book(
        gql, ada.token, serviceId=service["id"], tutorId=ada.id, start=at(day, 19), studentId=sam_id
    )
    assert evening["__typename"] == "BookingCreated"
    assert evening["booking"]["student"]["id"] == sam_id
    # Never over capacity, even for the tutor.
    again = await book(
        gql,
        ada.token,
        serviceId=service["id"],
        tutorId=ada.id,
        start=at(day, 19, 30),
        studentId=sam_id,
    )
    assert again["__typename"] in ("SlotUnavailable", "StudentBusy")
    kim = token("kim")
    kim_id = await stored_student(db, kim)
    clash = await book(
        gql,
        ada.token,
        serviceId=service["id"],
        tutorId=ada.id,
        start=at(day, 19, 30),
        studentId=kim_id,
    )
    assert clash["__typename"] == "SlotUnavailable"
    # Only the tutor may book for a student.
    error = await gql.error(
        "mutation($i: CreateBookingInput!) { createBooking(input: $i) { __typename } }",
        {
            "i": {
                "serviceId": service["id"],
                "tutorId": ada.id,
                "start": at(day, 10),
                "timeZone": "UTC",
                "studentId": sam_id,
            }
        },
        kim,
    )
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_create_bookings_all_or_nothing(gql: GraphQLClient) -> None:
    ada, service = await setup(gql)
    day = monday()
    sam = token("sam")

    async def many(*hours: int) -> dict[str, Any]:
        input = {
            "serviceId": service["id"],
            "tutorId": ada.id,
            "timeZone": "UTC",
            "slots": [{"start": at(day, h)} for h in hours],
        }
        result: dict[str, Any] = (await gql(CREATE_MANY, {"input": input}, sam))["createBookings"]
        return result

    assert (
        await book(gql, token("kim"), serviceId=service["id"], tutorId=ada.id, start=at(day, 11))
    )["__typename"] == "BookingCreated"
    refused = await many(9, 10, 11)
    assert refused["__typename"] == "SlotUnavailable"
    assert "input.slots.2.start" in str(refused["message"])
    assert await free_starts(gql, service["id"], day) == ["09:00", "10:00", "12:00"]
    made = await many(9, 10, 12)
    assert made["__typename"] == "BookingsCreated"
    assert len(made["bookings"]) == 3
    assert await free_starts(gql, service["id"], day) == []
    assert (await many(*([9] * 21)))["field"] == "input.slots"


async def test_reschedule_rules(gql: GraphQLClient) -> None:
    ada, service = await setup(gql, maxReschedules=1, rescheduleNoticeHours=24)
    day = monday()
    sam = token("sam")
    made = await book(gql, sam, serviceId=service["id"], tutorId=ada.id, start=at(day, 10))
    booking_id = made["booking"]["id"]

    async def move(who: str | None, hour: int) -> dict[str, Any]:
        result: dict[str, object] = (
            await gql(
                RESCHEDULE, {"input": {"bookingId": booking_id, "newStart": at(day, hour)}}, who
            )
        )["rescheduleBooking"]
        return result

    moved = await move(sam, 12)
    assert moved["__typename"] == "BookingRescheduled"
    assert moved["booking"]["history"][-1]["action"] == "RESCHEDULED"
    assert "10:00" in await free_starts(gql, service["id"], day)
    assert "12:00" not in await free_starts(gql, service["id"], day)
    assert (await move(sam, 11))["policy"] == "MAX_RESCHEDULES"
    assert (await move(ada.token, 11))[
        "__typename"
    ] == "BookingRescheduled"  # tutors are not held to it
    assert (await move(token("kim"), 9))["__typename"] == "NotFound"
    other = await book(gql, token("kim"), serviceId=service["id"], tutorId=ada.id, start=at(day, 9))
    assert (await move(ada.token, 9))["__typename"] == "SlotUnavailable"
    assert other["__typename"] == "BookingCreated"
    await gql(CANCEL, {"input": {"bookingId": booking_id}}, sam)
    assert (await move(ada.token, 12))["policy"] == "INVALID_TRANSITION"


async def test_cancel_and_attendance(gql: GraphQLClient, db: Database) -> None:
    ada, service = await setup(gql, cancellationNoticeHours=24 * 365)
    day = monday()
    sam = token("sam")
    made = await book(gql, sam, serviceId=service["id"], tutorId=ada.id, start=at(day, 10))
    booking_id = made["booking"]["id"]
    assert (await gql(CANCEL, {"input": {"bookingId": booking_id}}, token("kim")))["cancelBooking"][
        "__typename"
    ] == "NotFound"
    late = (await gql(CANCEL, {"input": {"bookingId": booking_id, "reason": "Clash"}}, sam))[
        "cancelBooking"
    ]
    assert late["booking"] == {
        "id": booking_id,
        "status": "CANCELLED",
        "cancellationReason": "Clash",
    }
    assert late["refund"]["kind"] == "NONE"
    twice = (await gql(CANCEL, {"input": {"bookingId": booking_id}}, sam))["cancelBooking"]
    assert twice["policy"] == "INVALID_TRANSITION"

    sam_id = await stored_student(db, sam)
    past = await book(
        gql,
        ada.token,
        serviceId=service["id"],
        tutorId=ada.id,
        start=at(monday(-1), 10),
        studentId=sam_id,
    )
    future = await book(
        gql, ada.token, serviceId=service["id"], tutorId=ada.id, start=at(day, 11), studentId=sam_id
    )

    async def mark(who: str, booking: dict[str, Any], status: str) -> dict[str, Any]:
        input = {"bookingId": booking["booking"]["id"], "status": status, "notes": "ok"}
        result: dict[str, Any] = (await gql(ATTENDANCE, {"input": input}, who))["markAttendance"]
        return result

    assert (await mark(ada.token, future, "COMPLETED"))["policy"] == "INVALID_TRANSITION"
    error = await gql.error(
        ATTENDANCE, {"input": {"bookingId": past["booking"]["id"], "status": "COMPLETED"}}, sam
    )
    assert error["extensions"]["code"] == "FORBIDDEN"
    done = await mark(ada.token, past, "NO_SHOW")
    assert done["booking"]["status"] == "NO_SHOW"
    assert done["booking"]["history"][-1] == {"action": "NO_SHOW", "reason": "ok"}
    assert (await mark(ada.token, past, "COMPLETED"))["policy"] == "INVALID_TRANSITION"


async def test_attendance_flag_only_for_their_tutors(gql: GraphQLClient, db: Database) -> None:
    ada, service = await setup(gql)
    bob = await make_tutor(gql, "bob")
    sam = token("sam")
    sam_id = await stored_student(db, sam)
    query = "query($id: ID!) { booking(id: $id) { student { attendanceFlagged } } }"
    ids = []
    for week in (1, 2, 3):
        made = await book(
            gql,
            ada.token,
            serviceId=service["id"],
            tutorId=ada.id,
            start=at(monday(-week), 10),
            studentId=sam_id,
        )
        ids.append(made["booking"]["id"])
        seen = await gql(query, {"id": ids[0]}, ada.token)
        assert seen["booking"]["student"]["attendanceFlagged"] is (week == 4)
        await gql(
            ATTENDANCE,
            {"input": {"bookingId": made["booking"]["id"], "status": "NO_SHOW"}},
            ada.token,
        )
    assert (await gql(query, {"id": ids[0]}, ada.token))["booking"]["student"][
        "attendanceFlagged"
    ] is True
    assert (await gql(query, {"id": ids[0]}, sam))["booking"]["student"][
        "attendanceFlagged"
    ] is None
    assert (await gql(query, {"id": ids[0]}, bob.token))["booking"] is None
