"""A soak with faults: the production shape under a mixed load for MINUTES, a process killed
and started again every --kill-every seconds, Redis restarted once, then the invariants.

    python -m bench.soak MINUTES [--kill-every 60] [--actors 12] [--subscribers 4] [--seed 22]

4 `serve` and 2 `worker` processes behind PgBouncer, Redis pub/sub, RabbitMQ jobs
(bench/soak/cluster.py) on a fresh database of the machine's PostgreSQL (DATABASE_DIRECT_URL's
or DATABASE_URL's server, else 127.0.0.1:5432). The load (bench/soak/load.py): slot searches,
bookings of lessons and of group seats at capacity 3, package redemptions, card payments by
signed Stripe webhooks (some delivered twice, to another process), reschedules and cancels; each
tutor's dashboard follows its bookings live (bench/soak/live.py). At the end, with the load
stopped and the jobs drained, it prints the invariants (bench/soak/checks.py) and exits 1 if any
fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bench.soak import checks
from bench.soak.cluster import SYSTEM_POSTGRES, Cluster, started
from bench.soak.live import Subscriber
from bench.soak.load import Api, Load, Stats, make_world, starts
from infra.db import with_database
from tests.helpers import pk

DRAIN_SECONDS = 120  # after the load: for due jobs to finish (a killed worker's leases lapse)
SETTLE_SECONDS = 5  # then for the last live events to arrive


async def faults(cluster: Cluster, seconds: float, every: float, rng: random.Random) -> None:
    """A kill every `every` seconds; Redis restarted once, half-way between two kills."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    redis_at = seconds / 2 + every / 2 if seconds > every else seconds / 2
    redis_done = False
    kill_at = every
    while (now := loop.time() - began) < seconds:
        if not redis_done and now >= redis_at:
            redis_done = True
            await asyncio.to_thread(cluster.restart_redis)
        elif now >= kill_at:
            kill_at += every
            await asyncio.to_thread(cluster.kill_one, rng)
        else:
            await asyncio.sleep(0.5)


async def drained(url: str) -> int:
    """Waits until no due job is unfinished (at most DRAIN_SECONDS); how many still are."""
    connection = await asyncpg.connect(url)
    try:
        for _ in range(DRAIN_SECONDS):
            left = await connection.fetchval(
                "SELECT count(*) FROM outbox WHERE done_at IS NULL AND failed_at IS NULL "
                "AND due_at <= now()"
            )
            if left == 0:
                return 0
            await asyncio.sleep(1)
        return int(left)
    finally:
        await connection.close()


async def soak(cluster: Cluster, args: argparse.Namespace) -> bool:
    rng = random.Random(args.seed)
    stats = Stats()
    api = Api(cluster, rng, stats)
    today = datetime.now(UTC).date()
    tutors, students = await make_world(api, args.tutors, args.students, today)
    load = Load(api, tutors, students, starts(today), rng)
    subscribers = [Subscriber(t, api, rng) for t in tutors[: args.subscribers]]
    stop_live = asyncio.Event()
    live = [asyncio.create_task(s.run(stop_live)) for s in subscribers]
    seconds = args.minutes * 60
    print(f"load: {args.actors} actors for {seconds:.0f} s; a kill every {args.kill_every} s")
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    cluster.began = time.monotonic()  # the faults' times count from here
    began = time.perf_counter()

    async def replays() -> None:
        while loop.time() < until:
            await asyncio.sleep(2)
            await load.replay()

    await asyncio.gather(
        faults(cluster, seconds, args.kill_every, rng),
        replays(),
        *(load.actor(until) for _ in range(args.actors)),
    )
    elapsed = time.perf_counter() - began
    left = await drained(cluster.direct_url)
    # Judged as of now: a periodic job that falls due while the dashboards settle is not late.
    drained_at = datetime.now(UTC)
    await asyncio.sleep(SETTLE_SECONDS)
    stop_live.set()
    await asyncio.gather(*live)
    await api.client.aclose()
    return await report(cluster, load, stats, subscribers, elapsed, left, drained_at)


async def report(
    cluster: Cluster,
    load: Load,
    stats: Stats,
    subscribers: list[Subscriber],
    elapsed: float,
    undrained: int,
    now: datetime,
) -> bool:
    connection = await asyncpg.connect(cluster.direct_url)
    results: dict[str, list[str]] = {}
    try:
        for name, check in checks.STORED.items():
            results[name] = await check(connection, now)
        received = {r.id for r in cluster.receiver.received if r.payload is not None}
        results["every webhook delivery ended, and reached the receiver"] = await checks.deliveries(
            connection, now, received
        )
        rows = await connection.fetch("SELECT id, tutor_id, status, start_at FROM bookings")
        totals = await connection.fetchrow(
            "SELECT (SELECT count(*) FROM bookings) AS bookings, (SELECT count(*) FROM outbox) "
            "AS jobs, (SELECT count(*) FROM outbox WHERE failed_at IS NOT NULL) AS given_up, "
            "(SELECT count(*) FROM outbox WHERE attempts > 1) AS retried"
        )
    finally:
        await connection.close()
    stored = {str(r["id"]): (r["status"], r["start_at"]) for r in rows}
    results["every acknowledged booking stored as acknowledged"] = acknowledged(load, stored)
    results["every dashboard equal to the database (resumed with since, not refetched)"] = [
        line
        for s in subscribers
        for line in dashboard(
            s,
            {
                str(r["id"]): (r["status"], r["start_at"])
                for r in rows
                if r["tutor_id"] == pk(s.tutor.id)
            },
        )
    ]
    if undrained:
        results["every due outbox job done or given up with its error"].insert(
            0, f"{undrained} due job(s) still unfinished after {DRAIN_SECONDS} s"
        )
    print_report(cluster, load, stats, subscribers, elapsed, totals, results)
    return not any(results.values())


