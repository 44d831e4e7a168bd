"""Booking throughput through the GraphQL endpoint, beside pgbench on the same server.

    python -m bench.bookings [--requests 2000] [--concurrency 32] [--seconds 10] [--no-pgbench]

Loads 100 tutors (open all week, one 60-minute service each) and their students into a fresh
database (embedded, or DATABASE_URL's server), starts `booking-api serve`, then:
- distinct: every request books a different (tutor, hour) with a different student;
- one tutor: every request fights for the same tutor's 50 hours (most are refused);
then the floor (`bench.mutation_floor`: a trivial Strawberry mutation doing one insert, served
the same way) gets the distinct requests through the same client loop, and pgbench runs a
transaction of similar shape (lock one tutor row, insert one row) on the same database server
with the same number of clients, uniform and all on one row. The ratio reported is bookings/s
over the floor's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench import mutation_floor as floor
from bench.slots import serve
from bench.summary import Row, emit
from booking_api.migrate import upgrade
from infra.auth import mint_token
from infra.db import Database, create_engine, server_url
from infra.settings import Settings
from models import (
    AvailabilityRule,
    Schedule,
    Service,
    ServiceDuration,
    ServiceTutor,
    Student,
    Tutor,
)
from schema.node import encode_id
from tests.helpers import create_database, drop_database
from tests.processes import free_port

SECRET = "bench-secret-" + "b" * 40
TUTORS = 100
MUTATION = (
    """mutation($input: CreateBookingInput!) { createBooking(input: $input) { __typename } }"""
)


async def load(url: str, students: int) -> tuple[list[str], list[str]]:
    db = Database(create_engine(url, pool_size=2))
    tutor_ids = [uuid.uuid4() for _ in range(TUTORS)]
    service_ids = [uuid.uuid4() for _ in range(TUTORS)]
    now = datetime.now(UTC)  # the served app's clock
    async with db.transaction() as session:
        for i, (tutor_id, service_id) in enumerate(zip(tutor_ids, service_ids, strict=True)):
            tutor = Tutor(
                id=tutor_id, user_id=f"t{i}", display_name=f"T{i}", time_zone="UTC", created_at=now
            )
            session.add(tutor)
            session.add(
                Service(
                    id=service_id,
                    title="Lesson",
                    kind="SESSION",
                    slot_interval_minutes=60,
                    booking_window_days=365,
                    created_at=now,
                )
            )
        await session.flush()
        for tutor_id, service_id in zip(tutor_ids, service_ids, strict=True):
            schedule = Schedule(
                tutor_id=tutor_id, name="All week", time_zone="UTC", is_default=True, created_at=now
            )
            session.add(schedule)
            session.add(ServiceDuration(service_id=service_id, minutes=60, position=0))
            session.add(ServiceTutor(service_id=service_id, tutor_id=tutor_id, position=0))
            await session.flush()
            session.add_all(
                AvailabilityRule(
                    schedule_id=schedule.id,
                    weekday=d,
                    start_time=datetime.min.time(),
                    end_time=datetime.min.time(),
                )
                for d in range(7)
            )
        session.add_all(
            Student(
                user_id=f"s{i}", display_name=f"S{i}", email=f"s{i}@example.com", created_at=now
            )
            for i in range(students)
        )
    await db.engine.dispose()
    return [encode_id("Tutor", t) for t in tutor_ids], [
        encode_id("Service", s) for s in service_ids
    ]


async def hammer(
    port: int,
    inputs: list[tuple[str, dict[str, object]]],
    concurrency: int,
    mutation: str = MUTATION,
) -> tuple[float, dict[str, int]]:
    """Seconds to send every input over `concurrency` clients, and the result types seen."""
    outcomes: dict[str, int] = {}
    pending = iter(inputs)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits
    ) as client:

        async def worker() -> None:
            for who, input in pending:
                response = await client.post(
                    "/graphql",
                    json={"query": mutation, "variables": {"input": input}},
                    headers={"Authorization": f"Bearer {who}"},
                )
                body = response.json()
                data = body.get("data")
                kind = next(iter(data.values()))["__typename"] if data else "error"
                outcomes[kind] = outcomes.get(kind, 0) + 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - began, outcomes


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used (user and system), from /proc: how much of the machine one
    request costs, whatever else shares the machine (0 where /proc is missing)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pgbench(url: str, clients: int, seconds: int, contended: bool) -> float:
    """pgbench's transactions per second for: lock one tutor row, insert one row."""
    binary = shutil.which(
        "pgbench", path=os.pathsep.join([str(_pg_bin()), os.environ.get("PATH", "")])
    )
    assert binary, "pgbench not found"
    parsed = make_url(url)
    pick = "\\set t 1" if contended else f"\\set t random(1, {TUTORS})"
    script = f"""{pick}
BEGIN;
SELECT n FROM bench_pg_tutors WHERE n = :t FOR NO KEY UPDATE;
INSERT INTO bench_pg_bookings (tutor_n, at) VALUES (:t, now());
COMMIT;
"""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script)
    host = parsed.query.get("host") or parsed.host or "127.0.0.1"
    command = [
        binary,
        "-n",
        "-f",
        handle.name,
        "-c",
        str(clients),
        "-j",
        "2",
        "-T",
        str(seconds),
        "-h",
        str(host),
        "-p",
        str(parsed.port or 5432),
        "-U",
        parsed.username or "postgres",
        parsed.database or "postgres",
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    Path(handle.name).unlink()
    match = re.search(r"tps = ([0-9.]+)", out)
    assert match, out
    return float(match.group(1))


def _pg_bin() -> Path:
    import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


async def prepare_pgbench(url: str) -> None:
    db = Database(create_engine(url, pool_size=1))
    async with db.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE bench_pg_tutors (n int PRIMARY KEY)"))
        await connection.execute(
            text(f"INSERT INTO bench_pg_tutors SELECT generate_series(1, {TUTORS})")
        )
        await connection.execute(
            text(
                "CREATE TABLE bench_pg_bookings (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "
                "tutor_n int NOT NULL REFERENCES bench_pg_tutors, at timestamptz NOT NULL)"
            )
        )
    await db.engine.dispose()


def run(requests: int, concurrency: int, seconds: int, with_pgbench: bool) -> None:
    settings = Settings.from_env()
    admin = settings.database_url or server_url(settings)
    url = create_database(admin, prefix="booking_bench")
    try:
        upgrade(url)
        tutors, services = asyncio.run(load(url, requests * 2))
        tokens = [mint_token(SECRET, f"s{i}") for i in range(requests * 2)]
        day = (datetime.now(UTC) + timedelta(days=7)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )

        def input(tutor: int, hour: int) -> dict[str, object]:
            start = day + timedelta(hours=hour)
            return {
                "serviceId": services[tutor],
                "tutorId": tutors[tutor],
                "start": start.isoformat(),
                "timeZone": "UTC",
            }

        distinct = [(tokens[i], input(i % TUTORS, i // TUTORS)) for i in range(requests)]
        fight = [(tokens[requests + i], input(0, i % 50)) for i in range(requests)]
        print(
            f"GraphQL createBooking, one uvicorn worker, {concurrency} clients, "
            f"{requests} requests each"
        )
        ours = ours_cpu = 0.0
        port = free_port()
        server = serve(url, port)
        try:
            for name, inputs in (
                ("distinct slots, 100 tutors", distinct),
                ("everyone on one tutor", fight),
            ):
                used = cpu_seconds(server.pid)
                took, outcomes = asyncio.run(hammer(port, inputs, concurrency))
                used = cpu_seconds(server.pid) - used
                made = outcomes.get("BookingCreated", 0)
                print(
                    f"  {name:28} {len(inputs) / took:7.1f} requests/s   "
                    f"{made / took:7.1f} bookings/s   "
                    f"{used / len(inputs) * 1000:5.1f} ms server CPU/request   {outcomes}"
                )
                if name.startswith("distinct"):
                    ours, ours_cpu = made / took, used / len(inputs) * 1000
        finally:
            server.terminate()
            server.wait(timeout=30)
        floor_rate, floor_cpu = measure_floor(url, distinct, concurrency)
        print(f"ours / floor (distinct slots vs trivial mutation): {ours / floor_rate:.1%}")
        emit(
            Row(
                "bookings",
                f"createBooking, {concurrency} clients",
                f"{ours:.1f}/s",
                f"{floor_rate:.1f}/s trivial mutation",
                f"{ours / floor_rate:.1%}",
            )
        )
        if (
            floor_cpu > 0 < ours_cpu
        ):  # the same comparison in CPU: what the machine's load does not move
            emit(
                Row(
                    "bookings",
                    "server CPU per request",
                    f"{ours_cpu:.1f} ms",
                    f"{floor_cpu:.1f} ms trivial mutation",
                    f"{floor_cpu / ours_cpu:.1%}",
                )
            )
        if with_pgbench:
            compare_pgbench(url, concurrency, seconds, ours)
    finally:
        drop_database(admin, url)


def measure_floor(
    url: str, inputs: list[tuple[str, dict[str, object]]], concurrency: int
) -> tuple[float, float]:
    """Requests/s of the trivial mutation (`bench.mutation_floor`) given the same inputs, and its
    server's CPU milliseconds per request."""
    port = free_port()
    server = floor.serve(url, port)
    try:
        used = cpu_seconds(server.pid)
        took, outcomes = asyncio.run(hammer(port, inputs, concurrency, floor.MUTATION))
        used = cpu_seconds(server.pid) - used
    finally:
        server.terminate()
        server.wait(timeout=30)
    rate = outcomes.get("Booked", 0) / took
    print(
        f"  {'trivial mutation (floor)':28} {rate:7.1f} requests/s   "
        f"{used / len(inputs) * 1000:5.1f} ms server CPU/request   {outcomes}"
    )
    return rate, used / len(inputs) * 1000


def compare_pgbench(url: str, concurrency: int, seconds: int, ours: float) -> None:
    asyncio.run(prepare_pgbench(url))
    print(
        f"pgbench, same server, {concurrency} clients, {seconds} s: lock a tutor row, insert a row"
    )
    uniform = pgbench(url, concurrency, seconds, contended=False)
    single = pgbench(url, concurrency, seconds, contended=True)
    print(f"  {'uniform over 100 tutors':28} {uniform:7.1f} tps")
    print(f"  {'all on one tutor row':28} {single:7.1f} tps")
    print(f"ours / pgbench (distinct slots vs uniform): {ours / uniform:.1%}")
    emit(
        Row(
            "bookings",
            f"createBooking vs pgbench, {concurrency} clients",
            f"{ours:.1f}/s",
            f"{uniform:.1f} tps pgbench",
            f"{ours / uniform:.1%}",
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10, help="pgbench run length")
    parser.add_argument("--no-pgbench", action="store_true", help="skip the pgbench comparison")
    args = parser.parse_args()
    run(args.requests, args.concurrency, args.seconds, not args.no_pgbench)


if __name__ == "__main__":
    main()
