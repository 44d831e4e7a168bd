"""Through PgBouncer in transaction mode (the CI pass that sets DATABASE_DIRECT_URL): the pooled
engine's statements never rely on a server connection's prepared statements, where the default
engine's do and fail."""

from __future__ import annotations

import asyncio
import os

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from infra.db import create_engine

pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABASE_DIRECT_URL"), reason="runs through PgBouncer only (CI)"
)


async def failures(url: str, pooler: bool) -> int:
    """Transactions of two statements, 20 at a time, 10 times over; how many failed."""
    engine = create_engine(url, pool_size=10, pooler=pooler)
    failed = 0

    async def one(i: int) -> None:
        nonlocal failed
        try:
            async with engine.begin() as connection:
                await connection.execute(text("SELECT CAST(:i AS int) + 1"), {"i": i})
                await connection.execute(text("SELECT count(*) FROM alembic_version"))
        except DBAPIError:
            failed += 1

    try:
        for _ in range(10):
            await asyncio.gather(*(one(i) for i in range(20)))
    finally:
        await engine.dispose()
    return failed


async def test_the_pooled_engine_works_through_pgbouncer_where_the_default_one_fails(
    database_url: str,
) -> None:
    assert await failures(database_url, pooler=True) == 0
    assert await failures(database_url, pooler=False) > 0
