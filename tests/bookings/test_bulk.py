"""updateBookings through GraphQL: allowed, foreign, unknown, malformed and too-early ids in one
call, the whole list refused when it is empty, too long or names a booking twice, and each change
leaving exactly the history and background work the single mutation leaves."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import select

from infra.db import Database
from models import OutboxJob
from schema.node import encode_id
from tests.helpers import (
    ATTENDANCE,
    CANCEL,
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

pytestmark = pytest.mark.calendar

BULK = """mutation($input: UpdateBookingsInput!) { updateBookings(input: $input) {
  __typename
  ... on BookingsUpdated {
    updated { id status cancellationReason }
    failed { bookingId error { __typename message
      ... on InvalidInput { field } ... on PolicyViolation { policy } } } }
  ... on InvalidInput { field message } } }"""
HISTORY = """query($id: ID!) { booking(id: $id) { status history { action actorId reason } } }"""


async def bulk(gql: GraphQLClient, who: str, ids: list[str], action: str, **more: Any) -> Any:
    input = {"bookingIds": ids, "action": action, **more}
    return (await gql(BULK, {"input": input}, who))["updateBookings"]


async def lessons(gql: GraphQLClient, name: str) -> tuple[Tutor, str]:
    tutor = await make_tutor(gql, name, "UTC", weekly("09:00", "13:00"))
    service = (await tutor.service(slotIntervalMinutes=60))["service"]
    return tutor, service["id"]


async def booked(gql: GraphQLClient, tutor: Tutor, service: str, student: str, start: str) -> str:
    made = await book(
        gql, tutor.token, serviceId=service, tutorId=tutor.id, start=start, studentId=student
    )
    assert made["__typename"] == "BookingCreated", made
    booking_id: str = made["booking"]["id"]
    return booking_id


async def background(db: Database) -> Counter[str]:
    async with db.session() as session:
        return Counter(await session.exec(select(OutboxJob.kind)))


async def trace(gql: GraphQLClient, who: str, booking_id: str) -> Any:
    return (await gql(HISTORY, {"id": booking_id}, who))["booking"]


async def test_a_mix_of_ids(gql: GraphQLClient, db: Database) -> None:
    ada, service = await lessons(gql, "ada")
    kim, kims_service = await lessons(gql, "kim")
    sam = await stored_student(db, token("sam"))
    last_week = monday(-1)
    done = await booked(gql, ada, service, sam, at(last_week, 9))
    early = await booked(gql, ada, service, sam, at(monday(), 9))
    foreign = await booked(gql, kim, kims_service, sam, at(last_week, 11))
    unknown = str(encode_id("Booking", uuid.uuid4()))
    ids = [done, foreign, "not-an-id", early, unknown]

    result = await bulk(gql, ada.token, ids, "COMPLETE")

    assert result["__typename"] == "BookingsUpdated"
    assert result["updated"] == [{"id": done, "status": "COMPLETED", "cancellationReason": None}]
    failed = {f["bookingId"]: f["error"] for f in result["failed"]}
    assert list(failed) == [foreign, "not-an-id", early, unknown]
    assert failed[foreign] == {"__typename": "NotFound", "message": "No such booking"}
    assert failed[unknown] == failed[foreign]
    assert failed["not-an-id"]["__typename"] == "InvalidInput"
    assert failed["not-an-id"]["field"] == "input.bookingIds[2]"
    assert failed[early]["policy"] == "INVALID_TRANSITION"
    assert (await trace(gql, kim.token, foreign))["status"] == "CONFIRMED"
    # A student may not mark their own booking: that booking fails, as the single refuses it.
    theirs = await bulk(gql, token("sam"), [early], "NO_SHOW")
    assert theirs["updated"] == []
    assert theirs["failed"][0]["error"]["policy"] == "INVALID_TRANSITION"
    assert theirs["failed"][0]["error"]["message"] == "Only the booking's tutor marks attendance"


@pytest.mark.parametrize(
    "ids_with",
    [lambda done: [], lambda done: [done, *["x"] * 100], lambda done: [done, done]],
    ids=["empty", "over 100", "twice"],
)
async def test_the_list_is_refused_whole(
    gql: GraphQLClient, db: Database, ids_with: Callable[[str], list[str]]
) -> None:
    ada, service = await lessons(gql, "ada")
    sam = await stored_student(db, token("sam"))
    done = await booked(gql, ada, service, sam, at(monday(-1), 9))
    ids = ids_with(done)
    result = await bulk(gql, ada.token, ids, "COMPLETE")
    assert result["__typename"] == "InvalidInput"
    assert result["field"] == "input.bookingIds"
    assert (await trace(gql, ada.token, done))["status"] == "CONFIRMED"


async def test_attendance_as_the_single_change(gql: GraphQLClient, db: Database) -> None:
    ada, service = await lessons(gql, "ada")
    sam = await stored_student(db, token("sam"))
    single = await booked(gql, ada, service, sam, at(monday(-1), 9))
    many = await booked(gql, ada, service, sam, at(monday(-1), 10))

    before = await background(db)
    input = {"bookingId": single, "status": "NO_SHOW", "notes": "Absent"}
    assert (await gql(ATTENDANCE, {"input": input}, ada.token))["markAttendance"][
        "__typename"
    ] == "AttendanceMarked"
    after_single = await background(db)
    result = await bulk(gql, ada.token, [many], "NO_SHOW", reason="Absent")
    after_bulk = await background(db)

    assert result["updated"][0]["status"] == "NO_SHOW"
    assert await trace(gql, ada.token, many) == await trace(gql, ada.token, single)
    assert after_bulk - after_single == after_single - before


async def test_cancel_as_the_single_change(gql: GraphQLClient, db: Database) -> None:
    ada, service = await lessons(gql, "ada")
    sam = await stored_student(db, token("sam"))
    single = await booked(gql, ada, service, sam, at(monday(), 9))
    many = await booked(gql, ada, service, sam, at(monday(), 10))
    past = await booked(gql, ada, service, sam, at(monday(-1), 10))

    before = await background(db)
    cancelled = (await gql(CANCEL, {"input": {"bookingId": single, "reason": "Ill"}}, ada.token))[
        "cancelBooking"
    ]
    assert cancelled["__typename"] == "BookingCancelled"
    after_single = await background(db)
    result = await bulk(gql, ada.token, [many, past], "CANCEL", reason="Ill")
    after_bulk = await background(db)

    assert result["updated"] == [{"id": many, "status": "CANCELLED", "cancellationReason": "Ill"}]
    assert result["failed"][0]["bookingId"] == past
    assert (
        result["failed"][0]["error"]["message"] == "A session that has started cannot be cancelled"
    )
    assert await trace(gql, ada.token, many) == await trace(gql, ada.token, single)
    assert after_bulk - after_single == after_single - before
    assert after_bulk != after_single  # the cancellation's emails and events are written
