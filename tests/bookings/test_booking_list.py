"""bookings(): keyset pages, filters, search, who sees what; batching; override conflicts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from infra.db import Database
from tests.helpers import (
    GraphQLClient,
    Tutor,
    at,
    book,
    count_statements,
    make_tutor,
    monday,
    token,
    weekly,
)

# On the awkward days CI picks too (tests/calendar_days.py).
pytestmark = pytest.mark.calendar

LIST = """query($filter: BookingFilter, $first: Int, $after: String) {
  bookings(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id start status student { displayName } } } } }"""


async def seed(gql: GraphQLClient, count: int = 5) -> tuple[Tutor, dict[str, Any], list[str]]:
    ada = await make_tutor(gql, "ada", "UTC", weekly("00:00", "00:00"))
    service = (await ada.service(slotIntervalMinutes=60))["service"]
    ids = []
    for i in range(count):
        who = token(f"student{i}", name=f"Student {i}", email=f"s{i}@example.com")
        made = await book(
            gql,
            who,
            serviceId=service["id"],
            tutorId=ada.id,
            start=at(monday() + timedelta(days=i // 10), 9 + i % 10),
        )
        ids.append(made["booking"]["id"])
    return ada, service, ids


async def test_pages_walk_every_booking_once(gql: GraphQLClient) -> None:
    ada, _, ids = await seed(gql, 5)
    seen: list[str] = []
    after = None
    while True:
        page = (await gql(LIST, {"first": 2, "after": after}, ada.token))["bookings"]
        assert page["totalCount"] == 5
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ids  # soonest first, each once
    error = await gql.error(LIST, {"first": 101}, ada.token)
    assert error["extensions"]["field"] == "first"
    bad = await gql.error(LIST, {"after": "nonsense"}, ada.token)
    assert bad["extensions"]["field"] == "after"
    anonymous = await gql.error(LIST)
    assert anonymous["extensions"]["code"] == "UNAUTHENTICATED"


async def test_filters_and_search(gql: GraphQLClient) -> None:
    ada, _, ids = await seed(gql, 4)
    await gql(
        "mutation($i: CancelBookingInput!) { cancelBooking(input: $i) { __typename } }",
        {"i": {"bookingId": ids[1]}},
        ada.token,
    )

    async def total(**filter: object) -> int:
        page = (await gql(LIST, {"filter": filter}, ada.token))["bookings"]
        return int(page["totalCount"])

    assert await total() == 4
    assert await total(status=["CANCELLED"]) == 1
    assert await total(status=["CONFIRMED", "CANCELLED"]) == 4
    assert await total(range="UPCOMING") == 4
    assert await total(range="PAST") == 0
    assert await total(search="Student 2") == 1
    assert await total(search="s3@EXAMPLE") == 1
    assert await total(search="%") == 0  # matched literally, not as a wildcard
    assert await total(**{"from": at(monday(), 10), "to": at(monday(), 12)}) == 2


async def test_each_sees_only_their_own(gql: GraphQLClient) -> None:
    ada, _, ids = await seed(gql, 3)
    bob = await make_tutor(gql, "bob")
    assert (await gql(LIST, {}, bob.token))["bookings"]["totalCount"] == 0
    # Filtering by another tutor's id shows nothing of theirs.
    assert (await gql(LIST, {"filter": {"tutorId": ada.id}}, bob.token))["bookings"][
        "totalCount"
    ] == 0
    student0 = (await gql(LIST, {}, token("student0")))["bookings"]
    assert [e["node"]["id"] for e in student0["edges"]] == [ids[0]]
    one = "query($id: ID!) { booking(id: $id) { id } node(id: $id) { id } }"
    assert (await gql(one, {"id": ids[1]}, token("student0"))) == {"booking": None, "node": None}
    assert (await gql(one, {"id": ids[1]}, bob.token)) == {"booking": None, "node": None}
    assert (await gql(one, {"id": ids[1]}, ada.token))["booking"]["id"] == ids[1]
    assert (await gql(one, {"id": ids[1]}))["booking"] is None


async def test_a_page_of_fifty_takes_a_constant_number_of_statements(
    gql: GraphQLClient, db: Database
) -> None:
    ada, _, _ = await seed(gql, 50)
    query = """query($first: Int) { bookings(first: $first) { edges { node {
      id tutor { displayName } service { title } student { displayName email attendanceFlagged }
      history { action } } } } }"""

    async def statements(first: int) -> int:
        with count_statements(db) as seen:
            data = await gql(query, {"first": first}, ada.token)
        assert len(data["bookings"]["edges"]) == first
        return len(seen)

    assert await statements(5) == await statements(50)


async def test_blocking_override_lists_conflicting_bookings(gql: GraphQLClient) -> None:
    ada, _, ids = await seed(gql, 3)  # 09:00, 10:00, 11:00 on monday()
    add = """mutation($i: AddOverrideInput!) { addOverride(input: $i) {
      ... on OverrideAdded { conflictingBookings { id } } } }"""
    day = str(monday())
    blocked = await gql(
        add,
        {
            "i": {
                "scheduleId": ada.schedule_id,
                "date": day,
                "start": "09:30",
                "end": "10:30",
                "available": False,
            }
        },
        ada.token,
    )
    assert [b["id"] for b in blocked["addOverride"]["conflictingBookings"]] == ids[:2]
    whole = await gql(
        add, {"i": {"scheduleId": ada.schedule_id, "date": day, "available": False}}, ada.token
    )
    assert len(whole["addOverride"]["conflictingBookings"]) == 3
    extra = await gql(
        add,
        {
            "i": {
                "scheduleId": ada.schedule_id,
                "date": day,
                "start": "09:00",
                "end": "12:00",
                "available": True,
            }
        },
        ada.token,
    )
    assert extra["addOverride"]["conflictingBookings"] == []
