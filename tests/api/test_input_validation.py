"""Input a hostile caller sends: text PostgreSQL cannot store, DateTimes out of range, and the
code every top-level error carries. None of it may reach the database or an `Internal error.`."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from httpx_ws import WebSocketDisconnect

from booking_api.app import build_app
from infra.db import Database, create_engine
from infra.settings import QueryLimits, Settings
from schema.node import encode_id
from tests.helpers import (
    CREATE,
    CREATE_MANY,
    CREATE_SERVICE,
    GraphQLClient,
    Tutor,
    at,
    book,
    make_tutor,
    monday,
    token,
    websocket,
    weekly,
)

SEARCH = """query($input: SlotSearchInput!) { availableSlots(input: $input) { slots { start } } }"""
LIST = """query($filter: BookingFilter) { bookings(filter: $filter) { totalCount } }"""
BAD_TEXT = {"NUL": "Gi\u0000na", "lone surrogate": "Gi\ud800na"}


async def post_raw(http: httpx.AsyncClient, body: dict[str, Any], who: str | None) -> Any:
    """JSON with \\u escapes, as any client may send: a lone surrogate survives the trip."""
    headers = {"content-type": "application/json"}
    if who is not None:
        headers["Authorization"] = f"Bearer {who}"
    response = await http.post("/graphql", content=json.dumps(body), headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def ada_and_service(gql: GraphQLClient) -> tuple[Tutor, str]:
    ada = await make_tutor(gql, "ada", "UTC", weekly("09:00", "13:00"))
    return ada, (await ada.service(slotIntervalMinutes=60))["service"]["id"]


@pytest.mark.parametrize("kind", BAD_TEXT)
async def test_text_postgresql_cannot_store_is_invalid_input_naming_the_field(
    gql: GraphQLClient, http: httpx.AsyncClient, kind: str
) -> None:
    ada, service = await ada_and_service(gql)
    bad = BAD_TEXT[kind]
    base = {"serviceId": service, "tutorId": ada.id, "start": at(monday(), 10), "timeZone": "UTC"}
    sam = token("sam")
    cases: list[tuple[str | None, dict[str, Any], str]] = [
        (None, {"guest": {"name": bad, "email": "g@example.com"}}, "input.guest.name"),
        (None, {"guest": {"name": "Gina", "email": f"g{bad}@example.com"}}, "input.guest.email"),
        (sam, {"notes": bad}, "input.notes"),
        (sam, {"idempotencyKey": bad}, "input.idempotencyKey"),
        (sam, {"tutorId": bad}, "input.tutorId"),
    ]
    for who, change, field in cases:
        body = await post_raw(
            http, {"query": CREATE, "variables": {"input": {**base, **change}}}, who
        )
        assert body["data"]["createBooking"]["__typename"] == "InvalidInput", (field, body)
        assert body["data"]["createBooking"]["field"] == field
        assert "cannot" in body["data"]["createBooking"]["message"]
    many = {
        "serviceId": service,
        "tutorId": ada.id,
        "timeZone": "UTC",
        "slots": [{"start": at(monday(), 10)}],
        "notes": bad,
    }
    body = await post_raw(http, {"query": CREATE_MANY, "variables": {"input": many}}, sam)
    assert body["data"]["createBookings"]["field"] == "input.notes"
    # In a list, the path names the item.
    service_input = {"title": "Duo", "durations": [{"minutes": 60}], "tutorIds": [ada.id, bad]}
    body = await post_raw(
        http, {"query": CREATE_SERVICE, "variables": {"input": service_input}}, ada.token
    )
    created = body["data"]["createService"]
    assert (created["__typename"], created["field"]) == ("InvalidInput", "input.tutorIds.1")
    # Nothing was written, and the good request still works.
    assert (await book(gql, sam, **base))["__typename"] == "BookingCreated"


async def test_a_nul_in_a_query_argument_is_bad_user_input(
    gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    for bad in BAD_TEXT.values():
        body = await post_raw(
            http, {"query": LIST, "variables": {"filter": {"search": bad}}}, token("ada")
        )
        [error] = body["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "filter.search"}
    # Written in the document rather than in variables.
    error = await gql.error(
        '{ bookings(filter: {search: "a\\u0000b"}) { totalCount } }', token=token("a")
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "filter.search"}
    error = await gql.error(
        "query($t: String!) { bookingByToken(token: $t) { id } }", {"t": "x\u0000"}
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "token"}


async def test_a_nul_in_a_tokens_claims_is_refused(gql: GraphQLClient) -> None:
    ada, service = await ada_and_service(gql)
    booking = {"serviceId": service, "tutorId": ada.id, "start": at(monday(), 10)}
    for claims in ({"name": "Sa\u0000m"}, {"email": "s\u0000@example.com"}, {"sub": "s\u0000"}):
        who = token(**{"sub": "sam", **claims})
        error = await gql.error(CREATE, {"input": {**booking, "timeZone": "UTC"}}, who)
        assert error["extensions"]["code"] == "UNAUTHENTICATED", claims


async def test_calendar_links_with_odd_characters_are_not_found(http: httpx.AsyncClient) -> None:
    assert (await http.get("/calendar/a%00b.ics")).status_code == 404
    booking = encode_id("Booking", uuid.uuid4())
    for signature in ("%C3%A9", "%00", "%ED%A0%80"):
        response = await http.get(f"/bookings/{booking}.ics?sig={signature}")
        assert response.status_code == 404, signature


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("9999-12-30T00:00:00+00:00", "9999-12-31T23:59:59-14:00"),
        ("0001-01-01T00:00:00+14:00", "0001-01-02T00:00:00+14:00"),
        ("1899-12-31T00:00:00+00:00", "1900-01-02T00:00:00+00:00"),
        ("2200-12-31T00:00:00+00:00", "2201-01-01T10:00:00+00:00"),
    ],
)
async def test_date_times_out_of_range_are_bad_user_input(
    gql: GraphQLClient, start: str, end: str
) -> None:
    _, service = await ada_and_service(gql)
    search = {"serviceId": service, "timeZone": "UTC", "from": start, "to": end}
    error = await gql.error(SEARCH, {"input": search})
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert "1900" in error["message"] and "2200" in error["message"]
    literal = await gql.error(
        f'{{ availableSlots(input: {{serviceId: "{service}", timeZone: "UTC", '
        f'from: "{start}", to: "{end}"}}) {{ slots {{ start }} }} }}'
    )
    assert literal["extensions"]["code"] == "BAD_USER_INPUT", literal


async def test_dates_out_of_range_are_bad_user_input(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    override = """mutation($input: AddOverrideInput!) { addOverride(input: $input) {
      __typename } }"""
    for day in ("9999-12-31", "0001-01-01"):
        error = await gql.error(
            override,
            {"input": {"scheduleId": ada.schedule_id, "date": day, "available": False}},
            ada.token,
        )
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    schedules = """query($id: ID!, $from: Date) { tutor(id: $id) { schedules {
      overrides(from: $from) { date } } } }"""
    error = await gql.error(schedules, {"id": ada.id, "from": "9999-12-31"}, ada.token)
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error


async def test_the_edges_of_the_range_are_accepted(gql: GraphQLClient) -> None:
    _, service = await ada_and_service(gql)
    for start, end in (
        ("1900-01-01T00:00:00+00:00", "1900-01-02T00:00:00+00:00"),
        ("2200-12-30T00:00:00+00:00", "2200-12-31T23:59:59+00:00"),
    ):
        search = {"serviceId": service, "timeZone": "UTC", "from": start, "to": end}
        assert (await gql(SEARCH, {"input": search}))["availableSlots"]["slots"] == []


async def test_every_top_level_error_has_a_code(
    gql: GraphQLClient, http: httpx.AsyncClient, settings: Settings
) -> None:
    async def code(query: str, variables: dict[str, Any] | None = None) -> str:
        error = await gql.error(query, variables)
        extensions: dict[str, Any] = error.get("extensions") or {}
        return str(extensions.get("code"))

    assert await code("{ viewer { userId ") == "GRAPHQL_PARSE_FAILED"
    assert await code("{ nothingHere }") == "GRAPHQL_VALIDATION_FAILED"
    assert await code("{ tutor { id } }") == "GRAPHQL_VALIDATION_FAILED"  # argument missing
    assert await code("query($id: ID!) { tutor(id: $id) { id } }") == "BAD_USER_INPUT"
    assert await code("query($id: ID!) { tutor(id: $id) { id } }", {"id": [1]}) == "BAD_USER_INPUT"
    zone = 'mutation { createTutorProfile(input: {displayName: "A", timeZone: "Mars/Base"}) '
    assert await code(zone + "{ __typename } }") == "BAD_USER_INPUT"
    zone_variable = """mutation($tz: TimeZone!) {
      createTutorProfile(input: {displayName: "A", timeZone: $tz}) { __typename } }"""
    assert await code(zone_variable, {"tz": "Mars/Base"}) == "BAD_USER_INPUT"
    deep = "id"
    for _ in range(QueryLimits().max_depth):
        deep = f"services {{ tutors {{ {deep} }} }}"
    deep = f'{{ tutor(id: "x") {{ {deep} }} }}'
    assert await code(deep) == "QUERY_TOO_COMPLEX"
    assert await code("{ viewer { userId } }" + "\n" * 3 + "x" * 5) == "GRAPHQL_PARSE_FAILED"

    # A bug, or a database that does not answer: masked, with its code.
    down = Database(create_engine("postgresql://nobody@127.0.0.1:1/none", pool_size=1))
    try:
        transport = httpx.ASGITransport(app=build_app(settings, down))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            ghost = encode_id("Tutor", uuid.uuid4())
            error = await GraphQLClient(client).error(f'{{ tutor(id: "{ghost}") {{ id }} }}')
    finally:
        await down.engine.dispose()
    assert error["message"] == "Internal error."
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}


async def test_errors_over_websockets_have_codes(settings: Settings, db: Database) -> None:
    async with websocket(build_app(settings, db)) as ws:
        await ws.send_json({"type": "connection_init", "payload": {}})
        assert (await ws.receive_json())["type"] == "connection_ack"
        slots = "subscription($t: ID!) { slotEvents(tutorId: $t) { kind } }"
        for op, query, code in (
            ("1", "subscription { nothingHere }", "GRAPHQL_VALIDATION_FAILED"),
            ("2", slots, "BAD_USER_INPUT"),
        ):
            await ws.send_json({"id": op, "type": "subscribe", "payload": {"query": query}})
            message = await ws.receive_json()
            assert message["type"] == "error", message
            assert message["payload"][0]["extensions"]["code"] == code, message
        # A document that does not parse closes the socket, as graphql-transport-ws asks (it
        # was a bare `complete`, the error lost, when the parser cache raised it).
        query = "subscription { slotEvents("
        await ws.send_json({"id": "3", "type": "subscribe", "payload": {"query": query}})
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.receive_json()
        assert (closed.value.code, closed.value.reason) == (
            4400,
            "Syntax Error: Expected Name, found <EOF>.",
        )
