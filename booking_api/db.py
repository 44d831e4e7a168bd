"""Where the database is, and the async engine and sessions that reach it."""

from __future__ import annotations

import logging
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path

from sqlalchemy import func
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from booking_api.settings import Settings

log = logging.getLogger("booking_api.db")

Messages = list[tuple[str, str]]
PUBLISHED = "published"  # session.info key: messages to publish once the transaction commits
WAKE_RELAY = "wake_relay"  # session.info key: outbox rows were written
# NOTIFY is transactional: relays listening here hear of new work the moment it commits.
OUTBOX_CHANNEL = "booking_outbox"
# True while a GraphQL query runs (booking_api.read_only): queries never write, so a unit of work
# opened then is a bug, refused rather than committed.
READ_ONLY: ContextVar[bool] = ContextVar("read_only", default=False)


class WriteInQuery(RuntimeError):
    """A query tried to open a unit of work."""


def start_embedded(data_dir: Path) -> str:
    """Start (or join) the private PostgreSQL kept in `data_dir/pg`; returns its URL.

    pgserver shares one server among every process that asks for the same folder and stops it
    when the last of them exits.
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver then uses /tmp, which is fine.
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir / "pg", cleanup_mode="stop")
    return str(server.get_uri())


def server_url(settings: Settings) -> str:
    """The plain postgresql:// URL to use: DATABASE_URL, or the embedded server."""
    if settings.database_url is not None:
        return settings.database_url
    return start_embedded(settings.data_dir)


def sqlalchemy_url(url: str) -> str:
    """SQLAlchemy wants its driver named; asyncpg and broadcaster want the plain URL."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def create_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
    )


class Database:
    """The engine plus a session factory; services open one short session per unit of work."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
        # Live updates: set by the app once its pub/sub hub is connected.
        self.publish: Callable[[Messages], Awaitable[None]] | None = None

    @property
    def plain_url(self) -> str:
        """The URL for a raw asyncpg connection (LISTEN)."""
        return self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A read session: nothing it does is committed."""
        async with self.sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: committed when the block ends, rolled back if it raises.

        Messages the work queued (`queue_message`) are published only after the commit, so a
        rolled-back change tells nobody anything."""
        if READ_ONLY.get():
            raise WriteInQuery("A query may not write: only mutations open a unit of work")
        async with self.sessions() as session:
            async with session.begin():
                yield session
                if session.info.pop(WAKE_RELAY, False):
                    await session.exec(select(func.pg_notify(OUTBOX_CHANNEL, "")))
            messages: Messages = session.info.pop(PUBLISHED, [])
        if messages and self.publish is not None:
            try:
                await self.publish(messages)
            except Exception:  # at-most-once: the change stands; subscribers refetch
                log.exception("could not publish %d live update(s)", len(messages))


def queue_message(session: AsyncSession, channel: str, message: str) -> None:
    session.info.setdefault(PUBLISHED, []).append((channel, message))
