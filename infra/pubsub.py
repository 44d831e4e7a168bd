"""Pub/sub for live updates, through broadcaster, with the parts of it we own.

broadcaster 0.3.1 has four bugs that bite (../shared/STACK-NOTES.md); each has a test in
tests/live/test_pubsub.py that fails on the stock class and passes on ours:

1. Its Redis backend marks itself ready before SUBSCRIBE completes; with redis-py 8 its listener
   leaves at once and nothing is ever delivered. Ours reads with `get_message` in one loop.
2. A dropped Redis or PostgreSQL connection kills its listener; subscribers hang forever. Ours
   reconnect with backoff and subscribe to every channel again.
3. Its PostgreSQL backend publishes on the LISTEN connection: concurrent publishes fail with
   "another operation is in progress". Ours publishes through a small pool of its own.
4. Two tasks subscribing at once to a channel nobody listens to: one's queue is overwritten and it
   never receives. Our Hub registers every queue before it awaits anything.

Also: each subscriber's queue is bounded. One that falls behind is dropped from its channel at
once (so a slow client can't grow the server's memory) and is told why on its next read
(SubscriberTooSlow). Delivery is at-most-once: what is published while a backend's connection
is down is lost, so once the backend is subscribed to every channel again, the Hub ends every
subscriber it has then, those who joined during the outage too, with EventsMissed. A client
told so subscribes again, resumed from its last event (`since`) or followed by a refetch
(README, "Live updates"): each commit reaches it in the replay, the refetch or as an event.

A backend's `subscribe` returns once the broker listens on the channel (PostgreSQL answers
LISTEN; Redis confirms SUBSCRIBE), or once it is known to be away: a subscription that replays
what it missed (`since`) reads its past only then, so what commits after that read is heard.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from typing import Any, ClassVar, Generic, TypeVar
from urllib.parse import urlparse

import asyncpg
from broadcaster import Broadcast, Event
from broadcaster._backends.base import BroadcastBackend
from broadcaster._backends.memory import MemoryBackend
from redis import asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("booking_api.pubsub")

QUEUE_SIZE = 256
RETRY_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0)  # then every 2 s while the broker stays away
HEALTH_CHECK_SECONDS = 5.0


class FeedEnded(Exception):
    """The server ended a subscriber's feed; the client subscribes again, then refetches."""

    message: ClassVar[str]  # each kind's words to the client

    def __init__(self) -> None:
        super().__init__(self.message)


class SubscriberTooSlow(FeedEnded):
    """The subscriber fell more than QUEUE_SIZE events behind and was dropped."""

    message = (
        f"More than {QUEUE_SIZE} events were waiting for this subscriber: it was closed. "
        "Refetch what you show, then subscribe again."
    )


class EventsMissed(FeedEnded):
    """The server's broker connection was lost and is back: events may have been lost."""

    message = (
        "Live updates were interrupted on the server; events may have been missed. "
        "Subscribe again, then refetch what you show."
    )


T = TypeVar("T")


class Bounded(asyncio.Queue[T | None], Generic[T]):
    """One subscriber's queue (QUEUE_SIZE): events here, a cohort's frames in infra.cohorts."""

    ended: type[FeedEnded] | None = None  # then None is put last, to wake a reader on get()


def end(queue: Bounded[T], why: type[FeedEnded]) -> None:
    """Empty the queue of what its reader will never read, mark it, and wake its reader, who
    then learns why."""
    queue.ended = why
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(None)


def offer(queue: Bounded[T], item: T) -> bool:
    """Put without waiting for anyone. A full queue is ended instead (False): its reader was
    too slow."""
    try:
        queue.put_nowait(item)
    except asyncio.QueueFull:
        end(queue, SubscriberTooSlow)
        return False
    return True


class Feed(Generic[T]):
    """One subscriber's items, in order, until it unsubscribes or is ended (FeedEnded)."""

    def __init__(self, queue: Bounded[T]) -> None:
        self._queue = queue

    def __aiter__(self) -> Feed[T]:
        return self

    async def __anext__(self) -> T:
        item = None if self._queue.ended else await self._queue.get()
        if item is not None:
            return item
        why = self._queue.ended
        assert why is not None  # only `end` puts None, after marking the queue
        raise why()


