"""Dramatiq: the broker BROKER_URL names, and the one actor, which runs an outbox job by id."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import dramatiq
from dramatiq.middleware import AsyncIO

from workers.jobs import Runner

QUEUE = "booking_outbox"  # named for us: brokers are often shared


def broker_for(url: str) -> Any:
    if url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker: Any = RabbitmqBroker(url=url)
    else:
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=url)  # type: ignore[no-untyped-call]
    broker.add_middleware(AsyncIO())
    return broker


def outbox_actor(broker: Any, make_runner: Callable[[], Awaitable[Runner]]) -> Any:
    """The actor takes an id only. Retries are the outbox's (durable, with backoff), not
    Dramatiq's: a failed attempt is recorded on the row and handed over again when due."""
    made: list[asyncio.Future[Runner]] = []

    async def run_outbox_job(job_id: str) -> None:
        # Made once, on first use, on the AsyncIO middleware's event loop where its pool lives
        # (no await between the check and the append: concurrent first jobs share it).
        if not made:
            made.append(asyncio.ensure_future(make_runner()))
        runner = await made[0]
        await runner.run(uuid.UUID(job_id))

    decorate = dramatiq.actor(
        broker=broker, actor_name="run_outbox_job", queue_name=QUEUE, max_retries=0
    )
    return decorate(run_outbox_job)


def sender(actor: Any) -> Callable[[list[uuid.UUID]], Any]:
    """The relay's hand-off: `send` blocks on the broker's socket, so it runs in a thread."""

    async def send(ids: list[uuid.UUID]) -> None:
        def send_all() -> None:
            for job_id in ids:
                actor.send(str(job_id))

        await asyncio.to_thread(send_all)

    return send
