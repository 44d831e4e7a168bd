"""Random operations from the served schema (hypothesis-graphql). Valid ones, sent by an anonymous
caller, a student and a tutor, and ones that break the schema in one place: each is answered
without a 5xx, an `Internal error.`, a top-level error lacking `extensions.code`, or a long wait.

The suite runs a fixed set (derandomized). A longer hunt, locally:
FUZZ_EXAMPLES=5000 pytest tests/api/test_fuzz.py (add --hypothesis-seed=N for other operations)."""

from __future__ import annotations

import logging
import operator
import os
import traceback
from datetime import date, datetime, time, timedelta, timezone
from time import monotonic
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, nodes

from booking_api.api import sdl
from schema.node import decode_id, encode_id
from schema.scalars import known_time_zones
from tests.helpers import CLOCK, REPO, GraphQLClient, at, book, make_tutor, token, weekly

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
SLOW_SECONDS = 5.0  # generous: these requests take milliseconds
SCHEMA = graphql.build_schema(sdl())
NODE_TYPES = sorted(
    name
    for name, type_ in SCHEMA.type_map.items()
    if isinstance(type_, graphql.GraphQLObjectType) and "Node" in {i.name for i in type_.interfaces}
)
TODAY = CLOCK().replace(hour=0, minute=0, second=0, microsecond=0)
SOON_QUARTERS = 60 * 24 * 4  # the seeded service's booking window, in quarter hours

# Values: mostly ones our fields accept, often ones that are hostile where it matters.
# DateTime: bookable quarter hours of the coming weeks written in any offset; any instant Python
# holds; and the first and last ones in the farthest offsets, where one step more overflows.
offsets = st.integers(-14 * 4, 14 * 4).map(lambda q: timezone(timedelta(minutes=15 * q)))
soon = st.builds(
    lambda q, zone: (TODAY + timedelta(minutes=15 * q)).astimezone(zone),
    st.integers(0, SOON_QUARTERS),
    offsets,
)
edges = st.sampled_from(
    [
        "0001-01-01T00:00:00+14:00",
        "0001-01-01T00:00:00-14:00",
        "9999-12-31T23:59:59-14:00",
        "9999-12-31T23:59:59+14:00",
    ]
)
datetimes = st.one_of(soon, soon, st.datetimes(timezones=offsets)).map(datetime.isoformat) | edges
dates = st.one_of(soon.map(datetime.date), st.dates()).map(date.isoformat)
quarter_times = st.builds(
    lambda q: (TODAY + timedelta(minutes=15 * q)).time(), st.integers(0, 24 * 4 - 1)
)
times = st.one_of(quarter_times, st.times()).map(time.isoformat)
# Strings: hypothesis' own; ones our fields accept (a name, an email, a currency); NUL
# (PostgreSQL cannot store it) and other awkward characters; lengths just past our limits.
accepted = st.sampled_from(["Ada", "ada@example.com", "USD"])
awkward = st.one_of(st.just("\x00"), st.sampled_from(["\x01", "\u2028", "\ufeff", "\U0001f600"]))
strings = st.one_of(
    st.text(),
    accepted,
    accepted,
    st.tuples(st.text(max_size=4), awkward, st.text(max_size=4)).map("".join),
    st.builds(
        operator.mul, st.text(min_size=1, max_size=4), st.sampled_from([201, 321, 2001, 9000])
    ),
)
# Ints: mostly the small numbers our fields accept (minutes, counts, days), else any Int.
small = st.sampled_from([0, 1, 2, 15, 30, 60])
ints = st.one_of(small, small, small, st.integers(-1, 1000), st.integers(-(2**31), 2**31 - 1))


# Input fields that name an object of one type. hypothesis-graphql draws an ID without knowing
# the field, so a real object of the right type is drawn one time in ~20 and a mutation needing
# two is almost never valid (measured: no booking or service made in 1,000 operations). Half of
# these fields therefore get a real object of their type.
ID_FIELDS = {
    "serviceId": "Service",
    "tutorId": "Tutor",
    "tutorIds": "Tutor",
    "studentId": "Student",
    "bookingId": "Booking",
    "packageId": "Package",
    "templateId": "PackageTemplate",
    "scheduleId": "Schedule",
}


