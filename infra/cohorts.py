"""Cohorts: subscribers who would be sent the same bytes share one execution per event.

The way Hasura multiplexes live queries. A cohort is keyed by what decides the bytes (the
caller, resolvers/live.py, builds the key: document, variables and the viewer's visibility
class); its leader runs the subscription once and hands each result, serialized once, to
every member. Each member has its own bounded queue (infra.pubsub's, QUEUE_SIZE frames): a
member that falls behind is cut off with SubscriberTooSlow, as a subscriber of the hub is,
and never delays the others. The hub's EventsMissed ends the leader's stream: its error
reaches every member. The cohort ends when its leader's stream ends (its members then
end too) or when its last member leaves (the leader is stopped).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Hashable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from infra.pubsub import QUEUE_SIZE, Bounded, Feed, offer

log = logging.getLogger("booking_api.cohorts")

END = ""  # after a cohort's last frame; a frame is never empty
Lead = Callable[["Cohort"], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Seat:
    """A websocket operation that may join a cohort: what it asked, as sent, and how a frame (a
    `next` message's payload, serialized) reaches its socket. Set by the app for the
    operation's task (SEAT); a subscription run without one executes for itself."""

    operation_name: str | None
    variables: dict[str, Any] | None
    encode: Callable[[object], str]
    send: Callable[[str], Awaitable[None]]


SEAT: ContextVar[Seat | None] = ContextVar("seat", default=None)


class Cohort:
    def __init__(self, cohorts: Cohorts, key: Hashable) -> None:
        self._cohorts = cohorts
        self._key = key
        self._members: set[Bounded[str]] = set()
        self._leader: asyncio.Task[None] | None = None

    def deliver(self, frame: str) -> None:
        """A frame for every member, without waiting for any: one that is full is cut off."""
        for queue in list(self._members):
            if not offer(queue, frame):
                self._leave(queue)

    def close(self) -> None:
        """No one joins it from now on (its end is near): a new subscriber starts a new one."""
        self._cohorts._forget(self._key, self)

    def _start(self, lead: Lead) -> None:
        self._leader = asyncio.create_task(lead(self))
        self._leader.add_done_callback(self._ended)

    def _ended(self, leader: asyncio.Task[None]) -> None:
        self._cohorts._forget(self._key, self)
        if not leader.cancelled() and (error := leader.exception()) is not None:
            log.error("a cohort's leader failed", exc_info=error)
        self.deliver(END)

    def _leave(self, queue: Bounded[str]) -> None:
        self._members.discard(queue)
        if not self._members and self._leader is not None:
            self._cohorts._forget(self._key, self)
            self._leader.cancel()


class Cohorts:
    """This process's cohorts, by key."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._cohorts: dict[Hashable, Cohort] = {}

    def __len__(self) -> int:
        return len(self._cohorts)

    @asynccontextmanager
    async def join(self, key: Hashable, lead: Lead) -> AsyncIterator[Feed[str]]:
        """The frames of the cohort with this key, from now on, until END; `lead` starts the
        cohort when there is none yet (it runs in a task of its own, outliving this member)."""
        queue: Bounded[str] = Bounded(maxsize=self.queue_size)
        cohort = self._cohorts.get(key)
        if cohort is None:
            cohort = self._cohorts[key] = Cohort(self, key)
            cohort._members.add(queue)
            cohort._start(lead)
        else:
            cohort._members.add(queue)
        try:
            yield Feed(queue)
        finally:
            cohort._leave(queue)

    def _forget(self, key: Hashable, cohort: Cohort) -> None:
        if self._cohorts.get(key) is cohort:
            del self._cohorts[key]
