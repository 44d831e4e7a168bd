"""bookings(): keyset pages both ways, filters, search, who sees what; nodes(ids:); batching;
override conflicts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from infra.db import Database
from tests.helpers import (
    CLOCK,
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

LIST = """query($filter: BookingFilter, $first: Int, $after: String, $last: Int,
  $before: String, $orderBy: BookingOrder) {
  bookings(filter: $filter, first: $first, after: $after, last: $last, before: $before,
    orderBy: $orderBy) {
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


async def walk(
    gql: GraphQLClient,
    who: str,
    backward: bool,
    filter: dict[str, Any] | None = None,
    order: str | None = None,
) -> tuple[list[list[str]], list[dict[str, Any]]]:
    """Every page of the list, pages of 2, forward (first/after) or backward (last/before)."""
    pages, infos, cursor = [], [], None
    size, cursor_name = ("last", "before") if backward else ("first", "after")
    while True:
        variables = {"filter": filter, size: 2, cursor_name: cursor, "orderBy": order}
        page = (await gql(LIST, variables, who))["bookings"]
        pages.append([e["node"]["id"] for e in page["edges"]])
        infos.append(page["pageInfo"])
        if not page["pageInfo"]["hasPreviousPage" if backward else "hasNextPage"]:
            return pages, infos
        cursor = page["pageInfo"]["startCursor" if backward else "endCursor"]


@pytest.mark.parametrize(("filter", "order"), [(None, None), ({"range": "PAST"}, "START_DESC")])
async def test_last_before_pages_are_first_after_in_reverse(
    gql: GraphQLClient, filter: dict[str, Any] | None, order: str | None
) -> None:
    ada, _, ids = await seed(gql, 5)
    if filter is not None:  # past ones, newest first: move the clock past them all
        CLOCK.set(CLOCK() + timedelta(days=30))
    forward, forward_info = await walk(gql, ada.token, backward=False, filter=filter, order=order)
    backward, backward_info = await walk(gql, ada.token, backward=True, filter=filter, order=order)
    expected = ids if filter is None else ids[::-1]
    assert [i for page in forward for i in page] == expected
    # Within a page the list's order; the pages themselves from the end: 5 = 1 + 2 + 2.
    assert backward == [expected[3:], expected[1:3], expected[:1]]
    assert [i for page in backward[::-1] for i in page] == expected
    assert [(p["hasPreviousPage"], p["hasNextPage"]) for p in backward_info] == [
        (True, False),
        (True, True),
        (False, True),
    ]
    assert forward_info[0]["hasPreviousPage"] is False
    # before a cursor: the bookings just ahead of it, matching the forward pages' cursors.
    last_two = await gql(
        LIST,
        {"filter": filter, "last": 2, "before": forward_info[2]["startCursor"], "orderBy": order},
        ada.token,
    )
    assert [e["node"]["id"] for e in last_two["bookings"]["edges"]] == forward[1]


async def test_paging_arguments_are_checked(gql: GraphQLClient) -> None:
    ada, _, _ = await seed(gql, 1)
    for variables, field in (
        ({"last": 101}, "last"),
        ({"last": 0}, "last"),
        ({"first": 0}, "first"),
        ({"before": "nonsense"}, "before"),
        ({"first": 2, "last": 2}, "last"),
        ({"after": "x", "before": "y"}, "last"),
    ):
        error = await gql.error(LIST, variables, ada.token)
        assert (error["extensions"]["code"], error["extensions"]["field"]) == (
            "BAD_USER_INPUT",
            field,
        ), variables
    # Only before: the default page of the bookings before it.
    page = (await gql(LIST, {"last": 1}, ada.token))["bookings"]
    assert len(page["edges"]) == 1


NODES = """query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"""


async def test_nodes_in_order_with_the_visibility_of_node(gql: GraphQLClient) -> None:
    ada, service, ids = await seed(gql, 2)
    bob = await make_tutor(gql, "bob")
    asked = [ids[1], ada.id, "nonsense", ids[0], service["id"], ada.schedule_id, ids[1]]

    def shown(data: dict[str, Any]) -> list[str | None]:
        return [n["id"] if n else None for n in data["nodes"]]

    # Her own bookings and schedule for the tutor; in the order asked, repeats included.
    assert shown(await gql(NODES, {"ids": asked}, ada.token)) == [
        ids[1], ada.id, None, ids[0], service["id"], ada.schedule_id, ids[1],
    ]  # fmt: skip
    # Another tutor, the booking's student, a stranger: what node(id:) shows each of them.
    for who, bookings_seen in (
        (bob.token, [None, None]),
        (token("student0"), [None, ids[0]]),
        (None, [None, None]),
    ):
        data = await gql(NODES, {"ids": asked}, who)
        assert shown(data) == [
            bookings_seen[0], ada.id, None, bookings_seen[1], service["id"], None,
            bookings_seen[0],
        ]  # fmt: skip
        for id, node in zip(asked, data["nodes"], strict=True):
            single = await gql(
                "query($id: ID!) { node(id: $id) { __typename id } }", {"id": id}, who
            )
            assert single["node"] == node
    assert (await gql(NODES, {"ids": []}, ada.token)) == {"nodes": []}
    error = await gql.error(NODES, {"ids": [ids[0]] * 101}, ada.token)
    assert (error["extensions"]["code"], error["extensions"]["field"]) == ("BAD_USER_INPUT", "ids")


async def test_nodes_read_each_type_in_one_batch(gql: GraphQLClient, db: Database) -> None:
    ada, _, ids = await seed(gql, 10)
    with count_statements(db) as two:
        await gql(NODES, {"ids": ids[:2]}, ada.token)
    with count_statements(db) as ten:
        await gql(NODES, {"ids": ids}, ada.token)
    assert len(ten) == len(two)


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