def acknowledged(load: Load, stored: dict[str, tuple[str, datetime]]) -> list[str]:
    found = []
    for booking_id, expected in load.expected.items():
        row = stored.get(str(pk(booking_id)))
        if row is None:
            found.append(f"booking {booking_id}: acknowledged, not stored")
            continue
        status, start = row
        if not expected.certain or expected.status == "PENDING_PAYMENT":
            continue  # its last change's answer was lost, or payment and expiry decide
        if status != expected.status and not (
            expected.status == "CONFIRMED" and status in ("COMPLETED", "NO_SHOW")
        ):
            found.append(f"booking {booking_id}: {status}, acknowledged {expected.status}")
        elif start != datetime.fromisoformat(expected.start):
            found.append(f"booking {booking_id}: starts {start}, acknowledged {expected.start}")
    return found


def dashboard(s: Subscriber, stored: dict[str, tuple[str, datetime]]) -> list[str]:
    seen = {str(pk(k)): (v[0], datetime.fromisoformat(v[1])) for k, v in s.view.items()}
    found = []
    for booking_id in sorted(set(seen) | set(stored)):
        if seen.get(booking_id) != stored.get(booking_id):
            found.append(
                f"tutor {s.tutor.id}'s dashboard: booking {booking_id} shown as "
                f"{seen.get(booking_id)}, stored {stored.get(booking_id)}"
            )
    return found


def print_report(
    cluster: Cluster,
    load: Load,
    stats: Stats,
    subscribers: list[Subscriber],
    elapsed: float,
    totals: Any,
    results: dict[str, list[str]],
) -> None:
    answered = len(stats.latencies)
    errors = sum(stats.errors.values())
    ordered = sorted(stats.latencies) or [0.0]
    print(f"\n{elapsed:.0f} s of load; faults:")
    for line in cluster.events:
        print(f"  {line}")
    print(
        f"requests: {stats.requests} ({stats.requests / elapsed:.1f}/s), answered {answered}, "
        f"p50 {ordered[len(ordered) // 2] * 1000:.0f} ms, "
        f"p99 {ordered[int(len(ordered) * 0.99)] * 1000:.0f} ms"
    )
    print(
        f"  answered with an error: {errors} ({errors / max(answered, 1):.2%}) "
        f"{dict(stats.errors.most_common())}"
    )
    print(
        f"  connection lost (the process was killed): {stats.lost} "
        f"({stats.lost / max(stats.requests, 1):.2%}), {stats.retried} repeated elsewhere"
    )
    print(f"  results: {dict(sorted(stats.answers.items()))}")
    print(f"  Stripe webhooks (with replays): {dict(stats.webhooks.most_common())}")
    print(
        f"stored: {totals['bookings']} bookings; {totals['jobs']} outbox jobs, "
        f"{totals['retried']} run more than once, {totals['given_up']} given up"
    )
    received = cluster.receiver.received
    unique = {r.id for r in received}
    print(
        f"webhooks received: {len(received)}, {len(unique)} distinct webhook-ids "
        f"({len(received) - len(unique)} delivered again after a kill); "
        f"emails: {len(cluster.inbox.received)}"
    )
    for s in subscribers:
        print(f"dashboard of {s.tutor.id}: {dict(s.counts)}; ended by {dict(s.errors)}")
    print("invariants:")
    for name, found in results.items():
        print(f"  {'FAIL' if found else 'ok  '} {name}")
        for line in found[:10]:
            print(f"         {line}")
        if len(found) > 10:
            print(f"         … and {len(found) - 10} more")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("minutes", type=float)
    parser.add_argument("--kill-every", type=float, default=60.0)
    parser.add_argument("--actors", type=int, default=12)
    parser.add_argument("--tutors", type=int, default=4)
    parser.add_argument("--students", type=int, default=24)
    parser.add_argument("--subscribers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=22)
    args = parser.parse_args()
    server = os.environ.get("DATABASE_DIRECT_URL") or os.environ.get("DATABASE_URL")
    admin = with_database(server or SYSTEM_POSTGRES, "postgres")
    with started(admin) as cluster:
        print(f"cluster up: api on {cluster.api_ports}, logs in {cluster.logs}")
        ok = asyncio.run(soak(cluster, args))
    print("\nsoak: all invariants hold" if ok else "\nsoak: INVARIANTS FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
