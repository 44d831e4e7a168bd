"""Booking.rebookSuggestion: the same wall-clock time a week later, when the student may book it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.db import Database
from tests.helpers import (
    CLOCK,
    GraphQLClient,
    at,
    book,
    make_tutor,
    monday,
    stored_student,
    token,
)

pytestmark = pytest.mark.calendar

SUGGESTION = """query($id: ID!) { node(id: $id) { ... on Booking {
  rebookSuggestion { start end durationMinutes tutor { id } } } } }"""


async def suggestion(gql: GraphQLClient, booking_id: str, who: str) -> Any:
    node = (await gql(SUGGESTION, {"id": booking_id}, who))["node"]
    return node and node["rebookSuggestion"]


async def test_the_same_time_next_week_when_it_is_free(gql: GraphQLClient, db: Database) -> None:
    ada = await make_tutor(gql, "ada")  # 09:00-17:00 UTC every day
    service = (await ada.service())["service"]
    sam, sue = token("sam"), token("sue")
    day = monday()
    made = await book(gql, sam, serviceId=service["id"], tutorId=ada.id, start=at(day, 10))
    booking_id = made["booking"]["id"]
    expected = {
        "start": at(day + timedelta(days=7), 10),
        "end": at(day + timedelta(days=7), 11),
        "durationMinutes": 60,
        "tutor": {"id": ada.id},
    }
    assert await suggestion(gql, booking_id, sam) == expected
    assert await suggestion(gql, booking_id, ada.token) == expected  # the tutor sees it too
    assert await suggestion(gql, booking_id, sue) is None  # another viewer sees nothing

    # Taken by someone else: no suggestion.
    taken = await book(
        gql, sue, serviceId=service["id"], tutorId=ada.id, start=at(day + timedelta(days=7), 10)
    )
    assert taken["__typename"] == "BookingCreated"
    assert await suggestion(gql, booking_id, sam) is None

    # Booked by the tutor outside hours: next week's time is outside hours for the student.
    sam_id = await stored_student(db, sam)
    late = await book(
        gql, ada.token, serviceId=service["id"], tutorId=ada.id, start=at(day, 18), studentId=sam_id
    )
    assert late["__typename"] == "BookingCreated"
    assert await suggestion(gql, late["booking"]["id"], sam) is None


async def test_a_week_on_the_schedules_wall_clock_across_dst(gql: GraphQLClient) -> None:
    # London moves its clocks forward on 30 March 2031: 10:00 local is 10:00 UTC on the 24th,
    # 09:00 UTC on the 31st.
    CLOCK.set(datetime(2031, 3, 20, 12, tzinfo=UTC))
    ada = await make_tutor(gql, "ada", "Europe/London")
    service = (await ada.service())["service"]
    sam = token("sam")
    start = datetime(2031, 3, 24, 10, tzinfo=UTC).isoformat()
    made = await book(gql, sam, serviceId=service["id"], tutorId=ada.id, start=start)
    found = await suggestion(gql, made["booking"]["id"], sam)
    assert found["start"] == datetime(2031, 3, 31, 9, tzinfo=UTC).isoformat()
