"""Plain lists (booking_api/plain_lists.py) answer exactly what graphql-core's own path answers:
each operation is sent with the loop on and off and the two responses compared byte for byte
(data, errors, order of keys). Hand-written slot listings, random selections over a listing
(aliases, fragments, @include/@skip, __typename, nested objects, nulls, a field with a
resolver), and random queries over the served schema seeded with real objects."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import graphql
import httpx
import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from booking_api.plain_lists import PlainListExecutor
from infra.db import Database
from infra.settings import QueryLimits, Settings
from tests.api.test_fuzz import World, fuzzing, world  # noqa: F401 - the seeded world fixture
from tests.conftest import app_client
from tests.helpers import CLOCK, GraphQLClient, make_tutor, token, weekly


@pytest.fixture
async def http(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """Room for listings that name every slot field, some twice (each costs 10,000 a field)."""
    async with app_client(replace(settings, limits=QueryLimits(max_cost=1_000_000)), db) as client:
        yield client


STUDENT = token("plain-student", email="plain@example.com")


class Listing:
    def __init__(self, headers: dict[str, dict[str, str]], search: dict[str, Any]) -> None:
        self.headers = headers
        self.search = search


@pytest.fixture
async def listing(gql: GraphQLClient) -> Listing:
    """A tutor free 06:00-22:00 every day: a priced 60-minute length, a free 30-minute one."""
    tutor = await make_tutor(gql, "plain-tutor", "UTC", weekly("06:00", "22:00"))
    priced = {"minutes": 60, "price": {"amountMinor": 4000, "currency": "EUR"}}
    service = (await tutor.service(durations=[priced, {"minutes": 30}]))["service"]
    start = (CLOCK() + timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
    search = {
        "serviceId": service["id"],
        "from": start.isoformat(),
        "to": (start + timedelta(days=3)).isoformat(),
        "timeZone": "Europe/Berlin",
    }
    headers = {
        "anonymous": {},
        "student": {"Authorization": f"Bearer {STUDENT}"},
        "tutor": {"Authorization": f"Bearer {tutor.token}"},
    }
    return Listing(headers, search)


@contextmanager
def loop_off() -> Iterator[None]:
    """graphql-core's path alone: the executor without its override."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delattr(PlainListExecutor, "complete_list_value")
        yield


@contextmanager
def field_executions() -> Iterator[list[int]]:
    """How many fields graphql-core executes meanwhile."""
    count = [0]
    original = StrawberryGraphQLCoreExecutionContext.execute_field

    def counted(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return original(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(StrawberryGraphQLCoreExecutionContext, "execute_field", counted)
        yield count


async def post(http: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str]) -> bytes:
    response = await http.post("/graphql", json=body, headers=headers)
    return f"{response.status_code} ".encode() + response.content


async def same_both_ways(
    http: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str]
) -> bytes:
    # Both at the same instant (what is free depends on now), on a whole second: the clock runs
    # on during a request, and a link's expiry (bookingsCsvUrl) is in whole seconds. A pair in
    # which the machine's load ran one past the time budget is asked again.
    at = CLOCK().replace(microsecond=0)
    for _ in range(3):
        CLOCK.set(at)
        with loop_off():
            off = await post(http, body, headers)
        CLOCK.set(at)
        on = await post(http, body, headers)
        if b'"TIMEOUT"' not in on + off:
            break
    assert on == off, body["query"]
    return on


LISTING = """query($input: SlotSearchInput!, $yes: Boolean!, $no: Boolean!) {
  availableSlots(input: $input) { timeZone
    slots { __typename when: start ...Priced tutor { ...Who } remainingCapacity
      end @include(if: $no) durationMinutes @skip(if: $no) ... on Slot @include(if: $yes) {
        tutor { __typename } } }
    days { date slotCount __typename } nextAvailable { start price { amountMinor } } } }
fragment Priced on Slot { price { amountMinor currency __typename } }
fragment Who on Tutor { id timeZone }"""


@pytest.mark.parametrize("minutes", [60, 30], ids=["priced", "free"])
@pytest.mark.parametrize("caller", ["anonymous", "student", "tutor"])
async def test_listings_are_the_same_and_skip_per_slot_fields(
    http: httpx.AsyncClient, listing: Listing, caller: str, minutes: int
) -> None:
    variables = {"input": {**listing.search, "durationMinutes": minutes}, "yes": True, "no": False}
    body = {"query": LISTING, "variables": variables}
    answer = await same_both_ways(http, body, listing.headers[caller])
    with field_executions() as off_count, loop_off():
        await post(http, body, listing.headers[caller])
    with field_executions() as on_count:
        await post(http, body, listing.headers[caller])
    slots = answer.count(b'"when"')
    assert slots > 100
    # Off: several fields per slot; on: the listing's own fields, not one per slot.
    assert off_count[0] > 8 * slots
    assert on_count[0] < 30
    assert (b'"remainingCapacity":null' in answer) is (caller != "tutor")
    assert (b'"price":null' in answer) is (minutes == 30)


