"""The real thing: `booking-api` processes on a fresh data folder, over HTTP and websockets."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.typing import Subprotocol

from booking_api.cli import main
from booking_api.clock import utcnow
from infra.db import Database, create_engine
from models import OutboxJob
from tests.helpers import WEEKDAYS
from tests.processes import BIN, base_env, free_port, production_env, servers, start, wait_healthy

COMMANDS = [
    "serve",
    "worker",
    "jobs",
    "migrate",
    "token",
    "export-schema",
    "seed-demo",
    "settle-refunds",
    "rotate-secrets",
]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_command_has_help(command: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"] if command else ["--help"])
    assert exited.value.code == 0
    assert "usage: booking-api" in capsys.readouterr().out


def embedded_env(data_dir: Path) -> dict[str, str]:
    return base_env(BOOKING_DATA_DIR=str(data_dir))


@pytest.fixture(scope="module")
def two_servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, str], list[int]]]:
    """Two `serve` processes started at the same moment on one new, empty data folder."""
    env = embedded_env(tmp_path_factory.mktemp("embedded") / "data")
    with servers(env) as ports:
        yield env, ports


def cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [str(BIN), *args], env=env, check=True, capture_output=True, text=True, timeout=120
    ).stdout


def post(port: int, query: str, token: str | None = None) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(
        f"http://127.0.0.1:{port}/graphql", json={"query": query}, headers=headers, timeout=10
    )
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


@pytest.mark.embedded
def test_two_servers_share_one_embedded_database(
    two_servers: tuple[dict[str, str], list[int]],
) -> None:
    env, (first, second) = two_servers
    token = cli(env, "token", "--sub", "ada", "--name", "Ada", "--email", "ada@example.com").strip()
    created = post(
        first,
        'mutation { createTutorProfile(input: {displayName: "Ada", timeZone: "Europe/London"}) '
        "{ ... on TutorProfileCreated { tutor { id } } } }",
        token,
    )
    tutor_id = created["data"]["createTutorProfile"]["tutor"]["id"]  # type: ignore[index]
    seen = post(
        second, f'{{ tutor(id: "{tutor_id}") {{ displayName }} viewer {{ userId }} }}', token
    )
    assert seen == {"data": {"tutor": {"displayName": "Ada"}, "viewer": {"userId": "ada"}}}

    forged = post(second, "{ viewer { userId } }", token[:-3] + "abc")
    assert forged["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"  # type: ignore[index]


@pytest.mark.embedded
def test_seed_demo_prints_tokens_that_work(
    two_servers: tuple[dict[str, str], list[int]],
) -> None:
    env, (first, _) = two_servers
    out = cli(env, "seed-demo")
    tokens = [line for line in out.splitlines() if line.count(".") == 2 and " " not in line]
    assert len(tokens) == 2, out
    query = (
        "{ viewer { userId tutor { displayName services { title } "
        "schedules { rules { weekday } } } } }"
    )
    viewer = post(first, query, tokens[0])
    tutor = {
        "displayName": "Ada Tutor",
        "services": [{"title": "Trial lesson"}],
        "schedules": [{"rules": [{"weekday": day} for day in WEEKDAYS[:5]]}],
    }
    assert viewer["data"] == {"viewer": {"userId": "demo-tutor", "tutor": tutor}}
    assert cli(env, "seed-demo").count("Tutor token") == 1  # runs again without failing


PROTOCOL = Subprotocol("graphql-transport-ws")


def init(authorization: str) -> str:
    return json.dumps({"type": "connection_init", "payload": {"Authorization": authorization}})


@pytest.mark.embedded
async def test_websocket_connection_init_takes_the_token(
    two_servers: tuple[dict[str, str], list[int]],
) -> None:
    env, (first, _) = two_servers
    token = cli(env, "token", "--sub", "ws-user").strip()
    url = f"ws://127.0.0.1:{first}/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        assert json.loads(await ws.recv())["type"] == "connection_ack"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer forged"}})
        )
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4403


@pytest.mark.embedded
def test_embedded_server_stops_with_its_last_process(tmp_path: Path) -> None:
    env = embedded_env(tmp_path / "data")
    port = free_port()
    process = start(env, port)
    wait_healthy(port, process)
    pid_file = tmp_path / "data" / "pg" / "postmaster.pid"
    assert pid_file.exists()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    deadline = time.monotonic() + 15
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not pid_file.exists(), "the embedded PostgreSQL outlived the server"


def test_the_jobs_command_lists_given_up_work_and_retries_it(database_url: str) -> None:
    env = production_env(database_url)

    async def add_failed() -> uuid.UUID:
        db = Database(create_engine(database_url, pool_size=1))
        try:
            async with db.transaction() as session:
                job = OutboxJob(
                    kind="email.booking",
                    payload={},
                    due_at=utcnow(),
                    failed_at=utcnow(),
                    created_at=utcnow(),
                    attempts=8,
                    last_error="SMTPRecipientsRefused: nope",
                )
                session.add(job)
            return job.id
        finally:
            await db.engine.dispose()

    job_id = asyncio.run(add_failed())
    listed = subprocess.run(
        [str(BIN), "jobs"], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    assert f"failed {job_id} email.booking x8: SMTPRecipientsRefused: nope" in listed.stdout
    retried = subprocess.run(
        [str(BIN), "jobs", "--retry-failed"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "job(s) due again" in retried.stdout
    again = subprocess.run(
        [str(BIN), "jobs"], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    assert f"failed {job_id}" not in again.stdout
