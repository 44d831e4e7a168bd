"""A schedule-later request under real concurrency: bookings, assignments and withdrawals sent
at once to two server processes on one database. The request row is locked by each of them, so
exactly one booking fulfils a request, and no change is lost to another."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.helpers import (
    ACCEPT,
    CREATE,
    CREATE_ORGANIZATION,
    CREATE_SCHEDULE,
    CREATE_SERVICE,
    CREATE_TUTOR,
    INVITE,
    at,
    create_database,
    drop_database,
    monday,
    server_admin_url,
    token,
    weekly,
)
from tests.processes import production_env, servers

STUDENTS = 10
REQUEST = """mutation($input: RequestScheduleLaterInput!) { requestScheduleLater(input: $input) {
  __typename ... on ScheduleLaterRequested { request { id } } } }"""
ASSIGN = """mutation($input: AssignScheduleRequestInput!) { assignScheduleRequest(input: $input) {
  __typename } }"""
WITHDRAW = "mutation($id: ID!) { withdrawScheduleRequest(id: $id) { __typename } }"
STATE = """query($id: ID!) { node(id: $id) { ... on ScheduleRequest {
  status tutor { id } booking { id } } } }"""


@pytest.fixture(scope="module")
def ports() -> Iterator[list[int]]:
    """Two servers on one fresh database of the suite's PostgreSQL (embedded or not). The
    bookings of one tutor wait on each other's lock: on a busy machine that takes longer than
    the default 5-second budget, which is not what these tests are about."""
    admin = server_admin_url()
    url = create_database(admin, prefix="booking_later_race")
    try:
        with servers(production_env(url, GRAPHQL_TIMEOUT_SECONDS="60")) as started:
            yield started
    finally:
        drop_database(admin, url)


@pytest.fixture
async def clients(ports: list[int]) -> AsyncIterator[list[httpx.AsyncClient]]:
    made = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{p}") for p in ports]
    try:
        yield made
    finally:
        for client in made:
            await client.aclose()


async def call(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], who: str
) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {who}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


async def tutor(client: httpx.AsyncClient, sub: str) -> str:
    made = await call(client, CREATE_TUTOR, {"name": sub, "tz": "UTC"}, token(sub))
    hours = {"name": "H", "timeZone": "UTC", "rules": weekly("00:00", "00:00")}
    await call(client, CREATE_SCHEDULE, {"input": hours}, token(sub))
    return str(made["createTutorProfile"]["tutor"]["id"])


async def course(client: httpx.AsyncClient, prefix: str) -> tuple[str, str, str]:
    """`prefix`-ada owns a studio where `prefix`-bob and `prefix`-cy teach a course; the ids
    of Bob, Cy and the course."""
    ada = f"{prefix}-ada"
    await tutor(client, ada)
    studio = (await call(client, CREATE_ORGANIZATION, {"name": prefix}, token(ada)))[
        "createOrganization"
    ]["organization"]["id"]
    ids = []
    for name in ("bob", "cy"):
        sub = f"{prefix}-{name}"
        ids.append(await tutor(client, sub))
        email = f"{sub}@tutors.example"
        invite = {"organizationId": studio, "email": email, "role": "MEMBER"}
        secret = (await call(client, INVITE, {"input": invite}, token(ada)))["inviteTutor"][
            "inviteToken"
        ]
        await call(client, ACCEPT, {"token": secret}, token(sub, email=email))
    input = {
        "title": "Course",
        "durations": [{"minutes": 60}],
        "organizationId": studio,
        "tutorIds": ids,
    }
    saved = (await call(client, CREATE_SERVICE, {"input": input}, token(ada)))["createService"]
    return ids[0], ids[1], saved["service"]["id"]


async def requests_of(client: httpx.AsyncClient, service: str, students: list[str]) -> list[str]:
    made = []
    for who in students:
        asked = await call(client, REQUEST, {"input": {"serviceId": service}}, who)
        made.append(asked["requestScheduleLater"]["request"]["id"])
    return made


def booking(service: str, tutor_id: str, hour: int) -> dict[str, Any]:
    start = at(monday(3), hour % 24)
    return {"input": {"serviceId": service, "tutorId": tutor_id, "start": start, "timeZone": "UTC"}}


async def test_two_bookings_at_once_both_succeed_and_exactly_one_fulfils_the_request(
    clients: list[httpx.AsyncClient],
) -> None:
    bob, cy, service = await course(clients[0], "twice")
    students = [token(f"twice-student-{n}") for n in range(STUDENTS)]
    requests = await requests_of(clients[0], service, students)

    async def book(n: int, tutor_id: str, client: httpx.AsyncClient) -> str:
        # Each student's two sessions at different hours: only the request is shared.
        made = await call(client, CREATE, booking(service, tutor_id, n), students[n % STUDENTS])
        assert made["createBooking"]["__typename"] == "BookingCreated", made
        return str(made["createBooking"]["booking"]["id"])

    pairs = await asyncio.gather(
        *(
            asyncio.gather(book(n, bob, clients[0]), book(n + STUDENTS, cy, clients[1]))
            for n in range(STUDENTS)
        )
    )
    for request, pair in zip(requests, pairs, strict=True):
        state = (await call(clients[0], STATE, {"id": request}, token("twice-ada")))["node"]
        assert state["status"] == "BOOKED"
        assert state["booking"]["id"] in pair
        # Its tutor is the one of the booking that fulfilled it.
        assert state["tutor"]["id"] == (bob if state["booking"]["id"] == pair[0] else cy)


async def test_a_booking_with_one_tutor_and_an_assignment_to_another_at_once_agree(
    clients: list[httpx.AsyncClient],
) -> None:
    """Either the booking came first (the request is BOOKED with it; the owner's assignment is
    refused) or the assignment did (the request is Bob's; Cy's booking leaves it), never both."""
    bob, cy, service = await course(clients[0], "clash")
    students = [token(f"clash-student-{n}") for n in range(STUDENTS)]
    requests = await requests_of(clients[0], service, students)

    async def book(n: int) -> str:
        made = await call(clients[0], CREATE, booking(service, cy, n), students[n])
        assert made["createBooking"]["__typename"] == "BookingCreated", made
        return str(made["createBooking"]["booking"]["id"])

    async def assign(n: int) -> str:
        input = {"requestId": requests[n], "tutorId": bob}
        # The owner, who sees the request whatever happened (Bob would not see it once it is
        # BOOKED with Cy: NotFound).
        made = await call(clients[1], ASSIGN, {"input": input}, token("clash-ada"))
        return str(made["assignScheduleRequest"]["__typename"])

    outcomes = await asyncio.gather(*(asyncio.gather(book(n), assign(n)) for n in range(STUDENTS)))
    for request, (booked, assigned) in zip(requests, outcomes, strict=True):
        state = (await call(clients[0], STATE, {"id": request}, token("clash-ada")))["node"]
        if assigned == "ScheduleRequestAssigned":
            assert (state["status"], state["tutor"], state["booking"]) == (
                "ASSIGNED",
                {"id": bob},
                None,
            )
        else:
            assert assigned == "PolicyViolation"
            assert (state["status"], state["booking"]) == ("BOOKED", {"id": booked})


async def test_a_booking_and_a_withdrawal_at_once_agree(
    clients: list[httpx.AsyncClient],
) -> None:
    bob, _, service = await course(clients[0], "late")
    students = [token(f"late-student-{n}") for n in range(STUDENTS)]
    requests = await requests_of(clients[0], service, students)

    async def book(n: int) -> str:
        made = await call(clients[0], CREATE, booking(service, bob, n), students[n])
        assert made["createBooking"]["__typename"] == "BookingCreated", made
        return str(made["createBooking"]["booking"]["id"])

    async def withdraw(n: int) -> str:
        made = await call(clients[1], WITHDRAW, {"id": requests[n]}, students[n])
        return str(made["withdrawScheduleRequest"]["__typename"])

    outcomes = await asyncio.gather(
        *(asyncio.gather(book(n), withdraw(n)) for n in range(STUDENTS))
    )
    for n, (booked, withdrawn) in enumerate(outcomes):
        state = (await call(clients[0], STATE, {"id": requests[n]}, students[n]))["node"]
        if withdrawn == "ScheduleRequestWithdrawn":
            assert (state["status"], state["booking"]) == ("WITHDRAWN", None)
        else:
            assert withdrawn == "PolicyViolation"
            assert (state["status"], state["booking"]) == ("BOOKED", {"id": booked})
