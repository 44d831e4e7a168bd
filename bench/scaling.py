"""Bookings and slot searches through 1, 2 and 4 `serve` processes on one database.

    python -m bench.scaling [--processes 1,2,4] [--requests 1000] [--searches 1000]
                            [--concurrency 32]

For each process count: a fresh database on the suite's server (embedded, or DATABASE_URL's),
`bench.bookings`' 100 tutors (open all week, one 60-minute service each) and their students,
that many `serve` processes, and the same `--concurrency` clients sent round-robin over them:
first `--requests` bookings of distinct (tutor, hour) pairs, then `--searches` one-tutor,
one-week `availableSlots` searches. Prints the rates, the servers' CPU per request (which the
machine's other load does not move), the peak connections the processes held (pg_stat_activity),
and per booking the rows stored and the WAL written (the whole server's WAL: on a shared server
other work counts too). With DATABASE_URL at PgBouncer and DATABASE_DIRECT_URL set, the servers
go through the pooler and the connections counted are the pooler's to PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from bench.bookings import MUTATION, TUTORS, cpu_seconds, load
from bench.summary import Row, emit
from booking_api.migrate import upgrade
from tests.helpers import create_database, direct_of, drop_database, server_admin_url, token
from tests.processes import PIDS, production_env, servers

Request = tuple[str | None, str, dict[str, object]]  # (token, document, variables)
WRITTEN = ("bookings", "booking_history", "outbox")
SEARCH = """query($input: SlotSearchInput!) { availableSlots(input: $input) {
  __typename slots { start end tutor { id } } days { date slotCount } } }"""


async def fire(
    ports: list[int], requests: list[Request], concurrency: int
) -> tuple[float, Counter[str]]:
    """Seconds to send every request, round-robin over the ports, and the answers' types."""
    outcomes: Counter[str] = Counter()
    pending = iter(enumerate(requests))
    limits = httpx.Limits(max_connections=concurrency)
    clients = [
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{p}", timeout=120, limits=limits)
        for p in ports
    ]

    async def worker() -> None:
        for i, (who, document, variables) in pending:
            headers = {"Authorization": f"Bearer {who}"} if who else {}
            response = await clients[i % len(clients)].post(
                "/graphql", json={"query": document, "variables": variables}, headers=headers
            )
            data = response.json().get("data")
            outcomes[str(next(iter(data.values()))["__typename"]) if data else "error"] += 1

    began = time.perf_counter()
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        for client in clients:
            await client.aclose()
    return time.perf_counter() - began, outcomes


async def measured(
    url: str, ports: list[int], requests: list[Request], concurrency: int
) -> tuple[float, Counter[str], float, int, int]:
    """fire(), with the servers' CPU seconds, the peak backends on the database while it ran, and
    the WAL bytes the server wrote meanwhile."""
    connection = await asyncpg.connect(url, statement_cache_size=0)
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()"
    )
    peak = 0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        while not done.is_set():
            n = await connection.fetchval(query)
            peak = max(peak, int(n))
            await asyncio.sleep(0.1)

    try:
        print(f"  {await connection.fetchval(query)} connections before", flush=True)
        wal = await connection.fetchval("SELECT pg_current_wal_lsn()")
        cpu = sum(cpu_seconds(PIDS[p]) for p in ports)
        watcher = asyncio.create_task(watch())
        took, outcomes = await fire(ports, requests, concurrency)
        done.set()
        await watcher
        cpu = sum(cpu_seconds(PIDS[p]) for p in ports) - cpu
        written = await connection.fetchval("SELECT pg_current_wal_lsn() - $1::pg_lsn", wal)
    finally:
        await connection.close()
    return took, outcomes, cpu, peak, int(written)


async def rows_written(url: str) -> dict[str, int]:
    connection = await asyncpg.connect(url, statement_cache_size=0)
    try:
        return {t: int(await connection.fetchval(f"SELECT count(*) FROM {t}")) for t in WRITTEN}
    finally:
        await connection.close()


def run(processes: int, requests: int, searches: int, concurrency: int) -> None:
    admin = server_admin_url()
    url = create_database(admin, prefix="booking_scaling")
    direct = direct_of(url) or url  # past PgBouncer, when DATABASE_DIRECT_URL is set
    try:
        upgrade(direct)
        tutors, services = asyncio.run(load(direct, requests))
        day = (datetime.now(UTC) + timedelta(days=7)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        books: list[Request] = [
            (
                token(f"s{i}"),
                MUTATION,
                {
                    "input": {
                        "serviceId": services[i % TUTORS],
                        "tutorId": tutors[i % TUTORS],
                        "start": (day + timedelta(hours=i // TUTORS)).isoformat(),
                        "timeZone": "UTC",
                    }
                },
            )
            for i in range(requests)
        ]
        week = {"from": day.isoformat(), "to": (day + timedelta(days=7)).isoformat()}
        looks: list[Request] = [
            (
                None,
                SEARCH,
                {
                    "input": {
                        "serviceId": services[i % TUTORS],
                        "tutorId": tutors[i % TUTORS],
                        "timeZone": "UTC",
                        **week,
                    }
                },
            )
            for i in range(searches)
        ]
        with servers(production_env(url), count=processes) as ports:
            took, outcomes, cpu, peak, wal = asyncio.run(
                measured(direct, ports, books, concurrency)
            )
            made = outcomes["BookingCreated"]
            rows = asyncio.run(rows_written(direct))
            print(
                f"{processes} process(es), {concurrency} clients: {made / took:6.1f} bookings/s "
                f"({dict(outcomes)}), {cpu / requests * 1000:.1f} ms server CPU/booking, peak "
                f"{peak} connections; per booking {rows_per(rows, made)} rows, "
                f"{wal / max(made, 1) / 1024:.1f} KiB WAL",
                flush=True,
            )
            emit(Row("scaling", f"bookings/s, {processes} process(es)", f"{made / took:.1f}/s"))
            took, outcomes, cpu, peak, _ = asyncio.run(measured(direct, ports, looks, concurrency))
            print(
                f"{processes} process(es), {concurrency} clients: "
                f"{outcomes['SlotSearch'] / took:6.1f} searches/s ({dict(outcomes)}), "
                f"{cpu / searches * 1000:.1f} ms server CPU/search, peak {peak} connections",
                flush=True,
            )
            emit(
                Row(
                    "scaling",
                    f"searches/s, {processes} process(es)",
                    f"{outcomes['SlotSearch'] / took:.1f}/s",
                )
            )
    finally:
        drop_database(admin, url)


def rows_per(rows: dict[str, int], made: int) -> str:
    return " + ".join(f"{rows[t] / max(made, 1):.0f} {t}" for t in WRITTEN)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", default="1,2,4", help="process counts, comma-separated")
    parser.add_argument("--requests", type=int, default=1000, help="bookings per process count")
    parser.add_argument("--searches", type=int, default=1000, help="searches per process count")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    for processes in (int(n) for n in args.processes.split(",")):
        run(processes, args.requests, args.searches, args.concurrency)


if __name__ == "__main__":
    main()
