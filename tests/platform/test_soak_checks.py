"""The soak's invariant checks (bench/soak/checks.py) see each violation planted, and nothing
where there is none: a soak that passes means something only if they can fail."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from bench.soak import checks
from infra.db import Database
from models import BookingStatus
from tests.helpers import (
    CLOCK,
    GraphQLClient,
    add_booking,
    grant,
    make_tutor,
    pk,
    stored_student,
    token,
)

NOW = CLOCK


@pytest.fixture
async def conn(db: Database) -> AsyncIterator[Any]:
    connection = await asyncpg.connect(db.plain_url)
    try:
        yield connection
    finally:
        await connection.close()


async def test_capacity_and_one_session_at_a_time(
    gql: GraphQLClient, db: Database, conn: Any
) -> None:
    ada = await make_tutor(gql, "ada")
    lesson = (await ada.service(title="Lesson"))["service"]["id"]
    group = (await ada.service(title="Group", capacity=3))["service"]["id"]
    at = NOW().replace(minute=0, second=0, microsecond=0) + timedelta(days=3)
    first = await add_booking(db, ada.id, lesson, at)
    assert await checks.over_capacity(conn, NOW()) == []
    second = await add_booking(db, ada.id, lesson, at + timedelta(minutes=30))
    [found] = await checks.over_capacity(conn, NOW())
    assert "2 bookings" in found and "capacity 1" in found
    await conn.execute("UPDATE bookings SET status = 'CANCELLED' WHERE id = $1", second)
    # A hold that lapsed holds nothing; one still running does.
    lapsed = await add_booking(
        db,
        ada.id,
        lesson,
        at,
        status=BookingStatus.PENDING_PAYMENT,
        hold_expires_at=NOW() - timedelta(minutes=1),
    )
    assert await checks.over_capacity(conn, NOW()) == []
    await conn.execute(
        "UPDATE bookings SET hold_expires_at = $2 WHERE id = $1", lapsed, NOW() + timedelta(hours=1)
    )
    assert len(await checks.over_capacity(conn, NOW())) == 1
    await conn.execute("UPDATE bookings SET status = 'EXPIRED' WHERE id = $1", lapsed)

    later = at + timedelta(hours=2)
    for _ in range(3):
        await add_booking(db, ada.id, group, later)
    assert await checks.over_capacity(conn, NOW()) == []
    await add_booking(db, ada.id, group, later)
    [found] = await checks.over_capacity(conn, NOW())
    assert "4 bookings" in found and "capacity 3" in found
    await conn.execute("UPDATE bookings SET status = 'CANCELLED' WHERE service_id = $1", pk(group))
    # Two services of one tutor at once: each within its capacity, together impossible.
    await add_booking(db, ada.id, group, at + timedelta(minutes=15))
    [found] = await checks.over_capacity(conn, NOW())
    assert "two services overlap" in found and str(first) in found


async def test_a_student_in_two_places(gql: GraphQLClient, db: Database, conn: Any) -> None:
    ada, bea = await make_tutor(gql, "ada"), await make_tutor(gql, "bea")
    sam = pk(await stored_student(db, token("sam")))
    at = NOW().replace(minute=0, second=0, microsecond=0) + timedelta(days=3)
    for tutor in (ada, bea):
        service = (await tutor.service())["service"]["id"]
        await add_booking(db, tutor.id, service, at, student_id=sam)
        at += timedelta(minutes=30)
    [found] = await checks.student_in_two_places(conn, NOW())
    assert str(sam) in found
    await conn.execute("UPDATE bookings SET status = 'CANCELLED' WHERE tutor_id = $1", pk(bea.id))
    assert await checks.student_in_two_places(conn, NOW()) == []


async def test_a_balance_apart_from_its_ledger_or_below_zero(
    gql: GraphQLClient, db: Database, conn: Any
) -> None:
    ada = await make_tutor(gql, "ada")
    sam = await stored_student(db, token("sam"))
    package = (await grant(gql, ada, studentId=sam, unit="SESSIONS", total=3))["package"]
    assert await checks.ledgers(conn, NOW()) == []
    await conn.execute("UPDATE packages SET remaining = 2 WHERE id = $1", pk(package["id"]))
    [found] = await checks.ledgers(conn, NOW())
    assert "remaining 2, ledger 3" in found
    # A redemption booked before the grant: the running balance dipped below zero.
    await conn.execute(
        "INSERT INTO package_adjustments (id, package_id, kind, delta, at) "
        "SELECT $1, package_id, 'REDEMPTION', -1, at - interval '1 hour' "
        "FROM package_adjustments WHERE package_id = $2",
        uuid.uuid4(),
        pk(package["id"]),
    )
    [found] = await checks.ledgers(conn, NOW())
    assert "below zero (lowest -1)" in found


async def test_jobs_left_waiting_or_given_up_without_a_reason(db: Database, conn: Any) -> None:
    async def job(**columns: Any) -> uuid.UUID:
        job_id = uuid.uuid4()
        values = {
            "id": job_id,
            "kind": "test",
            "payload": "{}",
            "attempts": 1,
            "created_at": NOW(),
            **columns,
        }
        names = ", ".join(values)
        marks = ", ".join(f"${n}" for n in range(1, len(values) + 1))
        await conn.execute(f"INSERT INTO outbox ({names}) VALUES ({marks})", *values.values())
        return job_id

    await job(due_at=NOW() - timedelta(minutes=1), done_at=NOW())
    await job(due_at=NOW() + timedelta(days=1))  # a reminder, not due yet
    await job(due_at=None)  # parked
    await job(due_at=NOW(), failed_at=NOW(), last_error="HTTP 500")
    assert await checks.outbox(conn, NOW()) == []
    waiting = await job(due_at=NOW() - timedelta(minutes=1))
    silent = await job(due_at=NOW(), failed_at=NOW())
    both = await job(due_at=NOW(), failed_at=NOW(), done_at=NOW(), last_error="x")
    found = await checks.outbox(conn, NOW())
    assert len(found) == 3
    for job_id, state in [
        (waiting, "still waiting after 1 attempt(s)"),
        (silent, "given up without an error"),
        (both, "both done and given up"),
    ]:
        [line] = [f for f in found if str(job_id) in f]
        assert state in line


WEBHOOK = """mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) {
  ... on WebhookEndpointCreated { endpoint { id } } } }"""


async def test_deliveries_unfinished_unreceived_or_unknown(
    gql: GraphQLClient, db: Database, conn: Any
) -> None:
    ada = await make_tutor(gql, "ada")
    input = {"url": "https://hooks.example/ada", "events": ["BOOKING_CREATED"]}
    made = await gql(WEBHOOK, {"input": input}, ada.token)
    endpoint = pk(made["createWebhookEndpoint"]["endpoint"]["id"])

    async def delivery(status: str) -> str:
        delivery_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_type, body, status, "
            "attempts, waiting, created_at) VALUES ($1, $2, 'BOOKING_CREATED', '{}', $3, 1, "
            "false, $4)",
            delivery_id,
            endpoint,
            status,
            NOW(),
        )
        return f"msg_{delivery_id.hex}"

    delivered, failed = await delivery("DELIVERED"), await delivery("FAILED")
    assert await checks.deliveries(conn, NOW(), {delivered}) == []
    pending = await delivery("PENDING")
    found = await checks.deliveries(conn, NOW(), {"msg_nobody"})
    assert sorted(found) == sorted(
        [
            f"webhook {delivered}: DELIVERED but never received",
            f"webhook {pending}: still PENDING",
            "webhook msg_nobody: received, but no such delivery",
        ]
    )
    assert failed not in " ".join(found)
