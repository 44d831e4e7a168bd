"""Alembic environment: async engine, every model's metadata, and an advisory lock."""

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

import models  # noqa: F401  (registers every table on SQLModel.metadata)
from infra.db import MIGRATION_LOCK_KEY, direct_url, server_url, sqlalchemy_url
from infra.settings import Settings

config = context.config
target_metadata = SQLModel.metadata


def database_url() -> str:
    url = config.attributes.get("url")
    if url:
        return str(url)
    settings = Settings.from_env()
    return direct_url(settings, server_url(settings))


def run_migrations(connection: Connection) -> None:
    # A transaction-level lock: a second process waits here, then finds nothing pending.
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()


async def run_async_migrations() -> None:
    engine = create_async_engine(sqlalchemy_url(database_url()), poolclass=NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(run_migrations)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=sqlalchemy_url(database_url()), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(run_async_migrations())
