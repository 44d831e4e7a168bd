"""What a unit of work does once it commits: wake the relays and publish live updates, never
before the commit and never for a rolled-back change."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from domain import outbox
from infra.db import OUTBOX_CHANNEL, Database, Messages
from infra.settings import Settings
from tests.conftest import app_client
from tests.helpers import CLOCK, GraphQLClient, at, book, make_tutor, monday, token, weekly
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
            unit.publish_after_commit("slots:x", "{}")
            raise RuntimeError("rolled back")

    async with wakes(db) as heard:
        with pytest.raises(RuntimeError):
            await fails()
        async with published.db.transaction() as unit:
            outbox.add(unit, SWEEP_OUTBOX, {}, CLOCK(), now=CLOCK())
        await asyncio.wait_for(heard.get(), timeout=10)  # the committed one only
        assert heard.empty()
    assert published.messages == []
