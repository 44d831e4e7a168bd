"""Background work end to end: bookings through the API, their confirmation emails over SMTP.

    python -m bench.jobs [--paced 100] [--rate 10] [--bookings 300]
                         [--modes inprocess,redis,rabbitmq]

For each mode, a fresh database (embedded, or DATABASE_URL's server) with 100 tutors; one
`booking-api serve` (in-process mode: it runs the relay and jobs itself) or, with a broker, one
`serve` plus two `booking-api worker` processes; a local SMTP server. Bookings come first at a
steady rate (latency), then in a burst from eight clients (throughput). Each booking commits 4
due jobs (2 emails, calendar sync, meeting link) and 3 future reminders.
Latency is booking response received to the student's email received (one machine, one
clock); duplicates and losses are counted per student address.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.bookings import MUTATION, SECRET, load
from bench.slots import production_env, serve
from bench.summary import Row, emit
from booking_api.migrate import upgrade
from infra.auth import mint_token
from infra.db import server_url
from infra.settings import Settings
from tests.fakes import smtp_server
from tests.helpers import create_database, drop_database
from tests.processes import free_port

BROKERS = {
    "inprocess": None,
    "redis": "redis://127.0.0.1:6379/0",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672/",
}
CONCURRENCY = 8
WARM_UP = 20


async def book_all(
    port: int, inputs: list[tuple[str, dict[str, Any]]], rate: float | None
) -> dict[int, float]:
    """Each booking's index -> when its response came back. Inputs are (student's sub, input);
    `rate`: bookings a second, paced; None: as fast as the clients go."""
    done: dict[int, float] = {}
    pending = iter(enumerate(inputs))
    began = time.perf_counter()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:

        async def worker() -> None:
            for i, (sub, input) in pending:
                if rate is not None:
                    await asyncio.sleep(max(0.0, began + i / rate - time.perf_counter()))
                response = await client.post(
                    "/graphql",
                    json={"query": MUTATION, "variables": {"input": input}},
                    headers={"Authorization": f"Bearer {mint_token(SECRET, sub)}"},
                )
                kind = response.json()["data"]["createBooking"]["__typename"]
                assert kind == "BookingCreated", response.text
                done[i] = time.perf_counter()

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return done


def phase(
    port: int,
    inputs: list[tuple[str, dict[str, Any]]],
    inbox: smtp_server.Inbox,
    rate: float | None,
) -> dict[str, Any]:
    inbox.reset()
    began = time.perf_counter()
    done = asyncio.run(book_all(port, inputs, rate))
    booked_in = time.perf_counter() - began
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline and len(inbox.received) < len(inputs):
        time.sleep(0.05)
    time.sleep(2)  # anything sent twice shows up now
    first: dict[str, float] = {}
    for received in inbox.received:
        first.setdefault(received.to[0], received.at)
    per_address = Counter(r.to[0] for r in inbox.received)
    latencies = [
        (first[who] - done[i]) * 1000
        for i, who in enumerate(f"{sub}@example.com" for sub, _ in inputs)
        if who in first
    ]
    return {
        "booked_in": booked_in,
        "emails": len(inbox.received),
        "lost": len(inputs) - len(first),
        "duplicates": sum(n - 1 for n in per_address.values()),
        "p50": statistics.median(latencies),
        "p99": statistics.quantiles(latencies, n=100)[98],
        "all_sent_in": max(first.values()) - began,
    }


def run_mode(
    mode: str, count: int, paced_count: int, rate: float, inbox: smtp_server.Inbox
) -> dict[str, Any]:
    admin = server_url(Settings.from_env())
    url = create_database(admin, prefix="booking_jobs")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        upgrade(url)
        tutors, services = asyncio.run(load(url, WARM_UP + paced_count + count))
        broker = BROKERS[mode]
        os.environ.update(SMTP_URL=f"smtp://127.0.0.1:{inbox.port}", EMAIL_FROM="bench@example.com")
        os.environ.pop("BROKER_URL", None)
        if broker is not None:
            os.environ["BROKER_URL"] = broker
        port = free_port()
        processes.append(serve(url, port))
        if broker is not None:
            env = production_env(url)
            processes += [
                subprocess.Popen(
                    [sys.executable, "-m", "booking_api", "worker", "--threads", "8"], env=env
                )
                for _ in range(2)
            ]
        day = (datetime.now(UTC) + timedelta(days=7)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        inputs = [
            (
                f"s{i}",
                {
                    "serviceId": services[i % len(services)],
                    "tutorId": tutors[i % len(tutors)],
                    "start": (day + timedelta(hours=i // len(tutors))).isoformat(),
                    "timeZone": "UTC",
                },
            )
            for i in range(WARM_UP + paced_count + count)
        ]
        # Until every process is up and warm (the workers start alongside serve): not counted.
        phase(port, inputs[:WARM_UP], inbox, rate)
        paced = phase(port, inputs[WARM_UP : WARM_UP + paced_count], inbox, rate)
        burst = phase(port, inputs[WARM_UP + paced_count :], inbox, None)
        return {"paced": paced, "burst": burst}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        drop_database(admin, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bookings", type=int, default=300, help="the burst (300)")
    parser.add_argument("--paced", type=int, default=100, help="bookings at --rate first (100)")
    parser.add_argument("--rate", type=float, default=10, help="paced bookings a second (10)")
    parser.add_argument("--modes", default="inprocess,redis,rabbitmq")
    args = parser.parse_args()
    inbox, controller = smtp_server.start()
    try:
        print(
            f"booking response to the student's confirmation email: {args.paced} bookings at "
            f"{args.rate:g}/s, then a burst of {args.bookings} from {CONCURRENCY} clients"
        )
        print(
            f"{'mode':<10} {'phase':<6} {'booked':>8} {'emails':>7} {'lost':>5} {'dup':>4} "
            f"{'p50 ms':>8} {'p99 ms':>8} {'all sent':>9}"
        )
        for mode in args.modes.split(","):
            result = run_mode(mode, args.bookings, args.paced, args.rate, inbox)
            for name, r in result.items():
                print(
                    f"{mode:<10} {name:<6} {r['booked_in']:>7.2f}s {r['emails']:>7} "
                    f"{r['lost']:>5} {r['duplicates']:>4} {r['p50']:>8.1f} {r['p99']:>8.1f} "
                    f"{r['all_sent_in']:>8.2f}s",
                    flush=True,
                )
                emit(
                    Row(
                        "jobs",
                        f"booking to email p99, {mode} {name}",
                        f"{r['p99']:.1f} ms",
                        ratio=f"{r['lost']} lost",
                    )
                )
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
