"""A real `booking-api serve` facing hostile connections: bodies over the limit, slow and idle
clients, oversized heads, and the memory that large bodies leave behind."""

from __future__ import annotations

import asyncio
import json
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import websockets

from infra.settings import HttpLimits
from tests.fakes.stripe_server import WEBHOOK_SECRET
from tests.helpers import create_database, drop_database, server_admin_url
from tests.processes import PIDS, production_env, servers

LIMIT = HttpLimits.max_body_bytes
READ_TIMEOUT = 2
MB = 1024 * 1024


@dataclass(frozen=True)
class Served:
    port: int
    pid: int


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """One server on a database of its own, with card payments on and a short read timeout."""
    admin = server_admin_url()
    url = create_database(admin, prefix="booking_connections")
    env = production_env(
        url,
        REQUEST_READ_TIMEOUT=str(READ_TIMEOUT),
        STRIPE_SECRET_KEY="sk_test_connections",
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        # Never called: no test here gets as far as a payment.
        STRIPE_API_BASE="http://127.0.0.1:9",
    )
    try:
        with servers(env, count=1) as [port]:
            yield Served(port, PIDS[port])
    finally:
        drop_database(admin, url)


def head(path: str, **headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: test", "Content-Type: application/json"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_of(sock: socket.socket) -> int:
    """The status of the answer on `sock` (read up to its status line)."""
    line = b""
    while not line.endswith(b"\r\n"):
        byte = sock.recv(1)
        assert byte, f"closed without an answer after {line!r}"
        line += byte
    return int(line.split()[1])


def answered(sock: socket.socket) -> bool:
    return bool(select.select([sock], [], [], 0)[0])


@pytest.mark.parametrize("path", ["/graphql", "/webhooks/stripe"])
def test_bodies_over_the_limit_are_refused_before_they_are_read(served: Served, path: str) -> None:
    address = ("127.0.0.1", served.port)
    # Announced: answered at once, though the 100 MB never come.
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(head(path, Content_Length=str(100 * MB), Stripe_Signature="t=1,v1=0") + b"{")
        assert status_of(sock) == 413

    # Chunked: counted as it streams, refused once past the limit.
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(head(path, Transfer_Encoding="chunked", Stripe_Signature="t=1,v1=0"))
        chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
        sent = 0
        while not answered(sock) and sent < 64 * MB:
            sock.sendall(chunk)
            sent += 0x10000
        assert status_of(sock) == 413
        assert sent < 64 * MB


def test_an_unsigned_webhook_is_refused_before_its_body_is_read(served: Served) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(head("/webhooks/stripe", Content_Length=str(LIMIT // 2)))
        assert status_of(sock) == 400


@pytest.mark.parametrize(
    ("first", "drip", "told"),
    [
        (b"", b"", True),  # connects and says nothing
        (b"POST /graphql HTTP/1.1\r\nHost: test\r\n", b"X-Slow: 1\r\n", True),  # a header a time
        # A body a byte at a time: the app has the request, and sees the client leave.
        (head("/graphql", Content_Length="1000") + b"{", b" ", False),
    ],
    ids=["idle", "slow head", "slow body"],
)
def test_idle_and_slow_clients_are_cut_off(
    served: Served, first: bytes, drip: bytes, told: bool
) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(first)
        started = time.monotonic()
        while not select.select([sock], [], [], 0.2)[0]:
            assert time.monotonic() - started < 15, "the server still waits for this client"
            try:
                sock.sendall(drip)
            except OSError:  # closed: its answer, if any, is waiting to be read
                break
        waited = time.monotonic() - started
        try:
            reply = sock.recv(100)
        except ConnectionResetError:
            reply = b""
    assert READ_TIMEOUT - 0.5 <= waited < 15
    if told:
        assert reply.startswith(b"HTTP/1.1 408"), reply


def test_an_oversized_head_is_refused(served: Served) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: test\r\n")
        try:
            for _ in range(1000):
                sock.sendall(b"X-Big: " + b"a" * 1000 + b"\r\n")
        except OSError:
            pass  # closed once over the limit
        assert status_of(sock) == 431


async def test_websockets_outlive_the_read_timeout(served: Served) -> None:
    url = f"ws://127.0.0.1:{served.port}/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await asyncio.sleep(READ_TIMEOUT + 1)
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv())["type"] == "pong"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_memory_returns_after_large_bodies(served: Served) -> None:
    """The issue's report: each large body stayed in memory for thousands of requests."""
    room = LIMIT - 200  # just under the limit
    bodies = [
        # Many small values, parsed and dropped.
        ("/graphql", {"query": "{ viewer { userId } }", "pad": ["abcdefgh"] * (room // 12)}),
        # One large variable, held by the operation while it runs.
        ("/graphql", {"query": "query($t: String!) { bookingByToken(token: $t) { id } }",
                      "variables": {"t": "x" * room}}),
        # A webhook delivery that is not Stripe's.
        ("/webhooks/stripe", {"id": "evt_x", "pad": "x" * room}),
    ]  # fmt: skip
    payloads = [(path, json.dumps(body).encode()) for path, body in bodies]
    assert all(LIMIT - 1000 < len(body) <= LIMIT for _, body in payloads)
    headers = {"Content-Type": "application/json", "Stripe-Signature": "t=1,v1=0"}

    with httpx.Client(base_url=f"http://127.0.0.1:{served.port}", timeout=30) as client:

        def send(count: int) -> None:
            for i in range(count):
                path, body = payloads[i % len(payloads)]
                assert client.post(path, content=body, headers=headers).status_code < 500

        send(30)  # warm-up: caches, the connection pool, the allocator's arenas
        before = rss_mb(served.pid)
        send(200)
        after = rss_mb(served.pid)
    assert after - before < 8, f"RSS {before:.0f} MB -> {after:.0f} MB after 200 bodies of 1 MB"
