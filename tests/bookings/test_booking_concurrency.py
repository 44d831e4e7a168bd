"""Real concurrency: many simultaneous bookings through two server processes on one database."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.helpers import (
    ACCEPT,
    CANCEL,
    CREATE,
    CREATE_ORGANIZATION,
    CREATE_SCHEDULE,
    CREATE_SERVICE,
    CREATE_TUTOR,
    INVITE,
    at,
    monday,
    token,
    weekly,
)
from tests.processes import call, servers_on_a_new_database, tutor_with_service

ATTEMPTS = 50


@pytest.fixture(scope="module")
def ports() -> Iterator[list[int]]:
    """Two servers on one fresh database of the suite's PostgreSQL (embedded or not)."""
    with servers_on_a_new_database("booking_race") as started:
        yield started


@pytest.mark.parametrize("capacity", [1, 3])
async def test_exactly_capacity_of_fifty_simultaneous_attempts_succeed(
    ports: list[int], capacity: int
) -> None:
    clients = [
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{p}", limits=httpx.Limits(max_connections=100)
        )
        for p in ports
    ]
    try:
        tutor_id, service_id = await tutor_with_service(
            clients[0], f"race-tutor-{capacity}", capacity
        )
        start = at(monday(3), 10)

        async def attempt(i: int) -> str:
            input = {
                "serviceId": service_id,
                "tutorId": tutor_id,
                "start": start,
                "timeZone": "UTC",
            }
            data = await call(
                clients[i % 2], CREATE, {"input": input}, token(f"racer-{capacity}-{i}")
            )
            return str(data["createBooking"]["__typename"])

        outcomes = Counter(await asyncio.gather(*(attempt(i) for i in range(ATTEMPTS))))
        assert outcomes == {"BookingCreated": capacity, "SlotUnavailable": ATTEMPTS - capacity}
    finally:
        for client in clients:
            await client.aclose()


async def test_a_student_booking_two_tutors_at_once_gets_one(ports: list[int]) -> None:
    clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{p}") for p in ports]
    try:
        ada = await tutor_with_service(clients[0], "twin-ada", 1)
        bob = await tutor_with_service(clients[1], "twin-bob", 1)
        start = at(monday(3), 12)

        async def attempt(student: str, tutor: tuple[str, str], client: httpx.AsyncClient) -> str:
            input = {"serviceId": tutor[1], "tutorId": tutor[0], "start": start, "timeZone": "UTC"}
            return str(
                (await call(client, CREATE, {"input": input}, token(student)))["createBooking"][
                    "__typename"
                ]
            )

        for n in range(10):
            student = f"twin-student-{n}"
            # Each student's two requests race; tutors are free, so only the student can clash.
            results = await asyncio.gather(
                attempt(student, ada, clients[0]), attempt(student, bob, clients[1])
            )
            assert sorted(results) == ["BookingCreated", "StudentBusy"], results
            # Free the tutors for the next student.
            ada_bookings = await call(
                clients[0],
                "{ bookings(filter: {status: [CONFIRMED]}) { edges { node { id } } } }",
                {},
                token("twin-ada"),
            )
            bob_bookings = await call(
                clients[0],
                "{ bookings(filter: {status: [CONFIRMED]}) { edges { node { id } } } }",
                {},
                token("twin-bob"),
            )
            for who, page in (("twin-ada", ada_bookings), ("twin-bob", bob_bookings)):
                for edge in page["bookings"]["edges"]:
                    await call(
                        clients[0], CANCEL, {"input": {"bookingId": edge["node"]["id"]}}, token(who)
                    )
    finally:
        for client in clients:
            await client.aclose()


async def studio_of_three(client: httpx.AsyncClient) -> tuple[list[str], str]:
    """Three tutors open around the clock in one organization, sharing a one-seat lesson."""
    subs = ["rr-ada", "rr-bob", "rr-cy"]
    ids = []
    for sub in subs:
        made = await call(client, CREATE_TUTOR, {"name": sub, "tz": "UTC"}, token(sub))
        ids.append(made["createTutorProfile"]["tutor"]["id"])
        hours = {"name": "H", "timeZone": "UTC", "rules": weekly("00:00", "00:00")}
        await call(client, CREATE_SCHEDULE, {"input": hours}, token(sub))
    owner = token(subs[0])
    created = await call(client, CREATE_ORGANIZATION, {"name": "Studio"}, owner)
    studio = created["createOrganization"]["organization"]["id"]
    for sub in subs[1:]:
        email = f"{sub}@tutors.example"
        invite = {"organizationId": studio, "email": email, "role": "MEMBER"}
        invited = await call(client, INVITE, {"input": invite}, owner)
        secret = invited["inviteTutor"]["inviteToken"]
        accepted = await call(client, ACCEPT, {"token": secret}, token(sub, email=email))
        assert accepted["acceptInvitation"]["__typename"] == "InvitationAccepted", accepted
    input = {
        "title": "Lesson",
        "durations": [{"minutes": 60}],
        "organizationId": studio,
        "tutorIds": ids,
    }
    saved = (await call(client, CREATE_SERVICE, {"input": input}, owner))["createService"]
    assert saved["__typename"] == "ServiceSaved", saved
    return ids, saved["service"]["id"]


async def test_round_robin_under_thirty_simultaneous_requests_books_each_tutor_once(
    ports: list[int],
) -> None:
    clients = [
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{p}", limits=httpx.Limits(max_connections=100)
        )
        for p in ports
    ]
    try:
        tutor_ids, service_id = await studio_of_three(clients[0])
        start = at(monday(3), 10)

        async def attempt(i: int) -> tuple[str, str | None]:
            input: dict[str, Any] = {"serviceId": service_id, "start": start, "timeZone": "UTC"}
            who = None
            if i % 2:  # half signed-in students, half guests
                who = token(f"rr-student-{i}")
            else:
                input["guest"] = {"name": f"Guest {i}", "email": f"guest-{i}@example.com"}
            result = (await call(clients[i % 2], CREATE, {"input": input}, who))["createBooking"]
            booked = result.get("booking")
            return result["__typename"], booked["tutor"]["id"] if booked else None

        outcomes = await asyncio.gather(*(attempt(i) for i in range(30)))
        kinds = Counter(kind for kind, _ in outcomes)
        assert kinds == {"BookingCreated": 3, "SlotUnavailable": 27}, outcomes
        assert sorted(t for _, t in outcomes if t) == sorted(tutor_ids)
    finally:
        for client in clients:
            await client.aclose()
