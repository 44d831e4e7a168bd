"""Per-date capacity through GraphQL: an override's seats in search, in booking (the re-check
under the locks, a tutor booking outside hours included), on a DST date, refusals, reading it
back, and ten simultaneous bookings through two server processes."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from infra.db import Database
from tests.calendar_days import dst_changes
from tests.helpers import (
    CLOCK,
    CREATE,
    CREATE_SCHEDULE,
    CREATE_SERVICE,
    CREATE_TUTOR,
    GraphQLClient,
    Tutor,
    at,
    book,
    make_tutor,
    monday,
    search,
    stored_student,
    token,
    weekly,
)
from tests.processes import call, servers_on_a_new_database

# The in-process tests run again on CI's awkward days (`calendar`, tests/calendar_days.py); the
# race below runs real server processes on the wall clock, which those days do not reach.

ADD_OVERRIDE = """mutation($input: AddOverrideInput!) { addOverride(input: $input) {
  __typename ... on OverrideAdded { override { id date start end available capacity } }
  ... on InvalidInput { message field } } }"""
OVERRIDES = """query($id: ID!, $from: Date!, $to: Date!) { tutor(id: $id) { schedules {
  overrides(from: $from, to: $to) { date start end available capacity } } } }"""


async def override(gql: GraphQLClient, tutor: Tutor, **input: Any) -> dict[str, Any]:
    input = {"scheduleId": tutor.schedule_id, "available": True, **input}
    result: dict[str, Any] = (await gql(ADD_OVERRIDE, {"input": input}, tutor.token))["addOverride"]
    return result


async def seats(
    gql: GraphQLClient, tutor: Tutor, service_id: str, first: date, days: int = 1, zone: str = "UTC"
) -> dict[str, int]:
    """The tutor's view of their slots from local midnight of `first`: start -> seats left."""
    tz = ZoneInfo(zone)
    start = datetime.combine(first, datetime.min.time(), tz)
    end = datetime.combine(first + timedelta(days=days), datetime.min.time(), tz)
    window = {"from": start.isoformat(), "to": end.isoformat()}
    found = await search(gql, tutor.token, serviceId=service_id, timeZone=zone, **window)
    return {s["start"]: s["remainingCapacity"] for s in found["slots"]}


async def book_at(
    gql: GraphQLClient, tutor: Tutor, service_id: str, start: str, who: str, **more: Any
) -> str:
    made = await book(gql, who, serviceId=service_id, tutorId=tutor.id, start=start, **more)
    return str(made["__typename"])


@pytest.mark.calendar
async def test_extra_hours_with_capacity_seat_three_on_a_one_to_one_service(
    gql: GraphQLClient,
) -> None:
    ada = await make_tutor(gql, "ada", "UTC", weekly("09:00", "12:00"))
    service = (await ada.service(slotIntervalMinutes=60))["service"]["id"]
    day = monday()
    added = await override(gql, ada, date=str(day), start="17:00", end="19:00", capacity=3)
    assert added["override"] == {
        "id": added["override"]["id"],
        "date": str(day),
        "start": "17:00:00",
        "end": "19:00:00",
        "available": True,
        "capacity": 3,
    }
    evening = at(day, 17)
    # The extra hours are added, with 3 seats; the weekly hours keep the service's 1.
    found = await seats(gql, ada, service, day)
    assert found[evening] == 3 and found[at(day, 18)] == 3 and found[at(day, 10)] == 1
    for left, student in ((2, "sam"), (1, "kim"), (None, "lea")):
        assert await book_at(gql, ada, service, evening, token(student)) == "BookingCreated"
        assert (await seats(gql, ada, service, day)).get(evening) == left
    assert await book_at(gql, ada, service, evening, token("max")) == "SlotUnavailable"
    # Outside the override the one-to-one service is full after one booking.
    assert await book_at(gql, ada, service, at(day, 10), token("sam")) == "BookingCreated"
    assert await book_at(gql, ada, service, at(day, 10), token("kim")) == "SlotUnavailable"
    # It reads back from the schedule.
    listed = await gql(OVERRIDES, {"id": ada.id, "from": str(day), "to": str(day)}, ada.token)
    assert [o["capacity"] for o in listed["tutor"]["schedules"][0]["overrides"]] == [3]


@pytest.mark.calendar
async def test_a_whole_date_capacity_takes_a_group_of_ten_to_two_that_date_only(
    gql: GraphQLClient,
) -> None:
    ada = await make_tutor(gql, "ada", "UTC", weekly("09:00", "12:00"))
    group = (await ada.service(title="Group", capacity=10, slotIntervalMinutes=60))["service"]["id"]
    day = monday()
    before = await seats(gql, ada, group, day, days=2)
    added = await override(gql, ada, date=str(day), capacity=2)
    assert (added["override"]["start"], added["override"]["capacity"]) == (None, 2)
    after = await seats(gql, ada, group, day, days=2)
    # The same hours; 2 seats that date, 10 the next.
    assert list(after) == list(before)
    assert {start: n for start, n in after.items() if start < at(day + timedelta(1), 0)} == {
        at(day, 9): 2,
        at(day, 10): 2,
        at(day, 11): 2,
    }
    assert {n for start, n in after.items() if start >= at(day + timedelta(1), 0)} == {10}
    for student in ("sam", "kim"):
        assert await book_at(gql, ada, group, at(day, 9), token(student)) == "BookingCreated"
    assert await book_at(gql, ada, group, at(day, 9), token("lea")) == "SlotUnavailable"
    next_day = at(day + timedelta(1), 9)
    for student in ("sam", "kim", "lea"):
        assert await book_at(gql, ada, group, next_day, token(student)) == "BookingCreated"


