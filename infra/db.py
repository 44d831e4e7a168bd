"""Where the database is, and the async engine and sessions that reach it."""

from __future__ import annotations

import asyncio
import logging
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, TypeVar

from sqlalchemy import func, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from infra.settings import Settings
from models import OutboxJob

log = logging.getLogger("booking_api.db")

# Held while migrating (migrations/env.py), so processes that start together apply each
# revision once.
MIGRATION_LOCK_KEY = 0x626F6F6B  # "book"

V = TypeVar("V")

Messages = list[tuple[str, str]]
Publish = Callable[[Messages], Awaitable[None]]
# NOTIFY is transactional: relays listening here hear of new work the moment it commits.
OUTBOX_CHANNEL = "booking_outbox"
# Live updates are published as their change commits, and kept as an outbox row of this kind
# (handled in domain/events.py) that is marked done once they are. Should the process die, or
# the broker be away, in between, the relay publishes them from the row after LIVE_GRACE: a
# change committed is never lost to the subscribers of other processes.
LIVE_UPDATES = "live_updates"
LIVE_GRACE = timedelta(seconds=10)
# True while a GraphQL query runs (booking_api.read_only): queries never write, so a unit of work
# opened then is a bug, refused rather than committed.
READ_ONLY: ContextVar[bool] = ContextVar("read_only", default=False)
# lock_not_available (lock_timeout), query_canceled (statement_timeout): the server stopped a
# statement of a write transaction for the operation's budget, and rolled it back.
STOPPED_BY_SERVER: Final = frozenset({"55P03", "57014"})


@dataclass(frozen=True)
class Budget:
    """The time an operation has: the app's running asyncio timeout (`async with
    asyncio.timeout(...) as timeout`) and when the budget ends, in loop time."""

    timeout: asyncio.Timeout
    ends: float


# Set by the app around each query and mutation (booking_api.api): write transactions hand what
# is left of it to the database (Database.transaction).
BUDGET: ContextVar[Budget | None] = ContextVar("budget", default=None)


class OutOfTime(TimeoutError):
    """A write transaction was to start after its operation's budget ran out: nothing written."""


def out_of_time(error: BaseException | None) -> bool:
    """Whether `error` is the budget's: OutOfTime, or the server's lock/statement timeout."""
    if isinstance(error, OutOfTime):
        return True
    return isinstance(error, DBAPIError) and (
        getattr(error.orig, "sqlstate", None) in STOPPED_BY_SERVER
    )


class WriteInQuery(RuntimeError):
    """A query tried to open a unit of work."""


class Missing(RuntimeError):
    """Something the stored data's own rules guarantee is not there: a bug, not the caller's."""


def present(value: V | None, what: str) -> V:
    """`value`, which the data guarantees (a foreign key, a row locked a moment ago): checked
    with an explicit raise, since `python -O` removes asserts."""
    if value is None:
        raise Missing(f"{what} is missing")
    return value


def start_embedded(data_dir: Path) -> str:
    """Start (or join) the private PostgreSQL kept in `data_dir/pg`; returns its URL.

    pgserver shares one server among every process that asks for the same folder and stops it
    when the last of them exits.
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver then uses /tmp, which is fine.
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import get_server

    # pgserver checks for the folder and then makes it with exist_ok=False, so two processes
    # started together on a new data folder raced there (CI, stop 24); it locks everything after.
    (data_dir / "pg").mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir / "pg", cleanup_mode="stop")
    return str(server.get_uri())


def server_url(settings: Settings) -> str:
    """The plain postgresql:// URL to use: DATABASE_URL, or the embedded server."""
    if settings.database_url is not None:
        return settings.database_url
    return start_embedded(settings.data_dir)


def direct_url(settings: Settings, url: str) -> str:
    """Where connections that need a session of their own go (LISTEN, migrations under their
    lock): DATABASE_DIRECT_URL past the pooler when set, else `url` (server_url's)."""
    return settings.database_direct_url or url


def sqlalchemy_url(url: str) -> str:
    """SQLAlchemy wants its driver named; asyncpg and broadcaster want the plain URL."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def _statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4()}__"


# Behind a transaction-mode pooler (PgBouncer before 1.21 keeps no prepared statements across
# transactions): no statement cache in asyncpg nor in SQLAlchemy's dialect, and names no other
# client's statement on the same server connection can share (SQLAlchemy's asyncpg docs, "Prepared
# Statement Name with PGBouncer"). Each statement is then prepared inside its own transaction.
POOLER_ARGS: Final = {
    "statement_cache_size": 0,
    "prepared_statement_cache_size": 0,
    "prepared_statement_name_func": _statement_name,
}


def create_engine(url: str, pool_size: int = 10, pooler: bool = False) -> AsyncEngine:
    """An engine on `url`; `pooler`: the URL is a transaction-mode pooler's (POOLER_ARGS)."""
    return create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args=dict(POOLER_ARGS) if pooler else {},
    )


