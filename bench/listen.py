"""Listening on the broker itself (PostgreSQL LISTEN or Redis SUBSCRIBE), for the benchmarks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

import asyncpg
from redis import asyncio as aioredis


@asynccontextmanager
async def listen(broker: str, channel: str, heard: Callable[[str], None]) -> AsyncIterator[None]:
    """Calls `heard` with each message published on `channel` while inside."""
    if not broker.startswith("redis"):
        connection = await asyncpg.connect(broker)
        await connection.add_listener(channel, lambda *args: heard(args[3]))
        try:
            yield
        finally:
            await connection.close()
        return
    client = aioredis.Redis.from_url(broker)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)

    async def read() -> None:
        while True:
            message = await pubsub.get_message(timeout=1.0)
            if message is not None:
                heard(message["data"].decode())

    reader = asyncio.create_task(read())
    try:
        yield
    finally:
        reader.cancel()
        with suppress(asyncio.CancelledError):
            await reader
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()