class RealIds(graphql.Visitor):
    """Gives half of the ID_FIELDS of a generated operation a real object of their type."""

    def __init__(self, draw: st.DrawFn, seeded: dict[str, list[str]]) -> None:
        super().__init__()
        self.draw = draw
        self.seeded = seeded

    def real(self, value: graphql.ValueNode, type_name: str) -> graphql.ValueNode:
        if isinstance(value, graphql.ListValueNode):
            return graphql.ListValueNode(
                values=tuple(self.real(v, type_name) for v in value.values)
            )
        if isinstance(value, graphql.StringValueNode) and self.draw(st.booleans()):
            return nodes.String(self.draw(st.sampled_from(self.seeded[type_name])))
        return value

    def enter_object_field(self, node: graphql.ObjectFieldNode, *_: Any) -> Any:
        type_name = ID_FIELDS.get(node.name.value)
        if type_name is None:
            return None
        return graphql.ObjectFieldNode(name=node.name, value=self.real(node.value, type_name))


def scalars(ids: st.SearchStrategy[str]) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    return {
        "ID": ids.map(nodes.String),
        "String": strings.map(nodes.String),
        "Int": ints.map(nodes.Int),
        "DateTime": datetimes.map(nodes.String),
        "Date": dates.map(nodes.String),
        "Time": times.map(nodes.String),
        "TimeZone": st.sampled_from(sorted(known_time_zones())).map(nodes.String),
    }


unknown_ids = st.one_of(st.builds(encode_id, st.sampled_from(NODE_TYPES), st.uuids()), st.text())


def operations(seeded_ids: list[str]) -> st.SearchStrategy[str]:
    """Queries and mutations whose IDs are often real objects, else ours pointing nowhere or
    arbitrary text."""
    documents = from_schema(
        SCHEMA,
        custom_scalars=scalars(st.sampled_from(seeded_ids) | unknown_ids),
        print_ast=lambda document: document,
    )
    by_type: dict[str, list[str]] = {}
    for seeded in seeded_ids:
        decoded = decode_id(seeded)
        assert decoded is not None
        by_type.setdefault(decoded[0], []).append(seeded)

    @st.composite
    def with_real_ids(draw: st.DrawFn) -> str:
        return graphql.print_ast(graphql.visit(draw(documents), RealIds(draw, by_type)))

    return with_real_ids()


# Each breaks the schema in one place: a value of the wrong type, a missing or null required
# argument, an Int past 32 bits, an unknown enum value.
invalid_operations = from_schema(SCHEMA, custom_scalars=scalars(unknown_ids), mode=Mode.NEGATIVE)


SEED = """mutation($student: ID!, $schedule: ID!, $day: Date!) {
  grantPackage(input: {studentId: $student, unit: SESSIONS, total: 5}) {
    ... on PackageGranted { package { id } } }
  createPackageTemplate(input: {name: "Five", unit: SESSIONS, total: 5}) {
    ... on PackageTemplateSaved { template { id } } }
  addOverride(input: {scheduleId: $schedule, date: $day, available: false}) {
    ... on OverrideAdded { override { id } } } }"""


class World:
    """The callers' headers and the operations to send. Not a dataclass: hypothesis would print
    every field of it (the tokens) in a failure report."""

    def __init__(
        self, headers: dict[str, dict[str, str]], operations: st.SearchStrategy[str]
    ) -> None:
        self.headers = headers
        self.operations = operations


