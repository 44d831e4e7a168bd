"""What `booking-api worker` runs, and the in-process variant `serve` runs without a broker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from typing import Any

from infra.db import Database, direct_url, service_database
from infra.pubsub import Hub, backend_for
from infra.settings import Settings
from models.base import Clock
from workers.broker import broker_for, outbox_actor, sender
from workers.jobs import Runner
from workers.relay import LocalExecutor, Relay

log = logging.getLogger("booking_api.worker")


async def _publishing(settings: Settings, url: str, pool_size: int) -> tuple[Database, Hub]:
    """A database whose committed changes reach live subscribers (a hold sweep's RELEASED)."""
    hub = Hub(backend_for(settings.broadcast_url, lambda: direct_url(settings, url)))
    await hub.connect()
    return service_database(settings, url, pool_size, publish=hub.publish_all), hub


@contextlib.asynccontextmanager
async def in_process(settings: Settings, db: Database, clock: Clock) -> AsyncIterator[None]:
    """The relay and the jobs on this event loop (the default run, with no broker)."""
    executor = LocalExecutor(Runner(settings, db, clock))
    relay = Relay(db, settings, executor.hand_off, clock)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        yield
    finally:
        stop.set()
        await task
        await executor.drain(settings.shutdown_grace_seconds)


async def run_worker(settings: Settings, url: str, threads: int, clock: Clock) -> None:
    """Until SIGTERM or SIGINT: the relay, plus Dramatiq's worker threads (or the in-process
    executor when no BROKER_URL is set)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    worker: Any = None
    executor: LocalExecutor | None = None
    hub: Hub | None = None
    if settings.broker_url is not None:
        import dramatiq

        db = service_database(settings, url, pool_size=2)  # the relay's; jobs have their own
        broker = broker_for(settings.broker_url)

        async def make_runner() -> Runner:
            return Runner(settings, (await _publishing(settings, url, threads))[0], clock)

        actor = outbox_actor(broker, make_runner)
        worker = dramatiq.Worker(broker, worker_threads=threads)
        worker.start()
        relay = Relay(db, settings, sender(actor), clock)
        log.info("worker: relay and %d Dramatiq threads on %s", threads, broker.__class__.__name__)
    else:
        db, hub = await _publishing(settings, url, pool_size=threads)
        executor = LocalExecutor(Runner(settings, db, clock), concurrency=threads)
        relay = Relay(db, settings, executor.hand_off, clock)
        log.info("worker: relay and in-process jobs (no BROKER_URL)")
    try:
        await relay.run(stop)
    finally:  # SIGTERM: no new jobs; those running get the grace period to finish
        grace = settings.shutdown_grace_seconds
        if worker is not None:
            await asyncio.to_thread(worker.stop, timeout=grace * 1000)
        if executor is not None:
            await executor.drain(grace)
        if hub is not None:
            await hub.disconnect()
        await db.engine.dispose()
