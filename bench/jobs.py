"""Background work end to end: bookings through the API, their confirmation emails over SMTP.

    python -m bench.jobs [--bookings 300] [--modes inprocess,redis,rabbitmq]

For each mode, a fresh database (embedded, or DATABASE_URL's server) with 100 tutors; one
`booking-api serve` (in-process mode: it runs the relay and jobs itself) or, with a broker, one
`serve` plus two `booking-api worker` processes; a local SMTP server. Eight clients book; each
booking commits 4 due jobs (2 emails, calendar sync, meeting link) and 3 future reminders.
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
from bench.slots import serve
from booking_api.auth import mint_token
from booking_api.db import server_url
from booking_api.migrate import upgrade
from booking_api.settings import Settings
from tests import smtp_server
from tests.support import create_database, drop_database

BROKERS = {
    "inprocess": None,
    "redis": "redis://127.0.0.1:6379/0",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672/",
}
CONCURRENCY = 8


async def book_all(port: int, inputs: list[tuple[str, dict[str, Any]]]) -> dict[int, float]:
    """Each booking's index -> when its response came back."""
    done: dict[int, float] = {}
    pending = iter(enumerate(inputs))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:

        async def worker() -> None:
            for i, (who, input) in pending:
                response = await client.post(
                    "/graphql",
                    json={"query": MUTATION, "variables": {"input": input}},
                    headers={"Authorization": f"Bearer {who}"},
                )
                kind = response.json()["data"]["createBooking"]["__typename"]
                assert kind == "BookingCreated", response.text
                done[i] = time.perf_counter()

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return done


def run_mode(mode: str, count: int, port: int, inbox: smtp_server.Inbox) -> dict[str, Any]:
    admin = server_url(Settings.from_env())
    url = create_database(admin, prefix="booking_jobs")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        upgrade(url)
        tutors, services = asyncio.run(load(url, count))
        broker = BROKERS[mode]
        os.environ.update(SMTP_URL=f"smtp://127.0.0.1:{inbox.port}", EMAIL_FROM="bench@example.com")
        os.environ.pop("BROKER_URL", None)
        if broker is not None:
            os.environ["BROKER_URL"] = broker
        processes.append(serve(url, port))
        if broker is not None:
            env = dict(os.environ, DATABASE_URL=url, AUTH_JWT_SECRET=SECRET, LOG_LEVEL="WARNING")
            processes += [
                subprocess.Popen(
                    [sys.executable, "-m", "booking_api", "worker", "--threads", "8"], env=env
                )
                for _ in range(2)
            ]
        day = (datetime.now(UTC) + timedelta(days=7)).replace(hour=0, minute=0, second=0)
        inputs = [
            (
                mint_token(SECRET, f"s{i}"),
                {
                    "serviceId": services[i % len(services)],
                    "tutorId": tutors[i % len(tutors)],
                    "start": (day + timedelta(hours=i // len(tutors))).isoformat(),
                    "timeZone": "UTC",
                },
            )
            for i in range(count)
        ]
        inbox.reset()
        began = time.perf_counter()
        done = asyncio.run(book_all(port, inputs))
        booked_in = time.perf_counter() - began
        deadline = time.perf_counter() + 120
        while time.perf_counter() < deadline and len(inbox.received) < count:
            time.sleep(0.05)
        time.sleep(2)  # anything sent twice shows up now
        first: dict[str, float] = {}
        for received in inbox.received:
            first.setdefault(received.to[0], received.at)
        per_address = Counter(r.to[0] for r in inbox.received)
        latencies = [
            (first[f"s{i}@example.com"] - done[i]) * 1000
            for i in range(count)
            if f"s{i}@example.com" in first
        ]
        return {
            "booked_in": booked_in,
            "emails": len(inbox.received),
            "lost": count - len(first),
            "duplicates": sum(n - 1 for n in per_address.values()),
            "p50": statistics.median(latencies),
            "p99": statistics.quantiles(latencies, n=100)[98],
            "all_sent_in": max(first.values()) - began,
        }
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        drop_database(admin, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bookings", type=int, default=300)
    parser.add_argument("--modes", default="inprocess,redis,rabbitmq")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    inbox, controller = smtp_server.start()
    try:
        print(f"{args.bookings} bookings by {CONCURRENCY} clients; confirmation email latency")
        print(
            f"{'mode':<10} {'booked':>8} {'emails':>7} {'lost':>5} {'dup':>4} "
            f"{'p50 ms':>8} {'p99 ms':>8} {'all sent':>9}"
        )
        for mode in args.modes.split(","):
            r = run_mode(mode, args.bookings, args.port, inbox)
            print(
                f"{mode:<10} {r['booked_in']:>7.2f}s {r['emails']:>7} {r['lost']:>5} "
                f"{r['duplicates']:>4} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['all_sent_in']:>8.2f}s",
                flush=True,
            )
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
