"""/readyz names what is not ready; on SIGTERM a real `serve` process stops accepting, closes
websockets with 1012, finishes the request in flight (held there by a table lock) and exits 0."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import replace

import asyncpg
import httpx
import pytest
import websockets
from alembic.script import ScriptDirectory

from booking_api.app import build_app
from booking_api.health import code_heads
from booking_api.migrate import alembic_config, upgrade
from infra.db import Database, create_engine, service_database
from infra.settings import Settings
from schema.node import encode_id
from tests.helpers import create_database, direct_of, drop_database, server_admin_url
from tests.live_client import Live
from tests.processes import free_port, production_env, start, wait_healthy

TUTOR = "query($id: ID!) { tutor(id: $id) { displayName } }"


async def readyz(settings: Settings, db: Database) -> httpx.Response:
    transport = httpx.ASGITransport(app=build_app(settings, db))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/readyz")


async def test_ready_when_the_database_migrations_and_pubsub_answer(
    settings: Settings, db: Database
) -> None:
    response = await readyz(settings, db)
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "status": "ready",
        "failing": [],
        "database": "ok",
        "migrations": "ok",
        "pubsub": "ok",
    }


async def test_not_ready_when_the_database_does_not_answer(settings: Settings) -> None:
    down = Database(create_engine("postgresql://nobody@127.0.0.1:1/none", pool_size=1))
    try:
        response = await readyz(replace(settings, broadcast_url="memory://"), down)
    finally:
        await down.engine.dispose()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["failing"] == ["database", "migrations"]
    assert body["database"] != "ok"


async def test_not_ready_when_the_broker_or_pubsub_does_not_answer(
    settings: Settings, db: Database
) -> None:
    nothing = free_port()  # nobody listens there
    broken = replace(
        settings,
        broker_url=f"amqp://guest:guest@127.0.0.1:{nothing}/",
        broadcast_url=f"redis://127.0.0.1:{nothing}/0",
    )
    response = await readyz(broken, db)
    assert response.status_code == 503
    assert response.json()["failing"] == ["broker", "pubsub"]
    assert response.json()["database"] == "ok"


@pytest.fixture
def one_migration_behind() -> Iterator[str]:
    """A database migrated to the revision before the code's head."""
    admin = server_admin_url()
    url = create_database(admin, prefix="booking_behind")
    [head] = code_heads()
    revision = ScriptDirectory.from_config(alembic_config(url)).get_revision(head)
    assert revision is not None
    try:
        upgrade(direct_of(url) or url, str(revision.down_revision))
        yield url
    finally:
        drop_database(admin, url)


async def test_not_ready_when_a_migration_is_missing(
    settings: Settings, one_migration_behind: str
) -> None:
    behind = replace(
        settings,
        database_url=one_migration_behind,
        database_direct_url=direct_of(one_migration_behind),
    )
    db = service_database(behind, one_migration_behind, pool_size=1)
    try:
        response = await readyz(behind, db)
    finally:
        await db.engine.dispose()
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["migrations"]
    [head] = code_heads()
    assert head in body["migrations"] and "booking-api migrate" in body["migrations"]


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


async def until_waiting_on_a_lock(blocker: asyncpg.Connection) -> None:
    for _ in range(300):
        waiting = await blocker.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()"
        )
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the request never reached the lock")


async def stop_with_a_request_in_flight(
    port: int, process: subprocess.Popen[bytes], lock_url: str
) -> httpx.Response:
    blocker = await asyncpg.connect(lock_url)
    try:
        async with Live.connect(port) as live, httpx.AsyncClient(timeout=30) as client:
            hold = blocker.transaction()
            await hold.start()
            await blocker.execute("LOCK TABLE tutors IN ACCESS EXCLUSIVE MODE")
            variables = {"id": encode_id("Tutor", uuid.uuid4())}
            in_flight = asyncio.create_task(
                client.post(
                    f"http://127.0.0.1:{port}/graphql",
                    json={"query": TUTOR, "variables": variables},
                )
            )
            await until_waiting_on_a_lock(blocker)
            process.send_signal(signal.SIGTERM)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await live.message(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
            assert await asyncio.to_thread(refused, port)  # no new connections
            assert not in_flight.done() and process.poll() is None
            await hold.rollback()  # the request goes on
            return await in_flight
    finally:
        await blocker.close()


def test_sigterm_finishes_the_request_in_flight_closes_websockets_with_1012_and_exits_0(
    database_url: str, session_url: str
) -> None:
    port = free_port()
    process = start(production_env(database_url, SHUTDOWN_GRACE_SECONDS="30"), port)
    try:
        wait_healthy(port, process)
        response = asyncio.run(stop_with_a_request_in_flight(port, process, session_url))
        assert response.status_code == 200
        assert response.json() == {"data": {"tutor": None}}
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