@pytest.mark.calendar
async def test_a_tutor_booking_outside_hours_honours_the_dates_seats(
    gql: GraphQLClient, db: Database
) -> None:
    ada = await make_tutor(gql, "ada", "UTC", weekly("09:00", "12:00"))
    service = (await ada.service(slotIntervalMinutes=60))["service"]["id"]
    day = monday()
    assert (await override(gql, ada, date=str(day), capacity=2))["__typename"] == "OverrideAdded"
    outcomes = []
    for student in ("sam", "kim", "lea"):
        student_id = await stored_student(db, token(student))
        outcomes.append(
            await book_at(gql, ada, service, at(day, 19), ada.token, studentId=student_id)
        )
    assert outcomes == ["BookingCreated", "BookingCreated", "SlotUnavailable"]


@pytest.mark.calendar
async def test_a_whole_date_on_a_dst_change_date_in_new_york(gql: GraphQLClient) -> None:
    zone = "America/New_York"
    change = next(dst_changes(zone, CLOCK() + timedelta(days=2)))
    day = change.astimezone(ZoneInfo(zone)).date()
    ada = await make_tutor(gql, "ada", zone, weekly("00:00", "00:00"))
    service = (await ada.service(slotIntervalMinutes=60, bookingWindowDays=730))["service"]["id"]
    assert (await override(gql, ada, date=str(day), capacity=2))["__typename"] == "OverrideAdded"
    found = await seats(gql, ada, service, day - timedelta(days=1), days=3, zone=zone)
    by_date: dict[date, list[int]] = {}
    for start, n in found.items():
        by_date.setdefault(datetime.fromisoformat(start).date(), []).append(n)
    # Every hour of the local date (23 or 25 of them) has 2 seats; the dates around keep 1.
    tz = ZoneInfo(zone)
    midnights = [datetime.combine(day + timedelta(days=n), datetime.min.time(), tz) for n in (0, 1)]
    local_hours = int(midnights[1].timestamp() - midnights[0].timestamp()) // 3600
    assert local_hours in (23, 25)
    assert by_date[day] == [2] * local_hours
    assert by_date[day - timedelta(days=1)] == [1] * 24
    assert by_date[day + timedelta(days=1)] == [1] * 24


@pytest.mark.calendar
@pytest.mark.parametrize(
    ("input", "field"),
    [
        ({"available": False, "capacity": 3}, "input.capacity"),
        ({"available": False, "start": "10:00", "end": "11:00", "capacity": 3}, "input.capacity"),
        ({"capacity": 0}, "input.capacity"),
        ({"start": "10:00", "end": "11:00", "capacity": 1001}, "input.capacity"),
        ({}, "input.start"),  # available with neither times nor a capacity
    ],
)
async def test_refused(gql: GraphQLClient, input: dict[str, Any], field: str) -> None:
    ada = await make_tutor(gql, "ada")
    refused = await override(gql, ada, date=str(monday()), **input)
    assert (refused["__typename"], refused["field"]) == ("InvalidInput", field)


# ---------------------------------------------------------------- two server processes


@pytest.fixture(scope="module")
def ports() -> Iterator[list[int]]:
    with servers_on_a_new_database("capacity_race") as started:
        yield started


@pytest.mark.parametrize("times", [True, False], ids=["extra-hours", "whole-date"])
async def test_ten_simultaneous_bookings_under_a_capacity_of_three(
    ports: list[int], times: bool
) -> None:
    clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{p}") for p in ports]
    try:
        sub = f"cap-tutor-{times}"
        who = token(sub)
        tutor = (await call(clients[0], CREATE_TUTOR, {"name": sub, "tz": "UTC"}, who))[
            "createTutorProfile"
        ]["tutor"]["id"]
        hours = {"name": "H", "timeZone": "UTC", "rules": weekly("09:00", "12:00")}
        schedule = (await call(clients[0], CREATE_SCHEDULE, {"input": hours}, who))[
            "createSchedule"
        ]["schedule"]["id"]
        input = {"title": "Lesson", "durations": [{"minutes": 60}], "slotIntervalMinutes": 60}
        service = (await call(clients[0], CREATE_SERVICE, {"input": input}, who))["createService"][
            "service"
        ]["id"]
        day = monday(3)
        change = {"scheduleId": schedule, "date": str(day), "available": True, "capacity": 3}
        if times:
            change |= {"start": "18:00", "end": "20:00"}
        added = await call(clients[1], ADD_OVERRIDE, {"input": change}, who)
        assert added["addOverride"]["__typename"] == "OverrideAdded"
        start = at(day, 18 if times else 10)

        async def attempt(i: int) -> str:
            input = {"serviceId": service, "tutorId": tutor, "start": start, "timeZone": "UTC"}
            data = await call(clients[i % 2], CREATE, {"input": input}, token(f"cap-{times}-{i}"))
            return str(data["createBooking"]["__typename"])

        outcomes = Counter(await asyncio.gather(*(attempt(i) for i in range(10))))
        assert outcomes == {"BookingCreated": 3, "SlotUnavailable": 7}
    finally:
        for client in clients:
            await client.aclose()
