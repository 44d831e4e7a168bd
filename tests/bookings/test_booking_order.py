"""bookings(orderBy:): keyset pages in each order, both ways, ties broken by id; a cursor
belongs to its order; BookingFilter.ids under the list's visibility, bounded, in the CSV too."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from infra.db import Database
from models import Booking
from schema.node import encode_id
from tests.helpers import (
    GraphQLClient,
    Tutor,
    add_booking,
    at,
    book,
    make_tutor,
    monday,
    token,
    weekly,
)

LIST = """query($filter: BookingFilter, $first: Int, $after: String, $last: Int,
  $before: String, $orderBy: BookingOrder) {
  bookings(filter: $filter, first: $first, after: $after, last: $last, before: $before,
    orderBy: $orderBy) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { node { id } } } }"""
CSV_URL = """query($filter: BookingFilter) {
  bookingsCsvUrl(filter: $filter, timeZone: "UTC") }"""
ORDERS = ("START_ASC", "START_DESC", "CREATED_DESC")


async def seed(gql: GraphQLClient, db: Database) -> tuple[Tutor, str, list[str]]:
    """Six of Ada's bookings, made out of start order, three of them starting at 10:00."""
    ada = await make_tutor(gql, "ada", "UTC", weekly("00:00", "00:00"))
    service = (await ada.service())["service"]["id"]
    day = monday()
    ids = []
    for i, hour in enumerate((12, 9, 10, 14)):
        who = token(f"student{i}", name=f"Student {i}")
        made = await book(gql, who, serviceId=service, tutorId=ada.id, start=at(day, hour))
        ids.append(made["booking"]["id"])
    for _ in range(2):  # the same start as the 10:00 one: only the id tells them apart
        added = await add_booking(db, ada.id, service, datetime.fromisoformat(at(day, 10)))
        ids.append(encode_id("Booking", added))
    return ada, service, ids


async def in_order(db: Database, order: str) -> list[str]:
    """Every booking in `order`, sorted here from the stored rows."""
    async with db.session() as session:
        rows = list(await session.exec(select(Booking).where(col(Booking.id).is_not(None))))

    def key(b: Booking) -> tuple[datetime, uuid.UUID]:
        return (b.created_at if order == "CREATED_DESC" else b.start_at), b.id

    rows.sort(key=key, reverse=order != "START_ASC")
    return [encode_id("Booking", b.id) for b in rows]


async def walk(gql: GraphQLClient, who: str, order: str, backward: bool) -> list[list[str]]:
    """Every page of the list in `order`, pages of 2, forward or backward."""
    pages: list[list[str]] = []
    cursor = None
    size, cursor_name = ("last", "before") if backward else ("first", "after")
    while True:
        variables = {size: 2, cursor_name: cursor, "orderBy": order}
        page = (await gql(LIST, variables, who))["bookings"]
        pages.append([e["node"]["id"] for e in page["edges"]])
        info = page["pageInfo"]
        if not info["hasPreviousPage" if backward else "hasNextPage"]:
            return pages
        cursor = info["startCursor" if backward else "endCursor"]


@pytest.mark.parametrize("order", ORDERS)
async def test_each_order_pages_both_ways(gql: GraphQLClient, db: Database, order: str) -> None:
    ada, _, ids = await seed(gql, db)
    expected = await in_order(db, order)
    assert sorted(expected) == sorted(ids)
    forward = await walk(gql, ada.token, order, backward=False)
    assert [i for page in forward for i in page] == expected
    backward = await walk(gql, ada.token, order, backward=True)
    # Backward pages come from the end, each in the list's own order.
    assert backward == [expected[4:], expected[2:4], expected[:2]]
    one = (await gql(LIST, {"first": 6, "orderBy": order}, ada.token))["bookings"]
    assert [e["node"]["id"] for e in one["edges"]] == expected
    if order == "START_DESC":  # exactly the reverse of the default, ties included
        assert expected == (await in_order(db, "START_ASC"))[::-1]
    if order == "CREATED_DESC":  # newest made first: the order they were made, reversed
        assert expected == ids[::-1]


async def test_default_order_is_start_ascending(gql: GraphQLClient, db: Database) -> None:
    ada, _, _ = await seed(gql, db)
    expected = await in_order(db, "START_ASC")
    for variables in ({"first": 6}, {"first": 6, "orderBy": None}):
        page = (await gql(LIST, variables, ada.token))["bookings"]
        assert [e["node"]["id"] for e in page["edges"]] == expected


