"""What a unit of work does once it commits: wake the relays and publish live updates, never
before the commit and never for a rolled-back change."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from sqlmodel import select

from domain import outbox
from infra.db import LIVE_GRACE, LIVE_UPDATES, OUTBOX_CHANNEL, Database, Messages
from infra.settings import Settings
from models import OutboxJob
from tests.conftest import app_client
from tests.helpers import (
    CLOCK,
    Background,
    GraphQLClient,
    at,
    book,
    make_tutor,
    monday,
    token,
    weekly,
)
from workers.jobs import SWEEP_OUTBOX


class Published:
    """A Database whose published live updates are collected."""

    def __init__(self, db: Database) -> None:
        self.messages: Messages = []
        self.db = Database(db.engine, publish=self.collect)

    async def collect(self, messages: Messages) -> None:
        self.messages.extend(messages)


@asynccontextmanager
async def wakes(db: Database) -> AsyncIterator[asyncio.Queue[str]]:
    """Each NOTIFY on the relays' channel, as it arrives."""
    heard: asyncio.Queue[str] = asyncio.Queue()
    connection = await asyncpg.connect(db.plain_url)
    await connection.add_listener(OUTBOX_CHANNEL, lambda *args: heard.put_nowait(args[-1]))
    try:
        yield heard
    finally:
        await connection.close()


async def test_a_booking_wakes_the_relay_and_publishes_once_committed(
    settings: Settings, db: Database
) -> None:
    published = Published(db)
    async with app_client(settings, published.db) as http, wakes(db) as heard:
        gql = GraphQLClient(http)
        ada = await make_tutor(gql, "ada", "UTC", weekly("09:00", "13:00"))
        service = (await ada.service(slotIntervalMinutes=60))["service"]
        published.messages.clear()
        while not heard.empty():
            heard.get_nowait()
        made = await book(
            gql, token("sam"), serviceId=service["id"], tutorId=ada.id, start=at(monday(2), 10)
        )
        assert made["__typename"] == "BookingCreated"
        await asyncio.wait_for(heard.get(), timeout=10)
    assert {channel.split(":")[0] for channel, _ in published.messages} == {"bookings", "slots"}
    assert any('"TAKEN"' in message for channel, message in published.messages)


async def test_a_rolled_back_unit_of_work_wakes_and_publishes_nothing(db: Database) -> None:
    published = Published(db)

    async def fails() -> None:
        async with published.db.transaction() as unit:
            outbox.add(unit, SWEEP_OUTBOX, {}, CLOCK(), now=CLOCK())
            unit.publish_after_commit("slots:x", "{}", CLOCK())
            raise RuntimeError("rolled back")

    async with wakes(db) as heard:
        with pytest.raises(RuntimeError):
            await fails()
        async with published.db.transaction() as unit:
            outbox.add(unit, SWEEP_OUTBOX, {}, CLOCK(), now=CLOCK())
        await asyncio.wait_for(heard.get(), timeout=10)  # the committed one only
        assert heard.empty()
    assert published.messages == []


async def live_row(db: Database) -> OutboxJob | None:
    async with db.session() as session:
        found: OutboxJob | None = (
            await session.exec(select(OutboxJob).where(OutboxJob.kind == LIVE_UPDATES))
        ).one_or_none()
        return found


async def test_live_updates_a_process_did_not_get_out_go_from_their_row(
    settings: Settings, db: Database
) -> None:
    """The process committed, then could not publish (it died, or the broker was away): the
    relay publishes the updates from their outbox row once LIVE_GRACE has passed."""

    async def broker_away(messages: Messages) -> None:
        raise ConnectionError("the broker is away")

    now = CLOCK()
    async with Database(db.engine, publish=broker_away).transaction() as unit:
        unit.publish_after_commit("slots:x", '{"kind": "TAKEN"}', now)
        unit.publish_after_commit("bookings:x", '{"action": "CREATED"}', now)
    row = await live_row(db)
    assert row is not None and row.done_at is None and row.due_at == now + LIVE_GRACE
    elsewhere = Published(db)
    background = Background(settings, elsewhere.db)
    await background.run(now + LIVE_GRACE / 2)
    assert elsewhere.messages == []
    await background.run(now + LIVE_GRACE)
    assert elsewhere.messages == [
        ("slots:x", '{"kind": "TAKEN"}'),
        ("bookings:x", '{"action": "CREATED"}'),
    ]
    row = await live_row(db)
    assert row is not None and row.done_at is not None


async def test_live_updates_published_at_commit_are_not_sent_again(
    settings: Settings, db: Database
) -> None:
    published = Published(db)
    now = CLOCK()
    async with published.db.transaction() as unit:
        unit.publish_after_commit("slots:x", "{}", now)
    assert published.messages == [("slots:x", "{}")]
    row = await live_row(db)
    assert row is not None and row.done_at is not None
    await Background(settings, published.db).run(now + 2 * LIVE_GRACE)
    assert published.messages == [("slots:x", "{}")]
