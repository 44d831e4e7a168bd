"""Bounded work per request: the static cost limit, the slot search's bound, the time budget."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import strawberry

from booking_api.api import build_schema
from booking_api.app import build_app
from booking_api.cost import unbounded_lists
from infra.db import Database
from infra.settings import QueryLimits, Settings
from schema.bounds import AtMost
from tests.helpers import CLOCK, TEST_SECRET, GraphQLClient, make_tutor, token, weekly
from tests.live_client import Live
from tests.processes import base_env, servers

# The probe: depth 12, well under the token and alias limits, anonymous.
PROBE = "query{tutor(id:%s){" + "services{id tutors{id " * 5 + "id" + "}}" * 5 + "}}"


def probe(tutor_id: str) -> str:
    return PROBE % f'"{tutor_id}"'


@pytest.fixture
async def limited(settings: Settings, db: Database) -> AsyncIterator[GraphQLClient]:
    """The app with a small cost budget, to check the figures the analysis gives."""
    strict = Settings(
        database_url=settings.database_url,
        auth_jwt_secret=settings.auth_jwt_secret,
        limits=QueryLimits(max_cost=1000),
    )
    transport = httpx.ASGITransport(app=build_app(strict, db))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield GraphQLClient(client)


def too_complex(error: dict[str, Any]) -> int:
    """The estimated cost of a refused operation, after checking how it was refused."""
    extensions = error["extensions"]
    assert extensions["code"] == "QUERY_TOO_COMPLEX", error
    assert extensions["cost"] > extensions["maxCost"]
    assert "narrower" in error["message"] or "fewer" in error["message"]
    cost: int = extensions["cost"]
    return cost


async def test_the_amplification_probe_is_refused_before_it_runs(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    for number in range(12):
        await ada.service(title=f"Lesson {number}")
    durations = []
    for _ in range(5):
        began = time.perf_counter()
        error = await gql.error(probe(ada.id))
        durations.append(time.perf_counter() - began)
        too_complex(error)
    # 27.5 s and a 40 MB answer before: now refused without loading anything.
    assert statistics.median(durations) < 0.5, durations


async def test_costs_multiply_through_lists_and_add_up_across_aliases(
    limited: GraphQLClient,
) -> None:
    # Every field counts 1, a field under a list once per item the list can hold:
    # tutor 1 + services (1 + 100 x id 1) = 102.
    one = '{ tutor(id: "x") { services { id } } }'
    assert await limited(one) == {"tutor": None}
    ten = "{ " + " ".join(f'a{i}: tutor(id: "x") {{ services {{ id }} }}' for i in range(10)) + " }"
    assert too_complex(await limited.error(ten)) == 1020

    # Fragments and inline fragments count where they are spread.
    spread = """{ a: tutor(id: "x") { ...S } b: node(id: "x") { ... on Tutor { ...S } } }
      fragment S on Tutor { services { id title } } """
    assert await limited(spread) == {"a": None, "b": None}
    nested = '{ tutor(id: "x") { services { id tutors { id displayName } } } }'
    # 1 + services (1 + 100 x (id 1 + tutors (1 + 50 x 2))) = 10,302
    assert too_complex(await limited.error(nested)) == 10202


async def test_a_page_costs_what_its_first_argument_asks(limited: GraphQLClient) -> None:
    viewer = token("ada")
    page = """query($first: Int) {
      bookings(first: $first) { edges { node { id history { action } } } } }"""
    # bookings 1 + edges (1 + first x node (1 + id 1 + history (1 + 100 x action 1)))
    assert await limited(page, {"first": 5}, viewer) == {"bookings": {"edges": []}}
    assert too_complex(await limited.error(page, {"first": 10}, viewer)) == 2 + 10 * 103
    # Absent, `first` is the argument's default (20); a variable without a value, its own.
    assert too_complex(await limited.error(page, None, viewer)) == 2 + 20 * 103
    defaulted = page.replace("$first: Int", "$first: Int = 3")
    assert await limited(defaulted, None, viewer) == {"bookings": {"edges": []}}
    # More than the resolver takes (it refuses over 100) is priced at 100.
    literal = page.replace("$first", "1000").replace("query(1000: Int)", "query")
    assert too_complex(await limited.error(literal, None, viewer)) == 2 + 100 * 103
    # Paging backward, `last` prices the page the same way.
    backward = page.replace("first", "last")
    assert await limited(backward, {"last": 5}, viewer) == {"bookings": {"edges": []}}
    assert too_complex(await limited.error(backward, {"last": 10}, viewer)) == 2 + 10 * 103


async def test_an_agenda_list_costs_one_item_per_tutor_id_asked(limited: GraphQLClient) -> None:
    agenda = """query($tutors: [ID!]) { organization(id: "x") {
      agenda(from: "2030-01-01T00:00:00Z", to: "2030-01-02T00:00:00Z", timeZone: "UTC",
        tutorIds: $tutors) { truncated blockedRanges { start } } } }"""
    # organization 1 + agenda (1 + n x (truncated 1 + blockedRanges (1 + 40 x 1))): n ids asked,
    # counted as given; none asked: the 100 members an organization may have.
    assert await limited(agenda, {"tutors": ["a", "b"]}) == {"organization": None}
    assert too_complex(await limited.error(agenda, {"tutors": ["a"] * 30})) == 2 + 30 * 42
    assert too_complex(await limited.error(agenda)) == 2 + 100 * 42
    assert too_complex(await limited.error(agenda, {"tutors": ["a"] * 500})) == 2 + 100 * 42


@strawberry.type
class Item:
    name: str


@strawberry.type
class Lists:
    bounded: list[Item] = strawberry.field(extensions=[AtMost(3)])
    unbounded: list[Item]


def test_every_list_field_declares_its_bound() -> None:
    assert unbounded_lists(strawberry.Schema(Lists)._schema) == ["Lists.unbounded"]
    assert unbounded_lists(build_schema()._schema) == []


async def test_the_cost_limit_comes_from_settings() -> None:
    settings = Settings.from_env({"GRAPHQL_MAX_COST": "500", "GRAPHQL_TIMEOUT_SECONDS": "2"})
    assert settings.limits.max_cost == 500
    assert settings.limits.timeout_seconds == 2


# ---------------------------------------------------------------- the slot search's bound

SLOTS = """availableSlots(input: {serviceId: $service, from: $from, to: $to, timeZone: "UTC"}) {
  slots { start end tutor { displayName } } }"""


async def five_minute_grid(gql: GraphQLClient, hours: list[dict[str, str]]) -> dict[str, Any]:
    ada = await make_tutor(gql, "ada", rules=hours)
    service = (await ada.service(slotIntervalMinutes=5, bookingWindowDays=365))["service"]
    start = CLOCK().replace(microsecond=0) + timedelta(days=1)
    return {
        "service": service["id"],
        "from": start.isoformat(),
        "to": (start + timedelta(days=93)).isoformat(),
    }


async def test_ten_searches_of_a_five_minute_grid_are_refused(gql: GraphQLClient) -> None:
    variables = await five_minute_grid(gql, weekly("09:00", "17:00"))
    aliases = " ".join(f"s{i}: {SLOTS}" for i in range(10))
    query = f"query($service: ID!, $from: DateTime!, $to: DateTime!) {{ {aliases} }}"
    began = time.perf_counter()
    too_complex(await gql.error(query, variables))
    assert time.perf_counter() - began < 0.5  # 8.5 s and 33 MB before


async def test_a_search_with_too_many_free_times_asks_for_a_narrower_range(
    gql: GraphQLClient,
) -> None:
    # Open all week: 288 starts a day, 26,784 in 93 days.
    variables = await five_minute_grid(gql, weekly("00:00", "00:00"))
    query = f"query($service: ID!, $from: DateTime!, $to: DateTime!) {{ {SLOTS} }}"
    error = await gql.error(query, variables)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.to"}
    assert "narrower range" in error["message"]
    # A week of the same grid is fine.
    week = datetime.fromisoformat(variables["from"]) + timedelta(days=7)
    found = (await gql(query, {**variables, "to": week.isoformat()}))["availableSlots"]["slots"]
    assert len(found) == 7 * 288


async def test_next_available_looks_past_a_full_range_without_expanding_the_whole_window(
    gql: GraphQLClient,
) -> None:
    # Open on Mondays only; searching a Tuesday finds next Monday, up to two years ahead.
    ada = await make_tutor(gql, "ada", rules=weekly("00:00", "00:00", ["MONDAY"]))
    service = (await ada.service(slotIntervalMinutes=5, bookingWindowDays=730))["service"]
    today = CLOCK().date()
    tuesday = today + timedelta(days=(1 - today.weekday()) % 7 + 7)
    query = """query($input: SlotSearchInput!) { availableSlots(input: $input) {
      slots { start } nextAvailable { start } } }"""
    found = (
        await gql(
            query,
            {
                "input": {
                    "serviceId": service["id"],
                    "from": f"{tuesday}T00:00:00Z",
                    "to": f"{tuesday + timedelta(days=1)}T00:00:00Z",
                    "timeZone": "UTC",
                }
            },
        )
    )["availableSlots"]
    assert found["slots"] == []
    assert found["nextAvailable"] == {"start": f"{tuesday + timedelta(days=6)}T00:00:00+00:00"}


# ---------------------------------------------------------------- the time budget


async def test_an_operation_that_runs_too_long_is_ended(
    settings: Settings, db: Database, database_url: str, gql: GraphQLClient
) -> None:
    hasty = Settings(
        database_url=settings.database_url,
        auth_jwt_secret=settings.auth_jwt_secret,
        limits=QueryLimits(timeout_seconds=0.5),
    )
    # Only the timed query runs with the short budget: the rest, on a busy machine, could
    # outlast half a second for no fault of the budget's.
    ada = await make_tutor(gql, "ada")
    transport = httpx.ASGITransport(app=build_app(hasty, db))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        # Another session holds the tutors table: reading a tutor waits for as long as it does.
        blocker = await asyncpg.connect(database_url)
        try:
            transaction = blocker.transaction()
            await transaction.start()
            await blocker.execute("LOCK TABLE tutors IN ACCESS EXCLUSIVE MODE")
            began = time.perf_counter()
            error = await GraphQLClient(client).error(
                "query($id: ID!) { tutor(id: $id) { displayName } }", {"id": ada.id}
            )
            elapsed = time.perf_counter() - began
            await transaction.rollback()
        finally:
            await blocker.close()
    assert error["extensions"] == {"code": "TIMEOUT", "seconds": 0.5}
    assert 0.5 <= elapsed < 5
    # The pool's connection the cut-off query held is usable again (or replaced).
    assert (await gql("query($id: ID!) { tutor(id: $id) { displayName } }", {"id": ada.id}))[
        "tutor"
    ] == {"displayName": "Ada"}


# ---------------------------------------------------------------- a real server under load


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """One `booking-api serve` process with the default limits, on a data folder of its own."""
    data = tmp_path_factory.mktemp("cost") / "data"
    with servers(base_env(BOOKING_DATA_DIR=str(data), AUTH_JWT_SECRET=TEST_SECRET), 1) as ports:
        yield ports[0]


# The heaviest search the defaults allow: nine fields for each of up to 10,000 slots (90,198).
HEAVY = """query($input: SlotSearchInput!) { availableSlots(input: $input) {
  timeZone
  slots { start end durationMinutes tutor { id } price { amountMinor currency } remainingCapacity }
  days { date slotCount } nextAvailable { start tutor { id } } } }"""
TUTOR = "query($id: ID!) { tutor(id: $id) { displayName } }"


async def test_health_and_ordinary_queries_answer_while_the_heaviest_search_runs(
    server: int,
) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server}", timeout=60) as http:
        gql = GraphQLClient(http)
        ada = await make_tutor(gql, "ada", rules=weekly("00:00", "00:00"))
        price = {"amountMinor": 4000, "currency": "EUR"}
        service = (
            await ada.service(slotIntervalMinutes=5, durations=[{"minutes": 60, "price": price}])
        )["service"]
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
        # Open all week on a 5-minute grid: 9,792 slots in 34 days.
        search = {
            "serviceId": service["id"],
            "from": start.isoformat(),
            "to": (start + timedelta(days=34)).isoformat(),
            "timeZone": "UTC",
        }

        heavy = asyncio.create_task(gql(HEAVY, {"input": search}))
        waits: list[float] = []
        while not heavy.done():
            began = time.perf_counter()
            health = await http.get("/healthz")
            ordinary = await gql(TUTOR, {"id": ada.id})
            waits.append(time.perf_counter() - began)
            assert health.status_code == 200
            assert ordinary == {"tutor": {"displayName": "Ada"}}
        found = (await heavy)["availableSlots"]["slots"]
        assert len(found) == 34 * 288
        # Before, a large answer was made in one stretch and everyone else waited it out.
        assert len(waits) > 1
        assert max(waits) < 1, waits

        began = time.perf_counter()
        too_complex(await gql.error(probe(ada.id)))
        assert time.perf_counter() - began < 1


async def test_an_over_budget_subscription_is_refused(server: int) -> None:
    deep = """subscription($tutorId: ID!) { bookingEvents(tutorId: $tutorId) { booking {
      service { tutors { services { tutors { id } } } } } } }"""
    async with Live.connect(server, token("ada")) as live:
        op = await live.subscribe(deep, tutorId="VHV0b3I6eA==")
        message = await live.message()
    assert message["id"] == op
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "QUERY_TOO_COMPLEX", message