class Hub(Broadcast):
    """broadcaster's Broadcast with bounded queues and a safe first subscription (bug 4), that
    tells its subscribers when its backend may have lost events."""

    def __init__(self, backend: BroadcastBackend, queue_size: int = QUEUE_SIZE) -> None:
        super().__init__(backend=backend)
        self.queue_size = queue_size
        self._ready: dict[str, asyncio.Event] = {}
        self._subscribers: dict[str, set[Bounded[Event]]] = {}  # type: ignore[assignment]
        if isinstance(backend, Reconnecting):
            backend.on_resubscribed = self._interrupted

    def _interrupted(self) -> None:
        """Every subscriber now may have missed events: each is ended (EventsMissed). Called
        once every channel is subscribed again, so that what a client refetches after this
        notice and the events of its next subscription leave no gap."""
        queues = {queue for subscribers in self._subscribers.values() for queue in subscribers}
        for subscribers in self._subscribers.values():
            subscribers.clear()  # each leaves its channels as it ends; a new one joins them
        for queue in queues:
            end(queue, EventsMissed)

    async def _listener(self) -> None:
        while True:
            event = await self._backend.next_published()
            subscribers = self._subscribers.get(event.channel, set())
            for queue in list(subscribers):
                # Never wait for one slow subscriber: everyone else would wait too.
                if not offer(queue, event):
                    subscribers.discard(queue)

    async def publish_all(self, messages: Iterable[tuple[str, str]]) -> None:
        for channel, message in messages:
            await self.publish(channel, message)

    @asynccontextmanager
    async def subscribe(self, channel: str, *more: str) -> AsyncIterator[Feed[Event]]:  # type: ignore[override]
        """One feed of every event on these channels, in the order they arrive."""
        queue: Bounded[Event] = Bounded(maxsize=self.queue_size)
        joined: dict[str, tuple[set[Bounded[Event]], asyncio.Event, bool]] = {}
        # Registered before any await: a second "first" subscriber finds the set and joins it.
        for name in dict.fromkeys((channel, *more)):
            subscribers = self._subscribers.get(name)
            first = subscribers is None
            if subscribers is None:
                subscribers = self._subscribers[name] = set()
                self._ready[name] = asyncio.Event()
            subscribers.add(queue)
            joined[name] = (subscribers, self._ready[name], first)
        try:
            for name, (_, ready, first) in joined.items():
                if first:
                    try:
                        await self._backend.subscribe(name)
                    finally:
                        ready.set()
                else:
                    await ready.wait()
            yield Feed(queue)
        finally:
            for name, (subscribers, _, _) in joined.items():
                subscribers.discard(queue)
                if not subscribers and self._subscribers.get(name) is subscribers:
                    del self._subscribers[name]
                    del self._ready[name]
                    await self._backend.unsubscribe(name)


async def _backoff(attempt: int) -> None:
    await asyncio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])


class Reconnecting(BroadcastBackend):
    """A backend that re-makes its lost broker connection (ours, bug 2). Once it is subscribed
    to every channel again it calls `_resubscribed`, which calls the Hub's hook."""

    on_resubscribed: Callable[[], None] | None = None

    def _resubscribed(self, channels: int) -> None:
        log.warning("pub/sub: subscribed again to %d channel(s)", channels)
        if self.on_resubscribed is not None:
            self.on_resubscribed()


