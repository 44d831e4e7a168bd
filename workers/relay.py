"""The relay: hands due outbox rows to whoever runs jobs, and schedules the periodic ones.

It runs in every `booking-api worker` (and in `serve` when no broker is configured); several
at once share the table safely (SKIP LOCKED, unique run keys).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from domain import outbox
from domain.outbox import Job
from infra.db import OUTBOX_CHANNEL, Database
from infra.settings import Settings
from models.base import Clock
from workers.jobs import Runner, periodic

log = logging.getLogger("booking_api.relay")

HandOff = Callable[[list[uuid.UUID]], Awaitable[None]]


def period_start(now: datetime, seconds: int) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


class Relay:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        hand_off: HandOff,
        clock: Clock,
    ) -> None:
        self.db = db
        self.settings = settings
        self.hand_off = hand_off
        self.clock = clock
        # The last period this relay scheduled, per job: ticks within it add nothing.
        self.scheduled: dict[Job, datetime] = {}

    async def schedule(self, now: datetime) -> None:
        """Each periodic job once per period, whichever relay gets there first."""
        starts = {job: period_start(now, seconds) for job, seconds in periodic(self.settings.jobs)}
        new = {job: start for job, start in starts.items() if self.scheduled.get(job) != start}
        if not new:
            return
        async with self.db.transaction() as session:
            for job, start in new.items():
                await outbox.add_once(session, job, f"{job.kind}:{start.isoformat()}", {}, now)
        self.scheduled.update(new)

    async def tick(self) -> int:
        now = self.clock()
        await self.schedule(now)
        lease = timedelta(seconds=self.settings.jobs.lease_seconds)
        async with self.db.transaction() as session:
            ids = await outbox.hand_off_due(session, now, lease)
            if ids:
                # Inside the transaction: if the hand-off fails, the rows stay un-handed.
                await self.hand_off(ids)
        return len(ids)

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop`: at once when a commit announces new work (LISTEN), and every
        poll interval regardless (due reminders, lapsed leases, a lost listener)."""
        wake = asyncio.Event()
        listener = await self._listen(wake)
        try:
            while not stop.is_set():
                wake.clear()
                try:
                    handed = await self.tick()
                except Exception:  # the database or broker is away: try again next tick
                    log.exception("relay tick failed")
                    handed = 0
                if handed == 0:
                    await _first(stop, wake, self.settings.jobs.poll_seconds)
        finally:
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.close()

    async def _listen(self, wake: asyncio.Event) -> Any:
        try:
            listener = await asyncpg.connect(self.db.plain_url)
            await listener.add_listener(OUTBOX_CHANNEL, lambda *_: wake.set())
        except (OSError, asyncpg.PostgresError):
            log.warning(
                "relay: no LISTEN connection; polling every %ss", self.settings.jobs.poll_seconds
            )
            return None
        return listener


async def _first(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    """Wait until either event is set, or `seconds` pass."""
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()


class LocalExecutor:
    """Without a broker: jobs run as tasks in this process, a few at a time. The outbox row is
    the durable record, so a restart loses nothing (the relay hands unfinished rows over again
    once their lease runs out)."""

    def __init__(self, runner: Runner, concurrency: int = 8) -> None:
        self.runner = runner
        self.slots = asyncio.Semaphore(concurrency)
        self.tasks: set[asyncio.Task[str]] = set()

    async def hand_off(self, ids: list[uuid.UUID]) -> None:
        for job_id in ids:
            task = asyncio.create_task(self._run(job_id))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _run(self, job_id: uuid.UUID) -> str:
        async with self.slots:
            return await self.runner.run(job_id)

    async def drain(self, grace: float | None = None) -> None:
        """Wait for the jobs running (at most `grace` seconds), then cancel any left: their rows
        are handed over again once their lease runs out."""
        try:
            async with asyncio.timeout(grace):
                while self.tasks:
                    await asyncio.gather(*list(self.tasks), return_exceptions=True)
        except TimeoutError:
            log.warning("%d job(s) still running after %ss: cancelled", len(self.tasks), grace)
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