@pytest.fixture
async def world(gql: GraphQLClient) -> World:
    """A tutor with a schedule, a service, a package template, an override, a student's and a
    guest's booking and a student's package: generated IDs sometimes hit them."""
    tutor = await make_tutor(gql, "fuzz-tutor", "UTC", weekly("06:00", "22:00"))
    service = (await tutor.service(durations=[{"minutes": 30}, {"minutes": 60}]))["service"]
    student = token("fuzz-student", email="student@example.com")
    day = (TODAY + timedelta(days=3)).date()
    booked = {"serviceId": service["id"], "tutorId": tutor.id}
    own = (await book(gql, student, start=at(day, 10), **booked))["booking"]
    guest = {"name": "Guest", "email": "guest@example.com"}
    guests = (await book(gql, None, start=at(day, 12), guest=guest, **booked))["booking"]
    seeded = await gql(
        SEED,
        {
            "student": own["student"]["id"],
            "schedule": tutor.schedule_id,
            "day": (day + timedelta(days=2)).isoformat(),
        },
        tutor.token,
    )
    ids = [tutor.id, tutor.schedule_id, service["id"], own["id"], own["student"]["id"]]
    ids += [guests["id"], guests["student"]["id"]]
    ids += [seeded["grantPackage"]["package"]["id"]]
    ids += [seeded["createPackageTemplate"]["template"]["id"]]
    ids += [seeded["addOverride"]["override"]["id"]]
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    for caller, bearer in (("student", student), ("tutor", tutor.token)):
        headers[caller] = {"Authorization": f"Bearer {bearer}"}
    return World(headers, operations(ids))


def unexpected(records: list[logging.LogRecord]) -> list[str]:
    """The exceptions behind a request's `Internal error.`s, each with the deepest lines of our
    own code it passed through."""
    found = []
    for record in records:
        if record.name == "booking_api.graphql" and record.exc_info and record.exc_info[1]:
            error = record.exc_info[1]
            ours = [
                frame
                for frame in traceback.extract_tb(error.__traceback__)
                if frame.filename.startswith(str(REPO)) and "site-packages" not in frame.filename
            ]
            path = " > ".join(
                f"{f.filename.removeprefix(f'{REPO}/')}:{f.lineno}" for f in ours[-3:]
            )
            found.append(f"{error!r} from {path}")
    return found


async def timed(
    http: httpx.AsyncClient, operation: str, headers: dict[str, str]
) -> tuple[httpx.Response, float]:
    started = monotonic()
    response = await http.post("/graphql", json={"query": operation}, headers=headers)
    return response, monotonic() - started


async def send(
    http: httpx.AsyncClient, operation: str, headers: dict[str, str]
) -> tuple[httpx.Response, list[str]]:
    """The answer, and what is wrong with it."""
    response, elapsed = await timed(http, operation, headers)
    found = []
    if response.status_code >= 500:
        found.append(f"HTTP {response.status_code}: {response.text[:500]}")
    else:
        for error in response.json().get("errors") or []:
            if error.get("message") == "Internal error.":
                found.append(f"Internal error. at {error.get('path')}")
            elif not (error.get("extensions") or {}).get("code"):
                found.append(f"no extensions.code: {error}")
    if elapsed > SLOW_SECONDS:
        # A busy machine can stall any request once (seen: 3.9 s for one taking 10 ms); work
        # an operation causes makes it slow again.
        _, again = await timed(http, operation, headers)
        if again > SLOW_SECONDS:
            found.append(f"answered after {elapsed:.1f} s, then {again:.1f} s")
    return response, found


# Derandomized: the suite runs the same operations each time. Explaining a failure re-runs it
# under coverage tracing (minutes, for lines we can read): left out.
fuzzing = settings(
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


# The database is emptied per test, not per example: operations build on earlier ones.
@settings(fuzzing, max_examples=EXAMPLES)
@given(data=st.data())
async def test_random_operations_never_break_the_api(
    data: st.DataObject, http: httpx.AsyncClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caller = data.draw(st.sampled_from(sorted(world.headers)), label="caller")
    operation = data.draw(world.operations, label="operation")
    caplog.clear()
    _, found = await send(http, operation, world.headers[caller])
    assert not found, "\n".join([f"as {caller}:", operation, *found, *unexpected(caplog.records)])


# Refused before they run, so cheap: fewer suffice.
@settings(fuzzing, max_examples=EXAMPLES // 3)
@given(operation=invalid_operations)
async def test_invalid_operations_are_refused_with_a_code(
    operation: str, http: httpx.AsyncClient
) -> None:
    response, found = await send(http, operation, {})
    assert not found, "\n".join([operation, *found])
    assert response.status_code >= 400 or response.json().get("errors"), operation