async def test_a_field_with_a_resolver_takes_the_usual_path(
    http: httpx.AsyncClient, listing: Listing
) -> None:
    query = """query($input: SlotSearchInput!) { availableSlots(input: $input) {
      slots { start favorite tutor { id } } } }"""
    body = {"query": query, "variables": {"input": listing.search}}
    answer = await same_both_ways(http, body, listing.headers["student"])
    with field_executions() as count:
        await post(http, body, listing.headers["student"])
    slots = answer.count(b'"favorite"')
    assert slots > 100
    assert count[0] > 3 * slots


async def test_a_refused_argument_text_takes_the_usual_path(
    http: httpx.AsyncClient, listing: Listing
) -> None:
    """The text check's field hook armed: every field runs through it, as before."""
    query = """query($input: SlotSearchInput!) { availableSlots(input: $input) {
      slots { start } } t: tutor(id: "\\u0000") { id } }"""
    body = {"query": query, "variables": {"input": listing.search}}
    answer = await same_both_ways(http, body, listing.headers["anonymous"])
    with field_executions() as count:
        await post(http, body, listing.headers["anonymous"])
    assert count[0] > answer.count(b'"start"') > 100


SLOT_FIELDS = [
    "start",
    "end",
    "durationMinutes",
    "remainingCapacity",
    "favorite",
    "__typename",
    "price { amountMinor currency }",
    "price { __typename currency }",
]
TUTOR_FIELDS = ["id", "displayName", "timeZone", "__typename", "bio", "studentsTaught"]
DIRECTIVES = ["", "", " @include(if: $yes)", " @skip(if: $yes)", " @include(if: false)"]


@st.composite
def selection(draw: st.DrawFn, pool: list[str], on: str, depth: int) -> str:
    """Fields of `pool` (and the tutor, at depth 0) with aliases, directives and fragments."""
    fields = []
    for index in range(draw(st.integers(1, 5))):
        field = draw(st.sampled_from([*pool, *(["tutor"] if depth == 0 else [])]))
        if field == "tutor":
            field += " { " + draw(selection(TUTOR_FIELDS, "Tutor", 1)) + " }"
        alias = draw(st.sampled_from(["", f"a{depth}x{index}: "]))
        fields.append(alias + field + draw(st.sampled_from(DIRECTIVES)))
    wrap = draw(st.sampled_from(["", "... on", "... @include(if: $yes)", "... @skip(if: $yes)"]))
    inner = " ".join(fields)
    if wrap == "... on":
        return f"... on {on} {{ {inner} }}"
    return f"{wrap} {{ {inner} }}" if wrap else inner


@hypothesis.settings(fuzzing, max_examples=60)
@given(data=st.data())
async def test_random_selections_of_a_listing_are_the_same(
    data: st.DataObject, http: httpx.AsyncClient, listing: Listing
) -> None:
    slots = data.draw(selection(SLOT_FIELDS, "Slot", 0), label="slots")
    query = f"""query($input: SlotSearchInput!, $yes: Boolean!) {{ availableSlots(input: $input)
      {{ timeZone @include(if: $yes) slots {{ {slots} }} days {{ date slotCount }} }} }}"""
    minutes = data.draw(st.sampled_from([60, 30]), label="minutes")
    variables = {
        "input": {**listing.search, "durationMinutes": minutes},
        "yes": data.draw(st.booleans(), label="yes"),
    }
    caller = data.draw(st.sampled_from(sorted(listing.headers)), label="caller")
    await same_both_ways(http, {"query": query, "variables": variables}, listing.headers[caller])


def is_query(operation: str) -> bool:
    document = graphql.parse(operation)
    return all(
        getattr(d, "operation", None) is graphql.OperationType.QUERY for d in document.definitions
    )


@hypothesis.settings(fuzzing, max_examples=100)
@given(data=st.data())
async def test_random_queries_over_the_schema_are_the_same(
    data: st.DataObject,
    http: httpx.AsyncClient,
    world: World,  # noqa: F811 - the fixture imported above
) -> None:
    caller = data.draw(st.sampled_from(sorted(world.headers)), label="caller")
    operation = data.draw(world.operations.filter(is_query), label="operation")
    await same_both_ways(http, {"query": operation}, world.headers[caller])