class UnitOfWork(AsyncSession):
    """The session of one `Database.transaction()`: its rows, and what to do once they are
    committed (nothing of it when they are rolled back)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.messages: Messages = []
        self.messages_at: datetime | None = None  # the change's `now`, for their outbox row
        self.wakes_relay = False

    def publish_after_commit(self, channel: str, message: str, now: datetime) -> None:
        """A live update, told to subscribers only once the change it announces has committed."""
        self.messages.append((channel, message))
        self.messages_at = now

    def wake_relay_on_commit(self) -> None:
        """Outbox rows were written: relays hear of them the moment they commit."""
        self.wakes_relay = True


class Database:
    """The engine plus session factories; services open one short session per unit of work.

    `publish` sends committed live updates to subscribers (the app's pub/sub hub); None: this
    process publishes nothing (the CLI, tests that do not listen)."""

    def __init__(
        self, engine: AsyncEngine, publish: Publish | None = None, direct_url: str | None = None
    ) -> None:
        self.engine = engine
        self.publish: Final = publish  # never reassigned: a Database is built complete
        self.direct_url: Final = direct_url
        self.sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
        self.units = async_sessionmaker(engine, class_=UnitOfWork, expire_on_commit=False)

    @property
    def plain_url(self) -> str:
        """The URL for a raw asyncpg connection that keeps a session (LISTEN): `direct_url` past
        a transaction-mode pooler, else the engine's."""
        if self.direct_url is not None:
            return self.direct_url
        return self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A read session: nothing it does is committed."""
        async with self.sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[UnitOfWork]:
        """A unit of work: committed when the block ends, rolled back if it raises.

        The live updates it queued (`publish_after_commit`) are published only after the
        commit, so a rolled-back change tells nobody anything."""
        if READ_ONLY.get():
            raise WriteInQuery("A query may not write: only mutations open a unit of work")
        async with self.units() as unit, unit.begin():
            await _bound_by_server(unit)
            yield unit
            kept = self._keep(unit)
            if unit.wakes_relay:  # NOTIFY is transactional: heard once this commits
                await unit.exec(select(func.pg_notify(OUTBOX_CHANNEL, "")))
        if kept is not None and self.publish is not None:
            try:
                await self.publish(unit.messages)
            except Exception:  # the relay publishes them from their row after LIVE_GRACE
                log.exception("could not publish %d live update(s)", len(unit.messages))
                return
            await self._published(kept)

    def _keep(self, unit: UnitOfWork) -> OutboxJob | None:
        """The unit's live updates as an outbox row in its transaction (when this process
        publishes any)."""
        if not unit.messages or unit.messages_at is None or self.publish is None:
            return None
        row = OutboxJob(
            kind=LIVE_UPDATES,
            payload={"messages": unit.messages},
            due_at=unit.messages_at + LIVE_GRACE,
            created_at=unit.messages_at,
        )
        unit.add(row)
        return row

    async def _published(self, row: OutboxJob) -> None:
        """The row's updates went out: done, so the relay does not send them again. Should
        this fail, they go twice, which subscribers take (an event carries the whole state)."""
        try:
            async with self.engine.begin() as connection:
                await connection.execute(
                    update(OutboxJob)
                    .where(col(OutboxJob.id) == row.id)
                    .values(done_at=row.created_at)
                )
        except Exception:
            log.warning("could not mark live update %s sent; it will go again", row.id)


async def _bound_by_server(unit: UnitOfWork) -> None:
    """Within an operation's budget, the transaction's time limit moves from asyncio to the
    server: a cancellation could land after the commit (the client told a write failed that
    stood), a server timeout rolls the transaction back. Set for what is left now; the asyncio
    deadline is then off for the rest of the operation, whose later transactions do the same."""
    budget = BUDGET.get()
    if budget is None:
        return
    left = budget.ends - asyncio.get_running_loop().time()
    if left <= 0 or budget.timeout.expired():
        raise OutOfTime("the operation's time budget ran out before its transaction")
    ms = str(max(1, int(left * 1000)))
    # One statement, transaction-scoped: fine behind a transaction-mode pooler.
    await unit.exec(
        select(
            func.set_config("lock_timeout", ms, True),
            func.set_config("statement_timeout", ms, True),
        )
    )
    # Still asyncio's until here: a cancellation during the SET wrote nothing.
    if budget.timeout.expired():  # fired as the SET returned: its cancellation is on its way
        raise OutOfTime("the operation's time budget ran out as its transaction began")
    budget.timeout.reschedule(None)


def service_database(
    settings: Settings, url: str, pool_size: int, publish: Publish | None = None
) -> Database:
    """The service's Database on server_url's `url`; with DATABASE_DIRECT_URL set, `url` is a
    transaction-mode pooler's and LISTEN goes to the direct one."""
    pooler = settings.database_direct_url is not None
    return Database(
        create_engine(url, pool_size, pooler=pooler), publish, settings.database_direct_url
    )
