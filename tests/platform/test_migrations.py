"""Migrations build the database, agree with the models, and apply once under concurrency."""

from __future__ import annotations

import asyncio
import multiprocessing

import asyncpg
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import models  # noqa: F401
from booking_api.migrate import alembic_config, upgrade
from domain.ics import FEED_TOKEN
from infra.db import Database
from tests.helpers import create_database, drop_database, server_admin_url


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


async def test_models_and_migrations_agree(db: Database) -> None:
    async with db.engine.connect() as connection:
        diff = await connection.run_sync(_diff)
    assert diff == [], f"models and migrations differ; make a revision: {diff}"


async def _version(url: str) -> list[str]:
    connection = await asyncpg.connect(url)
    try:
        return [r[0] for r in await connection.fetch("SELECT version_num FROM alembic_version")]
    finally:
        await connection.close()


def test_concurrent_upgrades_apply_once() -> None:
    admin = server_admin_url()
    url = create_database(admin, prefix="booking_migrate")
    try:
        # Separate processes, as two servers starting at once would be; a race raises here.
        with multiprocessing.get_context("spawn").Pool(4) as pool:
            pool.map(upgrade, [url] * 4)
        head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
        assert asyncio.run(_version(url)) == [head]
    finally:
        drop_database(admin, url)


async def _tutor_without_a_feed_token(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "INSERT INTO tutors (id, user_id, display_name, time_zone, low_balance_threshold, "
            "created_at) VALUES (gen_random_uuid(), 'old', 'Old', 'UTC', 2, now())"
        )
    finally:
        await connection.close()


async def _feed_tokens(url: str) -> list[str]:
    connection = await asyncpg.connect(url)
    try:
        return [r[0] for r in await connection.fetch("SELECT calendar_feed_token FROM tutors")]
    finally:
        await connection.close()


def test_tutors_made_before_0008_get_a_feed_secret() -> None:
    admin = server_admin_url()
    url = create_database(admin, prefix="booking_migrate")
    try:
        upgrade(url, "0006")
        asyncio.run(_tutor_without_a_feed_token(url))
        upgrade(url)
        [token] = asyncio.run(_feed_tokens(url))
        assert FEED_TOKEN.fullmatch(token) and len(token) == 64
    finally:
        drop_database(admin, url)
