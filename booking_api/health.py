"""/healthz (the process answers and reaches its database) and /readyz (everything a request
may need is there: the database at the code's migration, the broker and pub/sub)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
from alembic.script import ScriptDirectory
from redis import asyncio as aioredis
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import migrations
from infra.db import Database
from infra.settings import Settings

CHECK_SECONDS = 2
# AMQP 0-9-1's protocol header: a broker answers it with a Connection.Start method frame (1).
AMQP_HEADER = b"AMQP\x00\x00\x09\x01"


def health(db: Database) -> Route:
    async def healthz(request: Request) -> JSONResponse:
        try:
            async with asyncio.timeout(CHECK_SECONDS):
                await _select_one(db)
        except Exception as error:
            return JSONResponse(
                {"status": "unavailable", "database": type(error).__name__}, status_code=503
            )
        return JSONResponse({"status": "ok", "database": "ok"})

    return Route("/healthz", healthz, methods=["GET"])


class Behind(Exception):
    """The database's migrations are not the code's."""


@functools.cache
def code_heads() -> frozenset[str]:
    """The migration revisions this code expects the database to be at."""
    return frozenset(ScriptDirectory(str(Path(migrations.__file__).parent)).get_heads())


async def _migrations(db: Database) -> None:
    async with db.engine.connect() as connection:
        rows = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
    at = frozenset(str(row[0]) for row in rows)
    if at != code_heads():
        raise Behind(
            f"database at {', '.join(sorted(at)) or 'none'}, code at "
            f"{', '.join(sorted(code_heads()))}: run booking-api migrate"
        )


async def _redis(url: str) -> None:
    client = aioredis.Redis.from_url(url, socket_connect_timeout=CHECK_SECONDS)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def _amqp(url: str) -> None:
    parsed = urlsplit(url)
    if parsed.scheme == "amqps":
        reader, writer = await asyncio.open_connection(
            parsed.hostname, parsed.port or 5671, ssl=True
        )
    else:
        reader, writer = await asyncio.open_connection(parsed.hostname, parsed.port or 5672)
    try:
        writer.write(AMQP_HEADER)
        if (await reader.readexactly(1)) != b"\x01":
            raise ConnectionError("not an AMQP 0-9-1 broker")
    finally:
        writer.close()


async def _postgres(url: str) -> None:
    connection = await asyncpg.connect(url, timeout=CHECK_SECONDS)
    await connection.close()


Check = Callable[[], Awaitable[None]]


def checks(settings: Settings, db: Database) -> dict[str, Check]:
    """What must answer, besides the database, for this process to take traffic, by name."""
    found: dict[str, Check] = {"migrations": partial(_migrations, db)}
    broker = settings.broker_url
    if broker is not None:
        found["broker"] = partial(_amqp if broker.startswith("amqp") else _redis, broker)
    pubsub = settings.broadcast_url
    if pubsub.startswith("redis"):
        found["pubsub"] = partial(_redis, pubsub)
    elif pubsub.startswith("postgres"):  # LISTEN's own connection: past any pooler
        bare = urlsplit(pubsub).netloc == ""
        found["pubsub"] = partial(_postgres, db.plain_url if bare else pubsub)
    return found


async def _outcome(check: Check) -> str:
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            await check()
    except TimeoutError:
        return f"no answer within {CHECK_SECONDS} s"
    except Behind as error:
        return str(error)
    except Exception as error:  # the name only: the message may show hosts to strangers
        return type(error).__name__
    return "ok"


async def _select_one(db: Database) -> None:
    async with db.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def readiness(settings: Settings, db: Database) -> Route:
    async def readyz(request: Request) -> JSONResponse:
        outcomes = {"database": await _outcome(partial(_select_one, db))}
        named = checks(settings, db)
        if outcomes["database"] != "ok":  # nothing to read the migrations from
            del named["migrations"]
            outcomes["migrations"] = "unknown: the database does not answer"
        answers = await asyncio.gather(*map(_outcome, named.values()))
        outcomes.update(zip(named, answers, strict=True))
        failing = sorted(name for name, outcome in outcomes.items() if outcome != "ok")
        body = {"status": "not ready" if failing else "ready", "failing": failing, **outcomes}
        return JSONResponse(body, status_code=503 if failing else 200)

    return Route("/readyz", readyz, methods=["GET"])
