"""What the commands do before their work: reach the database (one clear line when it does not
answer, not a driver's traceback), and tell a newcomer where things are."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from booking_api.graphiql import is_installed
from infra.db import server_url
from infra.settings import Settings

CONNECT_TIMEOUT_SECONDS = 5
MAX_BACKOFF_SECONDS = 5.0


def where(url: str) -> str:
    """host:port of a database URL (the socket folder for the embedded one), no secrets."""
    parsed = make_url(url)
    host = parsed.host or parsed.query.get("host") or "localhost"
    return f"{host}:{parsed.port or 5432}" if parsed.host else str(host)


async def _reachable(url: str) -> None:
    connection = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT_SECONDS)
    await connection.close()


def wait_for_database(url: str, seconds: float) -> None:
    """Retry a database that does not answer (it may be starting too) with backoff for up to
    `seconds`; then exit with one line. A refusal that waiting cannot fix (a wrong password, no
    such database) exits at once."""
    deadline = time.monotonic() + seconds
    delay = 0.5
    while True:
        try:
            asyncio.run(_reachable(url))
            return
        except (OSError, TimeoutError, asyncpg.CannotConnectNowError) as error:
            reason = str(error) or type(error).__name__
            left = deadline - time.monotonic()
            if left <= 0:
                sys.exit(
                    f"booking-api: the database at {where(url)} does not answer ({reason}); "
                    f"gave up after {seconds:g} s (DB_WAIT_SECONDS): check DATABASE_URL"
                )
            delay = min(delay, left)
            print(
                f"booking-api: the database at {where(url)} does not answer ({reason}); "
                f"retrying in {delay:.1f} s",
                file=sys.stderr,
            )
            time.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            sys.exit(f"booking-api: the database at {where(url)} refused us: {error}")


def database(settings: Settings) -> str:
    """The database's URL once it answers: DATABASE_URL's, or the embedded one (started)."""
    url = server_url(settings)
    wait_for_database(url, settings.db_wait_seconds)
    if settings.database_direct_url is not None:  # migrations and LISTEN go there
        wait_for_database(settings.database_direct_url, settings.db_wait_seconds)
    return url


def recorded_url_file(data_dir: Path) -> Path:
    return data_dir / "serve-url"


def announce(settings: Settings, host: str, port: int) -> None:
    """Where GraphiQL is and which database is used; the URL is kept for `seed-demo`."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{port}"
    if settings.database_url is None:
        print(f"booking-api: embedded PostgreSQL started in {settings.data_dir / 'pg'}")
    else:
        print(f"booking-api: database at {where(settings.database_url)}")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    recorded_url_file(settings.data_dir).write_text(url + "\n")
    offline = (
        "its files served from here"
        if is_installed(settings.data_dir)
        else "from unpkg.com; `booking-api graphiql install` serves it offline"
    )
    print(f"booking-api: GraphiQL at {url}/graphql ({offline})")


def public_url(settings: Settings, explicit: bool) -> str:
    """Where a client reaches the service: PUBLIC_BASE_URL when set, else where `serve` last
    listened on this data folder, else the default."""
    recorded = recorded_url_file(settings.data_dir)
    if not explicit and recorded.is_file():
        return recorded.read_text().strip()
    return settings.public_base_url
