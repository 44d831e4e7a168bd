"""broadcaster 0.3.1's four bugs, each reproduced on the stock library and shown fixed in ours,
and how our Hub tells its subscribers that a lost connection may have lost them events.

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
from redis.asyncio.client import PubSub

from infra.pubsub import EventsMissed, Hub, PostgresBackend, Reconnecting, RedisBackend
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


async def told_events_missed(feed: Any) -> None:
    """The feed ends with EventsMissed once the backend is back (events still on their way
    when the connection was lost may come first)."""

    async def drain() -> None:
        async for _ in feed:
            pass

    with pytest.raises(EventsMissed):
        await asyncio.wait_for(drain(), 10)


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
async def test_bug2_a_dropped_redis_connection_is_reconnected_and_subscribers_told() -> None:
    # The stock backend cannot be shown here: on redis-py 8 it delivers nothing at all (bug 1).
    ours = await connected(RedisBackend(REDIS_URL), ours=True)
    publisher = aioredis.Redis.from_url(REDIS_URL)

    async def publish(message: str) -> None:
        await publisher.publish("bug2", message)

    try:
        async with ours.subscribe("bug2") as feed:
            assert await arrives(reader(feed), lambda: publish("before"), "before")
            await kill_redis_subscribers()
            await told_events_missed(feed)
        async with ours.subscribe("bug2") as feed:
            assert await arrives(reader(feed), lambda: publish("after"), "after")
    finally:
        await publisher.aclose()
        await stop(ours)


@needs_redis
async def test_a_channel_added_while_redis_subscribes_again_is_subscribed_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backend = RedisBackend(REDIS_URL)
    back = asyncio.Event()
    backend.on_resubscribed = back.set
    publisher = aioredis.Redis.from_url(REDIS_URL)
    subscribe = PubSub.subscribe
    armed = asyncio.Event()

    async def with_one_more(pubsub: PubSub, *channels: str) -> None:
        # A subscriber arrives while the reader, on a new connection, subscribes again.
        if armed.is_set() and backend._pubsub is None:
            armed.clear()
            await backend.subscribe("late")
        await subscribe(pubsub, *channels)

    monkeypatch.setattr(PubSub, "subscribe", with_one_more)
    await backend.connect()
    try:
        await backend.subscribe("early")
        armed.set()
        await kill_redis_subscribers()
        await asyncio.wait_for(back.wait(), 10)
        assert not armed.is_set()
        event = None
        for _ in range(30):
            await publisher.publish("late", "here")
            with contextlib.suppress(TimeoutError):
                event = await asyncio.wait_for(backend.next_published(), 0.1)
                break
        assert event is not None and event.channel == "late"
    finally:
        await publisher.aclose()
        await backend.disconnect()


async def postgres_survives_a_kill(url: str, backend: BroadcastBackend, ours: bool) -> bool:
    """Whether a subscription made after the LISTEN connection was killed receives; ours also
    tells the subscriber of before the kill that it may have missed events."""
    broadcast = await connected(backend, ours)
    try:
        async with broadcast.subscribe("bug2pg") as feed:
            assert await arrives(reader(feed), lambda: notify(url, "bug2pg", "x"), "x")
            assert await terminate_listeners(url) >= 1
            if ours:
                await told_events_missed(feed)
        async with broadcast.subscribe("bug2pg") as feed:
            return await arrives(reader(feed), lambda: notify(url, "bug2pg", "y"), "y")
    except (
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,
        asyncpg.PostgresConnectionError,
        KeyError,
    ):
        # The stock backend fails on its dead connection (its Broadcast, on a failed
        # subscribe, then also fails to leave; or, seen in CI, its UNLISTEN meets the dead
        # connection's unfinished operation).
        return False
    finally:
        await stop(broadcast)


async def test_bug2_a_dropped_postgresql_connection_is_reconnected_and_subscribers_told(
    session_url: str,
) -> None:
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


# ---------------------------------------------------------------- events missed


class Flaky(Reconnecting):
    """A backend in memory whose connection the test says came back."""

    def __init__(self) -> None:
        self.channels: set[str] = set()
        self._events: asyncio.Queue[Event] = asyncio.Queue()

    async def connect(self) -> None:
        pass

    async def disconnect(self) -> None:
        pass

    async def subscribe(self, channel: str) -> None:
        self.channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self.channels.discard(channel)

    async def publish(self, channel: str, message: Any) -> None:
        self._events.put_nowait(Event(channel, message))

    async def next_published(self) -> Event:
        return await self._events.get()


async def test_every_subscriber_is_told_and_a_new_one_receives() -> None:
    backend = Flaky()
    hub = Hub(backend)
    await hub.connect()
    try:
        async with contextlib.AsyncExitStack() as told:
            before = await told.enter_async_context(hub.subscribe("a"))
            both = await told.enter_async_context(hub.subscribe("a", "b"))
            backend._resubscribed(2)
            async with hub.subscribe("a") as after:
                for feed in (before, both):
                    with pytest.raises(EventsMissed):
                        await asyncio.wait_for(anext(feed), 1)
                await hub.publish("a", "one")
                assert (await asyncio.wait_for(anext(after), 1)).message == "one"
                await told.aclose()
                # The told have left: "a" is still followed, for the one who stays.
                assert backend.channels == {"a"}
                await hub.publish("a", "two")
                assert (await asyncio.wait_for(anext(after), 1)).message == "two"
    finally:
        await stop(hub)


@needs_redis
async def test_a_redis_subscribe_returns_once_redis_has_confirmed_it() -> None:
    """redis-py only sends SUBSCRIBE; ours waits for Redis's confirmation, so a subscription
    that then reads what it missed (`since`) hears everything published after that read."""
    backend = RedisBackend(REDIS_URL)
    admin = aioredis.Redis.from_url(REDIS_URL)
    await backend.connect()
    try:
        # Redis holds every client's commands for a while: the SUBSCRIBE waits there too.
        await admin.client_pause(700, all=True)
        subscribing = asyncio.create_task(backend.subscribe("confirmed"))
        await asyncio.sleep(0.3)
        assert not subscribing.done()
        await asyncio.wait_for(subscribing, 5)
        await admin.publish("confirmed", "first")
        event = await asyncio.wait_for(backend.next_published(), 5)
        assert (event.channel, event.message) == ("confirmed", "first")
    finally:
        await admin.aclose()
        await backend.disconnect()
