"""Contended bookings: many attempts at a few hundred slots through several `serve` processes.

    python -m bench.contended [--attempts 10000] [--slots 300] [--processes 4]
                              [--concurrency 32]

Makes a fresh database (embedded, or DATABASE_URL's server; through PgBouncer when
DATABASE_DIRECT_URL is set too), starts the processes, gives tutors 30 hourly slots each (half
of them a service of capacity 1, half of capacity 3), then fires every attempt, each by a
student of its own, round-robin over the processes, `--concurrency` at a time. Prints whether
every slot ended with exactly its capacity booked (from the answers and from the database), the
throughput and the latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
import httpx

from tests.helpers import (
    CREATE,
    at,
    create_database,
    drop_database,
    monday,
    pk,
    server_admin_url,
    token,
)
from tests.processes import production_env, servers, tutor_with_service

SLOTS_PER_TUTOR = 24  # every hour of one day


@dataclass(frozen=True)
class Slot:
    tutor_id: str
    service_id: str
    start: str
    capacity: int


@dataclass
class Report:
    attempts: int
    processes: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    # Slots whose stored bookings are not their capacity, or fewer than the answers said:
    # (slot, created per the answers, stored in the database).
    wrong: list[tuple[Slot, int, int]] = field(default_factory=list)
    # Confirmed bookings the database holds outside the slots aimed at.
    strays: int = 0
    # Bookings stored whose attempt was answered with an error (a TIMEOUT after the commit).
    unacknowledged: int = 0

    @property
    def exact(self) -> bool:
        return not self.wrong and not self.strays

    @property
    def errors(self) -> int:
        return sum(n for kind, n in self.outcomes.items() if kind.startswith("error"))

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def make_slots(port: int, slots: int) -> list[Slot]:
    """Tutors with 24 hourly slots each, alternately of capacity 1 and 3."""
    made: list[Slot] = []
    day = monday(3)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        for n in range(-(-slots // SLOTS_PER_TUTOR)):
            capacity = 1 if n % 2 == 0 else 3
            tutor_id, service_id = await tutor_with_service(client, f"bench-{n}", capacity)
            hours = min(SLOTS_PER_TUTOR, slots - len(made))
            made.extend(Slot(tutor_id, service_id, at(day, h), capacity) for h in range(hours))
    return made


async def contend(
    ports: list[int], url: str, slots: int, attempts: int, concurrency: int
) -> Report:
    """Every attempt once, by a student of its own; each slot's bookings against its capacity,
    as the answers tell and as the database holds them."""
    targets = await make_slots(ports[0], slots)
    plan = [targets[i % len(targets)] for i in range(attempts)]
    random.Random(22).shuffle(plan)
    created: Counter[Slot] = Counter()
    report = Report(attempts, len(ports))
    clients = [
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{p}",
            timeout=120,
            limits=httpx.Limits(max_connections=concurrency),
        )
        for p in ports
    ]
    pending = iter(enumerate(plan))

    async def worker() -> None:
        for i, slot in pending:
            input = {
                "serviceId": slot.service_id,
                "tutorId": slot.tutor_id,
                "start": slot.start,
                "timeZone": "UTC",
            }
            began = time.perf_counter()
            try:
                response = await clients[i % len(clients)].post(
                    "/graphql",
                    json={"query": CREATE, "variables": {"input": input}},
                    headers={"Authorization": f"Bearer {token(f's{i}')}"},
                )
                kind = outcome(response)
            except httpx.TransportError as error:  # the connection was lost: an error too
                kind = f"error {type(error).__name__}"
            report.latencies.append(time.perf_counter() - began)
            report.outcomes[kind] += 1
            created[slot] += kind == "BookingCreated"

    try:
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        report.seconds = time.perf_counter() - began
    finally:
        for client in clients:
            await client.aclose()
    held = await confirmed_per_slot(url)
    for slot in targets:
        stored = held.pop((pk(slot.tutor_id), datetime.fromisoformat(slot.start)), 0)
        if stored != slot.capacity or created[slot] > stored:
            report.wrong.append((slot, created[slot], stored))
        report.unacknowledged += stored - min(created[slot], stored)
    report.strays = sum(held.values())
    return report


def outcome(response: httpx.Response) -> str:
    """The result's type, or `error <code>` for an answer without one."""
    try:
        body = response.json()
    except ValueError:
        return f"error {response.status_code}"
    if isinstance((body.get("data") or {}).get("createBooking"), dict):
        return str(body["data"]["createBooking"]["__typename"])
    codes = {str(e.get("extensions", {}).get("code")) for e in body.get("errors", [])}
    return f"error {response.status_code} {','.join(sorted(codes))}"


async def confirmed_per_slot(url: str) -> Counter[tuple[uuid.UUID, datetime]]:
    connection = await asyncpg.connect(url, statement_cache_size=0)
    try:
        rows = await connection.fetch(
            "SELECT tutor_id, start_at, count(*) AS n FROM bookings "
            "WHERE status = 'CONFIRMED' GROUP BY tutor_id, start_at"
        )
    finally:
        await connection.close()
    return Counter({(row["tutor_id"], row["start_at"]): int(row["n"]) for row in rows})


def run(processes: int, slots: int, attempts: int, concurrency: int) -> Report:
    """A fresh database on the suite's server, `processes` servers on it, the attempts."""
    admin = server_admin_url()
    url = create_database(admin, prefix="booking_contended")
    try:
        with servers(production_env(url), count=processes) as ports:
            return asyncio.run(contend(ports, url, slots, attempts, concurrency))
    finally:
        drop_database(admin, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--attempts", type=int, default=10_000)
    parser.add_argument("--slots", type=int, default=300)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    report = run(args.processes, args.slots, args.attempts, args.concurrency)
    print(
        f"{report.attempts} attempts at {args.slots} slots (capacities 1 and 3) through "
        f"{report.processes} serve processes, {args.concurrency} at a time"
    )
    print(f"  answers: {dict(sorted(report.outcomes.items()))}")
    verdict = (
        "yes" if report.exact else f"NO: {len(report.wrong)} slot(s) wrong, {report.strays} stray"
    )
    print(f"  every slot's stored bookings exactly its capacity, none unanswered: {verdict}")
    print(f"  stored although answered with an error: {report.unacknowledged}")
    for slot, answered, stored in report.wrong[:10]:
        print(f"    {slot}: {answered} created, {stored} stored")
    print(
        f"  {report.seconds:.1f} s: {report.attempts / report.seconds:.0f} attempts/s; latency "
        f"p50 {report.percentile(50) * 1000:.0f} ms, p99 {report.percentile(99) * 1000:.0f} ms"
    )
    if not report.exact:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