class PostgresBackend(Reconnecting):
    """LISTEN on one connection that is watched and re-made when lost (bug 2); NOTIFY through a
    pool of other connections, so publishes never share the listener's (bug 3)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._channels: set[str] = set()
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._listen: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()
        self._lost = asyncio.Event()

    async def connect(self) -> None:
        self._pool = await asyncpg.create_pool(self._url, min_size=1, max_size=4)
        await self._open()
        self._watch = asyncio.create_task(self._watchdog())

    async def disconnect(self) -> None:
        self._watch.cancel()
        with suppress(asyncio.CancelledError):
            await self._watch
        if self._listen is not None:
            await self._listen.close()
        await self._pool.close()

    def _deliver(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        self._events.put_nowait(Event(channel=channel, message=payload))

    async def _open(self) -> None:
        listen = await asyncpg.connect(
            self._url, server_settings={"application_name": "booking_api_listener"}
        )
        listen.add_termination_listener(self._terminated)
        for channel in self._channels:
            await listen.add_listener(channel, self._deliver)
        self._listen = listen

    def _terminated(self, connection: Any) -> None:
        # asyncpg calls this soon after the end, when the watchdog may have replaced the
        # connection already (its health check failed first): an old connection's end must not
        # cost the new one a reconnect, nor subscribers a second notice.
        if connection is self._listen:
            self._lost.set()

    async def _healthy(self) -> bool:
        if self._listen is None or self._listen.is_closed():
            return False
        try:
            async with self._lock:
                await asyncio.wait_for(self._listen.execute("SELECT 1"), HEALTH_CHECK_SECONDS)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False
        return True

    async def _watchdog(self) -> None:
        while True:
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._lost.wait(), HEALTH_CHECK_SECONDS)
            if not self._lost.is_set() and await self._healthy():
                continue
            log.warning("pub/sub: the LISTEN connection was lost; reconnecting")
            attempt = 0
            while True:
                try:
                    async with self._lock:
                        if self._listen is not None:
                            self._listen.terminate()
                        self._lost.clear()
                        await self._open()
                    break
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                    log.warning("pub/sub: reconnect failed: %s", error)
                    await _backoff(attempt)
                    attempt += 1
            self._resubscribed(len(self._channels))

    async def subscribe(self, channel: str) -> None:
        async with self._lock:
            self._channels.add(channel)
            if self._listen is not None and not self._listen.is_closed():
                with suppress(OSError, asyncpg.InterfaceError):  # the watchdog re-listens
                    await self._listen.add_listener(channel, self._deliver)

    async def unsubscribe(self, channel: str) -> None:
        async with self._lock:
            self._channels.discard(channel)
            if self._listen is not None and not self._listen.is_closed():
                with suppress(OSError, asyncpg.InterfaceError):
                    await self._listen.remove_listener(channel, self._deliver)

    async def publish(self, channel: str, message: Any) -> None:
        await self._pool.execute("SELECT pg_notify($1, $2)", channel, str(message))

    async def next_published(self) -> Event:
        return await self._events.get()


class RedisBackend(Reconnecting):
    """One reader loop on a pub/sub connection: subscribes first, then reads (bug 1); on a lost
    connection it reconnects and subscribes to every channel again (bug 2). `subscribe` waits
    for Redis's confirmation, which the reader hears (redis-py's own `subscribe` only sends)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._channels: set[str] = set()
        self._confirmed: dict[str, asyncio.Event] = {}
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._pubsub: Any = None
        self._connected = asyncio.Event()

    async def connect(self) -> None:
        self._publisher = aioredis.Redis.from_url(self._url)
        self._reader = asyncio.create_task(self._read())
        await asyncio.wait_for(self._connected.wait(), 10)

    async def disconnect(self) -> None:
        self._reader.cancel()
        with suppress(asyncio.CancelledError):
            await self._reader
        await self._publisher.aclose()

    async def _read(self) -> None:
        attempt = 0
        while True:
            client = aioredis.Redis.from_url(self._url, health_check_interval=HEALTH_CHECK_SECONDS)
            pubsub = client.pubsub()
            try:
                await pubsub.ping()
                # Until none is missing: one added meanwhile had no connection to subscribe on.
                subscribed: set[str] = set()
                while missing := self._channels - subscribed:
                    await pubsub.subscribe(*missing)
                    subscribed |= missing
                self._pubsub = pubsub
                if self._connected.is_set():
                    self._resubscribed(len(self._channels))
                self._connected.set()
                attempt = 0
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    kind = message and message["type"]
                    if kind == "message":
                        channel, data = message["channel"].decode(), message["data"].decode()
                        self._events.put_nowait(Event(channel, data))
                    elif kind == "subscribe":
                        confirmed = self._confirmed.get(message["channel"].decode())
                        if confirmed is not None:
                            confirmed.set()
            except (RedisConnectionError, RedisTimeoutError, OSError) as error:
                self._pubsub = None
                log.warning("pub/sub: Redis connection lost (%s); reconnecting", error)
                await _backoff(attempt)
                attempt += 1
            finally:
                with suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                    await client.aclose()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        if self._pubsub is None:
            return  # the reader subscribes on reconnect; subscribers then hear EventsMissed
        confirmed = self._confirmed[channel] = asyncio.Event()
        try:
            with suppress(RedisConnectionError, OSError):
                await self._pubsub.subscribe(channel)
                # Bounded: should the connection drop now, EventsMissed follows its return.
                await asyncio.wait_for(confirmed.wait(), HEALTH_CHECK_SECONDS)
        except TimeoutError:
            log.warning("pub/sub: Redis did not confirm SUBSCRIBE %s in time", channel)
        finally:
            if self._confirmed.get(channel) is confirmed:
                del self._confirmed[channel]

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        if self._pubsub is not None:
            with suppress(RedisConnectionError, OSError):
                await self._pubsub.unsubscribe(channel)

    async def publish(self, channel: str, message: Any) -> None:
        await self._publisher.publish(channel, message)

    async def next_published(self) -> Event:
        return await self._events.get()


def backend_for(url: str, database_url: Callable[[], str]) -> BroadcastBackend:
    """BROADCAST_URL's backend; a bare postgresql:// means the service's own database."""
    scheme = urlparse(url).scheme
    if scheme == "memory":
        return MemoryBackend(url)
    if scheme in ("postgres", "postgresql"):
        return PostgresBackend(
            database_url() if url.rstrip("/") in ("postgresql:", "postgres:") else url
        )
    if scheme in ("redis", "rediss"):
        return RedisBackend(url)
    raise ValueError(
        f"BROADCAST_URL: no pub/sub backend for {scheme}:// (memory, postgresql, redis)"
    )
