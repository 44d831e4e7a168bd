"""Running background work in a test: the real relay and runner, on a clock the test sets."""

from __future__ import annotations

from datetime import datetime

from booking_api.db import Database
from booking_api.settings import Settings
from tests.support import CLOCK
from workers.jobs import Runner
from workers.relay import LocalExecutor, Relay


class Background:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.now = CLOCK()
        self.runner = Runner(settings, db, clock=lambda: self.now)
        self.executor = LocalExecutor(self.runner)
        self.relay = Relay(db, settings, self.executor.hand_off, clock=lambda: self.now)

    async def run(self, at: datetime | None = None) -> int:
        """Everything due by `at` (default: now), until nothing is left; the number of jobs."""
        self.now = at if at is not None else CLOCK()
        total = 0
        while handed := await self.relay.tick():
            total += handed
            await self.executor.drain()
        return total
