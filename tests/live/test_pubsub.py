"""broadcaster 0.3.1's four bugs, each reproduced on the stock library and shown fixed in ours.

Each scenario reports what a subscriber saw. The stock class must show the bug (if upstream
fixes one, its assertion fails here and our patch can go) and ours must not.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from broadcaster import Broadcast, Event
from broadcaster._backends.base import BroadcastBackend
from broadcaster._backends.postgres import PostgresBackend as StockPostgres
from broadcaster._backends.redis import RedisBackend as StockRedis
from redis import asyncio as aioredis

from infra.pubsub import Hub, PostgresBackend, RedisBackend
from tests.helpers import REDIS_URL
from tests.processes import service_up

needs_redis = pytest.mark.skipif(not service_up("Redis", 6379), reason="no Redis on 127.0.0.1:6379")
LISTENING = "(query ILIKE '%LISTEN%' OR application_name = 'booking_api_listener')"


def reader(feed: Any) -> Callable[[], Awaitable[Event]]:
    """The next event: our Feed iterates; the stock Subscriber has get()."""
    return feed.__anext__ if hasattr(feed, "__anext__") else feed.get  # type: ignore[no-any-return]


async def connected(backend: BroadcastBackend, ours: bool) -> Broadcast:
    broadcast = Hub(backend) if ours else Broadcast(backend=backend)
    await asyncio.wait_for(broadcast.connect(), 10)
    return broadcast


async def stop(broadcast: Broadcast) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(broadcast.disconnect(), 5)


async def arrives(
    get: Callable[[], Awaitable[Event]], publish: Callable[[], Awaitable[None]], message: str
) -> bool:
    """Publish again and again for about 3 s: whether `message` reaches the subscriber (what is
    published while a backend reconnects is lost: delivery is at-most-once)."""
    pending = asyncio.ensure_future(get())
    try:
        for _ in range(30):
            with contextlib.suppress(Exception):
                await publish()
            done, _ = await asyncio.wait([pending], timeout=0.1)
            if done:
                return pending.result().message == message
        return False
    finally:
        pending.cancel()
        with contextlib.suppress(BaseException):
            await pending


async def notify(url: str, channel: str, message: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("SELECT pg_notify($1, $2)", channel, message)
    finally:
        await connection.close()


async def terminate_listeners(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {LISTENING} "
            "AND datname = current_database() AND pid <> pg_backend_pid()"
        )
        return len(rows)
    finally:
        await connection.close()


async def kill_redis_subscribers() -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.client_kill_filter(_type="pubsub")
    finally:
        await client.aclose()


# ---------------------------------------------------------------- bug 1


async def redis_delivers(backend: BroadcastBackend, ours: bool) -> bool:
    broadcast = await connected(backend, ours)
    try:
        async with broadcast.subscribe("bug1") as feed:
            return await arrives(reader(feed), lambda: broadcast.publish("bug1", "hi"), "hi")
    finally:
        await stop(broadcast)


@needs_redis
async def test_bug1_redis_py_8_delivers_nothing_on_stock() -> None:
    assert not await redis_delivers(StockRedis(REDIS_URL), ours=False)
    assert await redis_delivers(RedisBackend(REDIS_URL), ours=True)


# ---------------------------------------------------------------- bug 2


@needs_redis
async def test_bug2_a_dropped_redis_connection_is_reconnected() -> None:
    # The stock backend cannot be shown here: on redis-py 8 it delivers nothing at all (bug 1).
    ours = await connected(RedisBackend(REDIS_URL), ours=True)
    publisher = aioredis.Redis.from_url(REDIS_URL)

    async def publish(message: str) -> None:
        await publisher.publish("bug2", message)

    try:
        async with ours.subscribe("bug2") as feed:
            assert await arrives(reader(feed), lambda: publish("before"), "before")
            await kill_redis_subscribers()
            assert await arrives(reader(feed), lambda: publish("after"), "after")
    finally:
        await publisher.aclose()
        await stop(ours)


async def postgres_survives_a_kill(url: str, backend: BroadcastBackend, ours: bool) -> bool:
    broadcast = await connected(backend, ours)
    try:
        async with broadcast.subscribe("bug2pg") as feed:
            assert await arrives(reader(feed), lambda: notify(url, "bug2pg", "x"), "x")
            assert await terminate_listeners(url) >= 1
            return await arrives(reader(feed), lambda: notify(url, "bug2pg", "y"), "y")
    except (asyncpg.InterfaceError, asyncpg.PostgresConnectionError):
        return False  # the stock backend then fails to UNLISTEN on its dead connection
    finally:
        await stop(broadcast)


async def test_bug2_a_dropped_postgresql_connection_is_reconnected(session_url: str) -> None:
    assert not await postgres_survives_a_kill(session_url, StockPostgres(session_url), False)
    assert await postgres_survives_a_kill(session_url, PostgresBackend(session_url), True)


# ---------------------------------------------------------------- bug 3


async def publish_failures(backend: BroadcastBackend, ours: bool) -> list[BaseException]:
    broadcast = await connected(backend, ours)
    try:
        results = await asyncio.gather(
            *(broadcast.publish("bug3", str(i)) for i in range(20)), return_exceptions=True
        )
        return [r for r in results if isinstance(r, BaseException)]
    finally:
        await stop(broadcast)


async def test_bug3_concurrent_publishes_on_postgresql(session_url: str) -> None:
    assert await publish_failures(StockPostgres(session_url), ours=False)
    assert await publish_failures(PostgresBackend(session_url), ours=True) == []


# ---------------------------------------------------------------- bug 4


async def two_first_subscribers(broadcast: Broadcast) -> list[bool]:
    """Two tasks subscribe at once to a channel nobody listens to: which of them receive."""
    got: list[bool] = []
    subscribed = [asyncio.Event(), asyncio.Event()]
    published = asyncio.Event()

    async def subscriber(ready: asyncio.Event) -> None:
        with contextlib.suppress(KeyError):  # the stock class also fails on leaving
            async with broadcast.subscribe("bug4") as feed:
                ready.set()
                await published.wait()
                try:
                    await asyncio.wait_for(reader(feed)(), 3)
                    got.append(True)
                except TimeoutError:
                    got.append(False)

    tasks = [asyncio.ensure_future(subscriber(ready)) for ready in subscribed]
    await asyncio.wait_for(asyncio.gather(*(ready.wait() for ready in subscribed)), 10)
    await broadcast.publish("bug4", "hello")
    published.set()
    await asyncio.gather(*tasks)
    return got


async def test_bug4_two_first_subscribers_at_once(session_url: str) -> None:
    # The same backend under both (one whose subscribe really awaits): the bug is Broadcast's.
    for ours, expected in ((False, [False, True]), (True, [True, True])):
        broadcast = await connected(PostgresBackend(session_url), ours)
        try:
            assert sorted(await two_first_subscribers(broadcast)) == expected
        finally:
            await stop(broadcast)
