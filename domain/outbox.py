"""Writing background work into the outbox, and the queries the relay and the jobs run on it.

Rows are added on the caller's session, so they commit or roll back with the change that
needs them: a rolled-back booking sends no email, a committed one cannot lose its email.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from asgi_correlation_id import correlation_id
from sqlalchemy import case, delete, func, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.stripe import Cards
from infra.crypto import Cipher
from infra.db import Database, UnitOfWork
from infra.mailer import Mailer
from infra.settings import Settings
from models import OutboxJob

MAX_ERROR = 2000
KEEP_DONE = timedelta(days=7)
KEEP_FAILED = timedelta(days=30)


@dataclass(frozen=True)
class JobContext:
    """What a job may use: settings, the database (for work in its own transactions), the
    mailer (None: email is off), the job's clock, the cipher of secrets at rest and Stripe
    (None: no card payments)."""

    settings: Settings
    db: Database
    mailer: Mailer | None
    now: datetime
    cipher: Cipher
    cards: Cards | None = None
    job_id: uuid.UUID | None = None


Handler = Callable[[JobContext, UnitOfWork, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Job:
    """A kind of background work: the name its outbox rows carry, and the handler that does it
    (None: the rows only keep a payload until something takes it, and never run)."""

    kind: str
    handler: Handler | None


# Every kind there is, registered by the module that writes and handles it: a row can only be
# written through a Job, and a Job only exists with its handler, so no kind lacks one.
JOBS: dict[str, Job] = {}


def register(kind: str, handler: Handler | None) -> Job:
    """Register a kind of job (once: a second registration of the same kind is a bug)."""
    if kind in JOBS:
        raise ValueError(f"job kind {kind!r} is registered twice")
    JOBS[kind] = registered = Job(kind, handler)
    return registered


def add(
    session: UnitOfWork,
    job: Job,
    payload: dict[str, Any],
    due_at: datetime | None,
    *,
    now: datetime,
    key: str | None = None,
) -> None:
    """Work to do once this transaction commits (at `due_at`; None parks it), written `now`:
    a parked row's age decides when it is dropped."""
    row = OutboxJob(
        kind=job.kind,
        payload=payload,
        due_at=due_at,
        key=key,
        request_id=correlation_id.get(),
        created_at=now,
    )
    session.add(row)
    session.wake_relay_on_commit()


async def add_once(
    session: AsyncSession, job: Job, key: str, payload: dict[str, Any], now: datetime
) -> None:
    """Like `add`, due `now`, unless a row with this key exists already (from this or another
    worker)."""
    await session.exec(
        insert(OutboxJob)
        .values(
            id=uuid.uuid4(),
            kind=job.kind,
            key=key,
            payload=payload,
            due_at=now,
            attempts=0,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["key"])
    )


# The payload key under which a job keeps a secret it needs later (a guest's manage token, an
# invitation's token), encrypted with the Cipher of secrets at rest.
ENCRYPTED_TOKEN = "encrypted_token"


async def rotate_tokens(session: AsyncSession, cipher: Cipher) -> int:
    """Every secret kept in a job's payload re-encrypted under the first key (after a key is
    added in front), whatever the job's kind or state, so none stays under a key to be dropped."""
    rows = await session.exec(
        select(OutboxJob)
        .where(col(OutboxJob.payload).op("?")(ENCRYPTED_TOKEN))  # JSONB: has this key
        .with_for_update()
    )
    count = 0
    for row in rows:
        row.payload = {**row.payload, ENCRYPTED_TOKEN: cipher.rotate(row.payload[ENCRYPTED_TOKEN])}
        session.add(row)
        count += 1
    return count


async def take_parked(session: AsyncSession, key: str) -> dict[str, Any] | None:
    """A parked row's payload, removed as it is read (at most one reader gets it)."""
    row = (
        await session.exec(
            select(OutboxJob).where(OutboxJob.key == key, col(OutboxJob.due_at).is_(None))
        )
    ).first()
    if row is None:
        return None
    await session.delete(row)
    return row.payload