async def test_a_cursor_from_another_order_is_refused(gql: GraphQLClient, db: Database) -> None:
    ada, _, _ = await seed(gql, db)
    page = (await gql(LIST, {"first": 2, "orderBy": "START_ASC"}, ada.token))["bookings"]
    cursor = page["pageInfo"]["endCursor"]
    for variables, field in (
        ({"first": 2, "after": cursor, "orderBy": "START_DESC"}, "after"),
        ({"first": 2, "after": cursor, "orderBy": "CREATED_DESC"}, "after"),
        ({"last": 2, "before": cursor, "orderBy": "CREATED_DESC"}, "before"),
    ):
        error = await gql.error(LIST, variables, ada.token)
        assert (error["extensions"]["code"], error["extensions"]["field"]) == (
            "BAD_USER_INPUT",
            field,
        ), variables
    # In its own order the same cursor works.
    same = await gql(LIST, {"first": 2, "after": cursor, "orderBy": "START_ASC"}, ada.token)
    assert len(same["bookings"]["edges"]) == 2


async def test_ids_select_only_what_the_viewer_may_see(gql: GraphQLClient, db: Database) -> None:
    ada, _, ids = await seed(gql, db)
    bob = await make_tutor(gql, "bob", "UTC", weekly("00:00", "00:00"))
    bob_service = (await bob.service())["service"]["id"]
    sam = token("sam", name="Sam")
    bobs = await book(gql, sam, serviceId=bob_service, tutorId=bob.id, start=at(monday(), 9))
    bob_booking = bobs["booking"]["id"]

    chosen = [ids[3], bob_booking, ids[0]]
    page = (await gql(LIST, {"filter": {"ids": chosen}}, ada.token))["bookings"]
    # Bob's booking is simply not there; Ada's two in the list's order (12:00, then 14:00).
    assert [e["node"]["id"] for e in page["edges"]] == [ids[0], ids[3]]
    assert page["totalCount"] == 2
    as_bob = (await gql(LIST, {"filter": {"ids": chosen}}, bob.token))["bookings"]
    assert [e["node"]["id"] for e in as_bob["edges"]] == [bob_booking]
    as_sam = (await gql(LIST, {"filter": {"ids": chosen}}, sam))["bookings"]
    assert [e["node"]["id"] for e in as_sam["edges"]] == [bob_booking]
    # Filters still apply with ids, and no ids selects nothing.
    both = {"ids": chosen, "from": at(monday(), 13)}
    narrowed = (await gql(LIST, {"filter": both}, ada.token))["bookings"]
    assert [e["node"]["id"] for e in narrowed["edges"]] == [ids[3]]
    empty = (await gql(LIST, {"filter": {"ids": []}}, ada.token))["bookings"]
    assert empty["totalCount"] == 0


async def test_ids_are_checked(gql: GraphQLClient, db: Database) -> None:
    ada, _, ids = await seed(gql, db)
    many = [encode_id("Booking", uuid.uuid4()) for _ in range(100)]
    fits = (await gql(LIST, {"filter": {"ids": many}}, ada.token))["bookings"]
    assert fits["totalCount"] == 0
    for filter, field in (
        ({"ids": [*many, ids[0]]}, "filter.ids"),
        ({"ids": [ids[0], "nonsense"]}, "filter.ids[1]"),
        ({"ids": [ada.id]}, "filter.ids[0]"),  # a Tutor id, not a Booking's
    ):
        for query, variables in ((LIST, {"filter": filter}), (CSV_URL, {"filter": filter})):
            error = await gql.error(query, variables, ada.token)
            assert (error["extensions"]["code"], error["extensions"]["field"]) == (
                "BAD_USER_INPUT",
                field,
            ), (query, filter)


async def test_csv_of_selected_rows(
    gql: GraphQLClient, db: Database, http: httpx.AsyncClient
) -> None:
    ada, _, ids = await seed(gql, db)
    stranger = token("eve", name="Eve")
    chosen = [ids[3], ids[1], encode_id("Booking", uuid.uuid4())]

    async def exported(who: str, filter: dict[str, Any]) -> list[str]:
        url: str = (await gql(CSV_URL, {"filter": filter}, who))["bookingsCsvUrl"]
        response = await http.get(url.removeprefix("http://127.0.0.1:8000"))
        assert response.status_code == 200
        lines = response.content.decode().split("\r\n")[1:]
        return [line.split(",")[0] for line in lines if line]

    # The selected rows the viewer may see, in the list's default order (09:00, then 14:00).
    assert await exported(ada.token, {"ids": chosen}) == [ids[1], ids[3]]
    assert await exported(stranger, {"ids": chosen}) == []
    # A link for 100 selected ids stays short enough for any browser or proxy.
    many = [*chosen, *(encode_id("Booking", uuid.uuid4()) for _ in range(97))]
    url = (await gql(CSV_URL, {"filter": {"ids": many}}, ada.token))["bookingsCsvUrl"]
    assert len(url) < 4000
    assert await exported(ada.token, {"ids": many}) == [ids[1], ids[3]]
