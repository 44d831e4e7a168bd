"""Real `booking-api serve` processes for the tests that need them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import httpx
import uvicorn

from tests.helpers import (
    CREATE_SCHEDULE,
    CREATE_SERVICE,
    CREATE_TUTOR,
    TEST_DATA_KEY,
    TEST_RATE,
    TEST_SECRET,
    create_database,
    direct_of,
    drop_database,
    server_admin_url,
    token,
    weekly,
)

BIN = Path(sys.executable).parent / "booking-api"
PIDS: dict[int, int] = {}  # port -> pid of the server started on it


def service_up(name: str, port: int) -> bool:
    """Whether a local service answers; in CI (where .ci/run starts them) a missing one is a
    failure, elsewhere a skip."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            return True
    if os.environ.get("CI"):
        raise AssertionError(f"{name} is not running on 127.0.0.1:{port}")
    return False


def serve_in_thread(app: Any, port: int) -> uvicorn.Server:
    """An ASGI app (a fake of a remote API) on a loopback port, in a thread of its own."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server on {port} did not start")
        time.sleep(0.02)
    return server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


OURS = (
    "DATABASE_URL",
    "DATABASE_DIRECT_URL",
    "AUTH_JWT_SECRET",
    "DATA_ENCRYPTION_KEY",
    "RATE_LIMIT_STORAGE_URL",
)


def base_env(**changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in OURS}
    env.update(RATE_LIMIT_ANONYMOUS=TEST_RATE, RATE_LIMIT_AUTHENTICATED=TEST_RATE, **changes)
    return env


def production_env(database_url: str, **changes: str) -> dict[str, str]:
    """A server on `database_url` with the fixed secrets production requires (and the same
    database past PgBouncer, when the suite runs through it)."""
    direct = direct_of(database_url)
    if direct is not None:
        changes = {"DATABASE_DIRECT_URL": direct, **changes}
    return base_env(
        DATABASE_URL=database_url,
        AUTH_JWT_SECRET=TEST_SECRET,
        DATA_ENCRYPTION_KEY=TEST_DATA_KEY,
        **changes,
    )


def wait_healthy(port: int, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server on {port} exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"server on {port} did not become healthy")


def start(
    env: dict[str, str], port: int, output: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    """A server; with `output`, its stdout and stderr go there, and it logs at INFO."""
    process = subprocess.Popen(
        [str(BIN), "serve", "--port", str(port)],
        env={**env, "LOG_LEVEL": "INFO" if output else "WARNING"},
        stdout=output or subprocess.DEVNULL,
        stderr=subprocess.STDOUT if output else None,
    )
    PIDS[port] = process.pid
    return process


def start_worker(env: dict[str, str], threads: int = 4) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(BIN), "worker", "--threads", str(threads)],
        env={**env, "LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
    )


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def servers(
    env: dict[str, str], count: int = 2, output: IO[bytes] | None = None
) -> Iterator[list[int]]:
    """`count` servers started at the same moment; their ports once all are healthy."""
    ports = [free_port() for _ in range(count)]
    processes = [start(env, port, output) for port in ports]
    try:
        for port, process in zip(ports, processes, strict=True):
            wait_healthy(port, process)
        yield ports
    finally:
        stop(processes)


@contextmanager
def servers_on_a_new_database(prefix: str) -> Iterator[list[int]]:
    """Two servers on one fresh database of the suite's PostgreSQL (embedded or not)."""
    admin = server_admin_url()
    url = create_database(admin, prefix=prefix)
    try:
        with servers(production_env(url)) as started:
            yield started
    finally:
        drop_database(admin, url)


async def call(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], who: str | None
) -> Any:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {who}"} if who else {},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


async def tutor_with_service(client: httpx.AsyncClient, sub: str, capacity: int) -> tuple[str, str]:
    who = token(sub)
    tutor = (await call(client, CREATE_TUTOR, {"name": sub, "tz": "UTC"}, who))[
        "createTutorProfile"
    ]
    await call(
        client,
        CREATE_SCHEDULE,
        {"input": {"name": "H", "timeZone": "UTC", "rules": weekly("00:00", "00:00")}},
        who,
    )
    input = {"title": "Group", "durations": [{"minutes": 60}], "capacity": capacity}
    service = (await call(client, CREATE_SERVICE, {"input": input}, who))["createService"]
    return tutor["tutor"]["id"], service["service"]["id"]
