"""The JS client example (examples/js-client) as its users run it: installed from the npm
registry, its types generated from the committed SDL and checked by `tsc`, and its demo run
against a real `serve` process: slots listed, one booked, its event received over graphql-ws."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers import REPO, GraphQLClient, Tutor, token, weekly
from tests.processes import production_env, servers

EXAMPLE = REPO / "examples" / "js-client"
NODE = "query($id: ID!) { node(id: $id) { ... on Booking { status tutor { id } } } }"


def npm() -> str:
    found = shutil.which("npm")
    if found is None:
        if os.environ.get("CI"):
            raise AssertionError("npm is not on PATH: CI runs the JS client example")
        pytest.skip("npm is not on PATH: install Node.js 20+ to run the JS client example")
    return found


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def succeeds(*args: str) -> None:
    done = run(*args)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def example() -> None:
    """`npm ci` from the committed lock file, then the typed documents from the SDL."""
    succeeds(npm(), "ci", "--no-audit", "--no-fund")
    succeeds(npm(), "run", "codegen")


@pytest.fixture(scope="module")
def port(database_url: str) -> Iterator[int]:
    with servers(production_env(database_url), count=1) as (only,):
        yield only


async def open_tutor(port: int) -> Tutor:
    """A tutor open around the clock with an hour's lesson, set up through GraphQL."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        tutor = await Tutor(GraphQLClient(http), f"js-tutor-{uuid.uuid4().hex[:8]}").setup(
            "UTC", weekly("00:00", "00:00")
        )
        saved = await tutor.service(title="Lesson", slotIntervalMinutes=60)
    assert saved["__typename"] == "ServiceSaved", saved
    return tutor


def demo(port: int, tutor_token: str, student_token: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "BOOKING_API_URL": f"http://127.0.0.1:{port}/graphql",
        "TUTOR_TOKEN": tutor_token,
        "STUDENT_TOKEN": student_token,
    }
    return run(npm(), "run", "--silent", "demo", env=env)


def test_the_generated_types_compile(example: None) -> None:
    succeeds(npm(), "run", "typecheck")


def test_the_demo_books_a_slot_and_receives_its_event(example: None, port: int) -> None:
    tutor = asyncio.run(open_tutor(port))
    student = token(f"js-student-{uuid.uuid4().hex[:8]}")

    done = demo(port, tutor.token, student)

    assert done.returncode == 0, done.stdout + done.stderr
    booked = re.search(r"^booked (\S+) CONFIRMED ", done.stdout, re.MULTILINE)
    assert booked, done.stdout
    booking_id = booked.group(1)
    assert f"event CREATED {booking_id} CONFIRMED at " in done.stdout
    seen = httpx.post(
        f"http://127.0.0.1:{port}/graphql",
        json={"query": NODE, "variables": {"id": booking_id}},
        headers={"Authorization": f"Bearer {student}"},
        timeout=10,
    ).json()
    assert seen == {"data": {"node": {"status": "CONFIRMED", "tutor": {"id": tutor.id}}}}


def test_the_demo_fails_with_the_error_code(example: None, port: int) -> None:
    done = demo(port, token("js-nobody")[:-3] + "abc", token("js-student"))

    assert done.returncode == 1
    assert "error: UNAUTHENTICATED" in done.stderr
