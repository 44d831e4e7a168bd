"""Real `booking-api worker` processes: with no broker, with Redis and with RabbitMQ. A worker
killed mid-job (its SMTP conversation stalled) and the job done once after a restart; periodic
jobs scheduled once per period by two workers."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy import func
from sqlmodel import col, select

from domain.events import slots_channel
from infra.db import Database
from models import Booking, OutboxJob
from tests.fakes.smtp_server import Inbox
from tests.helpers import (
    ADA,
    SAM,
    GraphQLClient,
    at,
    book,
    monday,
    pk,
    reserve,
    setup_card_lessons,
    setup_lessons,
)
from tests.processes import production_env, service_up, start_worker, stop

LEASE_SECONDS = 3
BROKERS = {
    "none": None,
    "redis": ("Redis", 6379, "redis://127.0.0.1:6379/0"),
    "rabbitmq": ("RabbitMQ", 5672, "amqp://guest:guest@127.0.0.1:5672/"),
}


@pytest.fixture(params=list(BROKERS))
def broker_url(request: pytest.FixtureRequest) -> str | None:
    broker = BROKERS[request.param]
    if broker is None:
        return None
    name, port, url = broker
    if not service_up(name, port):
        pytest.skip(f"no {name} on 127.0.0.1:{port}")
    return url


def worker_env(database_url: str, inbox: Inbox, broker: str | None, **more: str) -> dict[str, str]:
    env = production_env(
        database_url,
        SMTP_URL=f"smtp://127.0.0.1:{inbox.port}",
        EMAIL_FROM="bookings@tutoring.example",
        OUTBOX_LEASE_SECONDS=str(LEASE_SECONDS),
        **more,
    )
    env.pop("BROKER_URL", None)
    if broker is not None:
        env["BROKER_URL"] = broker
    return env


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    stop([p for p in started if p.poll() is None])


async def done_emails(db: Database) -> int:
    async with db.session() as session:
        query = select(func.count()).where(
            OutboxJob.kind == "email.booking", col(OutboxJob.done_at).is_not(None)
        )
        return int((await session.exec(query)).one())


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError("timed out")


async def a_worker_amid_an_email(
    gql: GraphQLClient, inbox: Inbox, env: dict[str, str], workers: list[subprocess.Popen[bytes]]
) -> None:
    """A booking's two emails due, and a worker started on them while the SMTP server holds
    every message at RCPT: it is mid-job once this returns."""
    ada, service, sam = await setup_lessons(gql)
    made = await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    assert made["__typename"] == "BookingCreated"
    inbox.open.clear()
    workers.append(start_worker(env))
    assert await asyncio.to_thread(inbox.stalled.wait, 60), "the worker never reached SMTP"


async def test_a_worker_killed_mid_job_finishes_it_once_after_a_restart(
    broker_url: str | None,
    gql: GraphQLClient,
    db: Database,
    inbox: Inbox,
    database_url: str,
    workers: list[subprocess.Popen[bytes]],
) -> None:
    env = worker_env(database_url, inbox, broker_url)
    await a_worker_amid_an_email(gql, inbox, env, workers)
    workers[0].send_signal(signal.SIGKILL)
    workers[0].wait(timeout=10)
    inbox.open.set()
    assert inbox.received == [] and await done_emails(db) == 0  # died mid-job: nothing sent

    workers.append(start_worker(env))

    async def both_sent() -> bool:
        return len(inbox.received) >= 2 and await done_emails(db) == 2

    await eventually(both_sent)
    await asyncio.sleep(LEASE_SECONDS + 2)  # another lease, and the broker's redelivery
    assert sorted(r.to[0] for r in inbox.received) == sorted([SAM, ADA])


async def test_a_worker_told_to_stop_finishes_its_jobs_in_flight_and_exits_0(
    broker_url: str | None,
    gql: GraphQLClient,
    db: Database,
    inbox: Inbox,
    database_url: str,
    workers: list[subprocess.Popen[bytes]],
) -> None:
    env = worker_env(database_url, inbox, broker_url, SHUTDOWN_GRACE_SECONDS="60")
    await a_worker_amid_an_email(gql, inbox, env, workers)
    workers[0].send_signal(signal.SIGTERM)
    await asyncio.sleep(1)
    assert workers[0].poll() is None  # waiting for its job
    inbox.open.set()
    assert await asyncio.to_thread(workers[0].wait, 60) == 0
    # What it had begun it finished: sent and recorded as done (a job not begun stays due).
    assert len(inbox.received) >= 1
    assert await done_emails(db) == len(inbox.received)


async def test_two_workers_schedule_each_periodic_job_once_per_period(
    db: Database,
    inbox: Inbox,
    database_url: str,
    workers: list[subprocess.Popen[bytes]],
) -> None:
    env = worker_env(database_url, inbox, None, HOLD_SWEEP_SECONDS="1")
    workers.extend([start_worker(env), start_worker(env)])

    async def sweeps() -> list[OutboxJob]:
        async with db.session() as session:
            query = select(OutboxJob).where(OutboxJob.kind == "sweep.holds")
            return list(await session.exec(query))

    async def five_done() -> bool:
        return len([j for j in await sweeps() if j.done_at is not None]) >= 5

    await eventually(five_done)
    stop(workers)
    rows = await sweeps()
    # Each second-long period was scheduled (and run) by one of the two, not by both.
    per_period = Counter(int(r.due_at.timestamp()) for r in rows if r.due_at is not None)
    assert len(rows) >= 5 and set(per_period.values()) == {1}
    assert all(r.attempts == 0 and r.failed_at is None for r in rows)


async def test_a_workers_hold_sweep_reaches_live_subscribers(
    card_gql: GraphQLClient,
    db: Database,
    inbox: Inbox,
    database_url: str,
    session_url: str,
    workers: list[subprocess.Popen[bytes]],
) -> None:
    """Events from jobs in a worker process are published like any other (after commit)."""
    ada, service, sam = await setup_card_lessons(card_gql)
    held = await reserve(card_gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    booking_id = pk(held["booking"]["id"])
    async with db.transaction() as session:
        booking = await session.get(Booking, booking_id)
        assert booking is not None and booking.status == "PENDING_PAYMENT"
        booking.hold_expires_at = datetime.now(UTC) - timedelta(minutes=1)
        session.add(booking)
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(session_url)
    try:
        channel = slots_channel(pk(ada.id))
        await listener.add_listener(channel, lambda *args: heard.put_nowait(args[3]))
        workers.append(start_worker(worker_env(database_url, inbox, None, HOLD_SWEEP_SECONDS="1")))
        message = json.loads(await asyncio.wait_for(heard.get(), 60))
    finally:
        await listener.close()
    assert message["kind"] == "RELEASED" and message["start"] == at(monday(), 9)
    async with db.session() as session:
        booking = await session.get(Booking, booking_id)
        assert booking is not None and booking.status == "EXPIRED"
