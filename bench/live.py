"""Fan-out of live updates: many websocket subscribers over two server processes.

    python -m bench.live [--subscribers 1000] [--bookings 100] [--backends postgresql,redis]

Loads tutors into a fresh database (embedded, or DATABASE_URL's server), starts two
`booking-api serve` processes per backend, opens the subscribers (half on each process, all on
one tutor's slotEvents), then books that tutor's hours one after another through the two
processes in turn. The benchmark also listens on the broker itself: the moment it sees an event
there is the publish time, and publish-to-receive latency is each subscriber's receive time minus
that (one machine, one clock). Then the floor (bench/floor.py: a bare websocket broadcast of the
same bytes, two processes, same broker) takes the same number of subscribers and events at the
pace the bookings came, and the ratio ours / floor is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import websockets

from bench.bookings import MUTATION, SECRET, load
from bench.listen import listen
from bench.slots import serve
from bench.summary import Row, emit
from booking_api.migrate import upgrade
from domain.events import slots_channel
from infra.auth import mint_token
from infra.db import server_url
from infra.settings import Settings
from schema.node import decode_id
from tests.helpers import create_database, drop_database
from tests.live_client import PROTOCOL, SLOTS, broker_publish
from tests.processes import free_port

REDIS_URL = "redis://127.0.0.1:6379/0"
PROBE = "2000-01-01T00:00:00+00:00"


class Subscriber:
    def __init__(self, port: int, tutor_id: str) -> None:
        self.port, self.tutor_id = port, tutor_id
        self.seen: dict[str, float] = {}  # event start -> receive time
        self.live = asyncio.Event()

    async def run(self, opened: asyncio.Semaphore) -> None:
        async with opened:
            ws = await websockets.connect(
                f"ws://127.0.0.1:{self.port}/graphql", subprotocols=[PROTOCOL], max_queue=None
            )
        try:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            await ws.recv()
            query = {"query": SLOTS, "variables": {"tutorId": self.tutor_id}}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": query}))
            async for raw in ws:
                now = time.perf_counter()
                message = json.loads(raw)
                if message["type"] == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                    continue
                if message["type"] != "next":
                    continue
                start = message["payload"]["data"]["slotEvents"]["start"]
                if start == PROBE:
                    self.live.set()
                else:
                    self.seen.setdefault(start, now)
        finally:
            await ws.close()


@asynccontextmanager
async def broker_clock(broker: str, channel: str) -> AsyncIterator[dict[str, float]]:
    """When each event appears on the broker itself: its publish time."""
    published: dict[str, float] = {}

    def note(message: str) -> None:
        start = json.loads(message)["start"]
        if start != PROBE:
            published.setdefault(datetime.fromisoformat(start).isoformat(), time.perf_counter())

    async with listen(broker, channel, note):
        yield published


async def probe_until_live(broker: str, channel: str, subscribers: list[Subscriber]) -> float:
    began = time.perf_counter()
    message = slot_change(channel, PROBE)
    while not all(s.live.is_set() for s in subscribers):
        await broker_publish(broker, channel, [message])
        await asyncio.sleep(1.0)
        if time.perf_counter() - began > 180:
            raise SystemExit("subscribers did not become live")
    return time.perf_counter() - began


def slot_change(channel: str, start: str) -> str:
    tutor = channel.split(":")[1]
    return json.dumps(
        {"kind": "TAKEN", "tutor": tutor, "service": tutor, "start": start, "end": start}
    )


Publish = Callable[[list[str]], Awaitable[None]]


def booked(ports: list[int], tutor: str, service: str) -> Publish:
    """Events made by booking each start through the servers in turn, one after another."""

    async def publish(starts: list[str]) -> None:
        async with httpx.AsyncClient(timeout=60) as http:
            for i, start in enumerate(starts):
                input = {"serviceId": service, "tutorId": tutor, "start": start, "timeZone": "UTC"}
                response = await http.post(
                    f"http://127.0.0.1:{ports[i % 2]}/graphql",
                    json={"query": MUTATION, "variables": {"input": input}},
                    headers={"Authorization": f"Bearer {mint_token(SECRET, f's{i}')}"},
                )
                outcome = response.json()["data"]["createBooking"]["__typename"]
                assert outcome == "BookingCreated", (i, start, response.text)

    return publish


def paced(broker: str, channel: str, interval: float) -> Publish:
    """The same events published straight to the broker, as often as the bookings came."""

    async def publish(starts: list[str]) -> None:
        for start in starts:
            began = time.perf_counter()
            await broker_publish(broker, channel, [slot_change(channel, start)])
            await asyncio.sleep(max(0.0, interval - (time.perf_counter() - began)))

    return publish


async def fan_out(
    ports: list[int], broker: str, tutor: str, count: int, starts: list[str], publish: Publish
) -> dict[str, Any]:
    tutor_pk = decode_id(tutor)
    assert tutor_pk is not None
    channel = slots_channel(tutor_pk[1])
    subscribers = [Subscriber(ports[i % 2], tutor) for i in range(count)]
    opened = asyncio.Semaphore(50)
    tasks = [asyncio.create_task(s.run(opened)) for s in subscribers]
    try:
        ready_in = await probe_until_live(broker, channel, subscribers)
        async with broker_clock(broker, channel) as published:
            began = time.perf_counter()
            await publish(starts)
            took = time.perf_counter() - began
            deadline = time.perf_counter() + 15
            expected = count * len(starts)
            while time.perf_counter() < deadline:
                if sum(len(s.seen) for s in subscribers) >= expected:
                    break
                await asyncio.sleep(0.1)
        latencies = [
            (s.seen[start] - published[start]) * 1000
            for s in subscribers
            for start in starts
            if start in s.seen and start in published
        ]
        received = sum(len(s.seen) for s in subscribers)
        return {
            "ready_in": ready_in,
            "received": received,
            "lost": expected - received,
            "p50": statistics.median(latencies),
            "p99": statistics.quantiles(latencies, n=100)[98],
            "max": max(latencies),
            "interval": took / len(starts),
        }
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@contextmanager
def running(started: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    """Processes, stopped on the way out."""
    try:
        yield
    finally:
        for process in started:
            process.terminate()
        for process in started:
            process.wait(timeout=30)


@contextmanager
def processes(commands: list[list[str]], ports: list[int]) -> Iterator[None]:
    """Floor servers: started, waited for (their port answers), stopped."""
    with running([subprocess.Popen(command) for command in commands]):
        for port in ports:
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("the floor did not start") from None
                    time.sleep(0.2)
        yield


def measure(
    url: str,
    backend: str,
    ports: list[int],
    tutor: str,
    service: str,
    count: int,
    starts: list[str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ours, then the floor on the same events at the same pace: (ours, floor)."""
    broker = url if backend == "postgresql" else REDIS_URL
    os.environ["BROADCAST_URL"] = "postgresql://" if backend == "postgresql" else broker
    try:
        with running([serve(url, port) for port in ports]):
            ours = asyncio.run(
                fan_out(ports, broker, tutor, count, starts, booked(ports, tutor, service))
            )
    finally:
        os.environ.pop("BROADCAST_URL", None)
    tutor_pk = decode_id(tutor)
    assert tutor_pk is not None
    channel = slots_channel(tutor_pk[1])
    floor_ports = [free_port() for _ in ports]
    command = [sys.executable, "-m", "bench.floor", "--broker", broker, "--channel", channel]
    commands = [[*command, "--port", str(port)] for port in floor_ports]
    # Other times than ours: the broker clock keys events by their start.
    again = [(datetime.fromisoformat(start) + timedelta(days=1)).isoformat() for start in starts]
    with processes(commands, floor_ports):
        floor = asyncio.run(
            fan_out(
                floor_ports, broker, tutor, count, again, paced(broker, channel, ours["interval"])
            )
        )
    return ours, floor


