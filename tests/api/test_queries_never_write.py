"""Queries never write, over GET or POST: a GET is cacheable, prefetchable and CSRF-able."""

from __future__ import annotations

import json

import httpx
import strawberry
from sqlalchemy import text
from sqlmodel import SQLModel

from booking_api.read_only import QueriesNeverWrite
from infra.db import Database, WriteInQuery
from tests.helpers import GraphQLClient, at, book, grant, make_tutor, monday, token, weekly

TUTOR = """id displayName timeZone email lowBalanceThreshold connectedCalendar calendarFeedUrl
  services { id title schedule { id } tutors { id } } packageTemplates { id }
  schedules { id rules { weekday } overrides { date } }"""
STUDENT = "id displayName email timeZone attendanceFlagged"
BOOKING = f"""id status start end notes price {{ amountMinor }} holdExpiresAt meetingUrl
  checkoutUrl icsUrl history {{ action }} service {{ id }} tutor {{ id email calendarFeedUrl }}
  student {{ {STUDENT} }} package {{ id remaining }}"""
PACKAGE = "id remaining adjustments { delta } student { id } tutor { id }"
# Every query field, in documents each small enough for any sensible cost limit.
PROFILES = f"""query($tutor: ID!) {{
  viewer {{ userId tutor {{ {TUTOR} }} student {{ {STUDENT} }} packages {{ {PACKAGE} }} }}
  node(id: $tutor) {{ id ... on Tutor {{ calendarFeedUrl }} }} }}"""
PUBLIC = f"""query($tutor: ID!, $service: ID!, $search: SlotSearchInput!) {{
  tutor(id: $tutor) {{ {TUTOR} }}
  service(id: $service) {{ id tutors {{ id }} }}
  availableSlots(input: $search) {{ slots {{ start tutor {{ id }} }} }} }}"""
BOOKINGS = f"""query($booking: ID!, $manage: String!) {{
  booking(id: $booking) {{ {BOOKING} }}
  bookingByToken(token: $manage) {{ {BOOKING} }} }}"""
MINE = f"{{ bookings(first: 20) {{ totalCount edges {{ node {{ {BOOKING} }} }} }} }}"
DIGEST = "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} t"


async def snapshot(db: Database) -> dict[str, tuple[int, str]]:
    """Every table's row count and a digest of its rows: an insert or an update shows."""
    found = {}
    async with db.engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            row = await connection.execute(text(DIGEST.format(f'"{table.name}"')))
            count, digest = row.one()
            found[table.name] = (count, digest)
    return found


async def test_no_query_writes_over_get_or_post(
    gql: GraphQLClient, http: httpx.AsyncClient, db: Database
) -> None:
    ada = await make_tutor(gql, "ada", "UTC", weekly("09:00", "13:00"))
    service = (await ada.service(slotIntervalMinutes=60))["service"]["id"]
    sam = token("sam", email="sam@example.com")
    made = await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    assert made["__typename"] == "BookingCreated"
    sam_id = made["booking"]["student"]["id"]
    assert (await grant(gql, ada, studentId=sam_id, unit="SESSIONS", total=3))["__typename"] == (
        "PackageGranted"
    )
    guest = {"name": "Gus", "email": "gus@example.com"}
    by_guest = await book(
        gql, None, serviceId=service, tutorId=ada.id, start=at(monday(), 10), guest=guest
    )
    day = monday()
    variables = {
        "tutor": ada.id,
        "service": service,
        "booking": made["booking"]["id"],
        "manage": by_guest["manageToken"],
        "search": {
            "serviceId": service,
            "timeZone": "UTC",
            "from": f"{day}T00:00:00Z",
            "to": f"{day}T23:00:00Z",
        },
    }
    before = await snapshot(db)
    # A tutor, a student who has booked, one who never has, a guest with no token.
    callers = [ada.token, sam, token("newcomer", name="New", email="new@example.com"), None]
    for caller in callers:
        headers = {"Authorization": f"Bearer {caller}"} if caller else {}
        for query in (PROFILES, PUBLIC, BOOKINGS, MINE) if caller else (PUBLIC, BOOKINGS):
            got = await http.get(
                "/graphql",
                params={"query": query, "variables": json.dumps(variables)},
                headers=headers,
            )
            assert got.status_code == 200 and "errors" not in got.json(), got.text
            posted = await gql.raw(query, variables, caller)
            assert posted == got.json()
    assert await snapshot(db) == before
    seen = await gql(PROFILES, variables, ada.token)
    assert seen["viewer"]["tutor"]["calendarFeedUrl"]  # answered without a write


async def test_the_student_id_a_query_shows_is_the_one_the_student_keeps(
    gql: GraphQLClient, http: httpx.AsyncClient, db: Database
) -> None:
    ada = await make_tutor(gql, "ada", "UTC", weekly("09:00", "13:00"))
    service = (await ada.service(slotIntervalMinutes=60))["service"]["id"]
    before = await snapshot(db)
    sam = token("sam", name="Sam S", email="sam@example.com")
    query = "{ viewer { student { id displayName email timeZone } } }"
    got = await http.get(
        "/graphql", params={"query": query}, headers={"Authorization": f"Bearer {sam}"}
    )
    shown = got.json()["data"]["viewer"]["student"]
    assert shown["displayName"] == "Sam S" and shown["email"] == "sam@example.com"
    assert (await gql(query, token=sam))["viewer"]["student"] == shown
    assert await snapshot(db) == before  # nothing made by looking
    # The same id through node(id), before the profile exists.
    node = await gql(
        "query($id: ID!) { node(id: $id) { id ... on Student { email } } }",
        {"id": shown["id"]},
        sam,
    )
    assert node["node"] == {"id": shown["id"], "email": "sam@example.com"}

    made = await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    assert made["booking"]["student"]["id"] == shown["id"]
    assert (await gql(query, token=sam))["viewer"]["student"]["id"] == shown["id"]


async def test_a_query_that_opens_a_unit_of_work_is_refused(db: Database) -> None:
    """The guard behind the rule: any query path that would write fails instead (a schema of
    its own, since the service's queries no longer write)."""

    async def write(info: strawberry.Info) -> bool:
        async with db.transaction():
            return True

    @strawberry.type
    class Query:
        writes: bool = strawberry.field(resolver=write)

    @strawberry.type
    class Mutation:
        writes: bool = strawberry.mutation(resolver=write)

    schema = strawberry.Schema(Query, Mutation, extensions=[QueriesNeverWrite])
    refused = await schema.execute("{ writes }")
    assert refused.errors and isinstance(refused.errors[0].original_error, WriteInQuery)
    assert (await schema.execute("mutation { writes }")).data == {"writes": True}
    assert (await schema.execute("{ writes }")).errors  # the mark does not leak either way