async def hand_off_due(
    session: AsyncSession, now: datetime, lease: timedelta, limit: int = 200
) -> list[uuid.UUID]:
    """Due rows not handed over yet, or handed over longer than a lease ago and still not done.

    Marked as handed over in the caller's transaction; SKIP LOCKED lets several relays share
    the table without handing the same row twice."""
    query = (
        select(OutboxJob.id)
        .where(
            col(OutboxJob.done_at).is_(None),
            col(OutboxJob.failed_at).is_(None),
            col(OutboxJob.due_at) <= now,
            (col(OutboxJob.enqueued_at).is_(None)) | (col(OutboxJob.enqueued_at) < now - lease),
        )
        .order_by(col(OutboxJob.due_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list((await session.exec(query)).all())
    if ids:
        await session.exec(
            update(OutboxJob).where(col(OutboxJob.id).in_(ids)).values(enqueued_at=now)
        )
    return ids


async def lock_job(session: AsyncSession, job_id: uuid.UUID) -> OutboxJob | None:
    """The row, locked until the job's transaction ends: a second delivery of the same job
    waits here, then finds it done."""
    query = select(OutboxJob).where(OutboxJob.id == job_id).with_for_update()
    return (await session.exec(query)).first()


async def prune(session: AsyncSession, now: datetime) -> None:
    """Done rows are history after a week; given-up ones are kept a month for inspection."""
    await session.exec(
        delete(OutboxJob).where(
            (col(OutboxJob.done_at) < now - KEEP_DONE)
            | (col(OutboxJob.failed_at) < now - KEEP_FAILED)
        )
    )


def backoff(attempts: int) -> timedelta:
    """10 s, 20 s, 40 s … capped at an hour."""
    return timedelta(seconds=min(10 * 2 ** (attempts - 1), 3600))


async def finish(session: AsyncSession, job_id: uuid.UUID, now: datetime) -> None:
    await session.exec(update(OutboxJob).where(col(OutboxJob.id) == job_id).values(done_at=now))


async def failed(
    session: AsyncSession,
    job_id: uuid.UUID,
    attempts: int,
    error: BaseException,
    now: datetime,
    max_attempts: int,
) -> None:
    """Count the attempt; try again after a backoff, or give up after `max_attempts`."""
    attempts += 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_error": f"{type(error).__name__}: {error}"[:MAX_ERROR],
    }
    if attempts >= max_attempts:
        values["failed_at"] = now
    else:
        values["due_at"] = now + backoff(attempts)
        values["enqueued_at"] = None
    await session.exec(update(OutboxJob).where(col(OutboxJob.id) == job_id).values(**values))


async def counts(session: AsyncSession) -> list[tuple[str, str, int]]:
    """(kind, state, rows) for the operator: pending, parked, done or failed."""
    state = case(
        (col(OutboxJob.failed_at).is_not(None), "failed"),
        (col(OutboxJob.done_at).is_not(None), "done"),
        (col(OutboxJob.due_at).is_(None), "parked"),
        else_="pending",
    )
    rows = await session.exec(
        select(OutboxJob.kind, state, func.count())
        .group_by(col(OutboxJob.kind), state)
        .order_by(col(OutboxJob.kind), state)
    )
    return [(kind, str(name), int(n)) for kind, name, n in rows]


async def given_up(session: AsyncSession) -> list[OutboxJob]:
    query = select(OutboxJob).where(col(OutboxJob.failed_at).is_not(None))
    return list(await session.exec(query.order_by(col(OutboxJob.failed_at))))


async def retry_given_up(session: UnitOfWork, now: datetime) -> int:
    """Give every given-up job a fresh set of attempts, due now (once its cause is fixed)."""
    jobs = await given_up(session)
    for job in jobs:
        job.failed_at, job.attempts, job.due_at, job.enqueued_at = None, 0, now, None
        session.add(job)
    if jobs:
        session.wake_relay_on_commit()
    return len(jobs)