def line(name: str, result: dict[str, Any]) -> str:
    return (
        f"  {name:18} publish-to-receive p50 {result['p50']:6.1f} ms  "
        f"p99 {result['p99']:6.1f} ms  max {result['max']:6.1f} ms  "
        f"received {result['received']}  lost {result['lost']}  "
        f"(all live in {result['ready_in']:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--bookings", type=int, default=100)
    parser.add_argument("--backends", default="postgresql,redis")
    args = parser.parse_args()

    settings = Settings.from_env()
    admin = settings.database_url or server_url(settings)
    url = create_database(admin, prefix="booking_bench")
    try:
        upgrade(url)
        tutors, services = asyncio.run(load(url, args.bookings))
        print(
            f"{args.subscribers} websocket subscribers on one tutor's slotEvents, over two "
            f"server processes; {args.bookings} bookings, one after another; the floor: a bare "
            "websocket broadcast of the same bytes, same broker, same pace"
        )
        for index, backend in enumerate(args.backends.split(",")):
            # The same students book in each backend's run: a week apart, so they are free.
            day = (datetime.now(UTC) + timedelta(weeks=index + 1)).replace(
                hour=0, minute=0, second=0, microsecond=0
            )
            starts = [(day + timedelta(hours=h)).isoformat() for h in range(args.bookings)]
            ports = [free_port(), free_port()]
            ours, floor = measure(
                url, backend, ports, tutors[index], services[index], args.subscribers, starts
            )
            print(line(backend, ours))
            print(line(f"{backend} floor", floor))
            print(
                f"  {backend:18} ours / floor: p50 {ours['p50'] / floor['p50']:.1f}x  "
                f"p99 {ours['p99'] / floor['p99']:.1f}x"
            )
            emit(
                Row(
                    "live",
                    f"fan-out p99, {backend}, {args.subscribers} subscribers",
                    f"{ours['p99']:.1f} ms",
                    f"{floor['p99']:.1f} ms bare broadcast",
                    f"{ours['p99'] / floor['p99']:.1f}x",
                )
            )
    finally:
        drop_database(admin, url)


if __name__ == "__main__":
    main()
