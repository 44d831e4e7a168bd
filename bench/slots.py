"""Slot benchmark on the shared input (../shared/bench/slot-bench-input.json).

    python -m bench.slots [--runs 200] [--requests 200] [--input PATH]

Prints, for one tutor and for ten (an aggregated search): the slot count (and distinct starts),
the engine alone (median and p95 over --runs after warm-up); the engine over 50 tutors and 365
days (the input's ten tutors and 60 days repeated, below), checked against each tutor's own
search; then the same searches through `availableSlots` over HTTP on loopback against a real
`booking-api serve` process, once the data is loaded into a fresh database (embedded
PostgreSQL, or DATABASE_URL's server): one tutor, ten, and ten with groupByStart, each beside
the engine alone on the same search (the server's clock) measured in the same run, and their
ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time as clock
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import httpx

from bench.slots_year import BLOCKER, TUTORS, YEAR, engine_year_case, timed
from bench.summary import Row, emit
from booking_api.migrate import upgrade
from domain.slots import Busy, Hours, Offer, Override, Rule, free_slots_of
from infra.db import Database, create_engine, server_url
from infra.settings import Settings
from models import (
    AvailabilityOverride,
    AvailabilityRule,
    Booking,
    BookingStatus,
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

DEFAULT_INPUT = Path(__file__).resolve().parents[2] / "shared" / "bench" / "slot-bench-input.json"
SECRET = "bench-secret-" + "b" * 40
DATA_KEY = "w54OrT6AkhpQGoEE0RA1ol8gAXbi34Q5psJWUsv1pwM="  # a Fernet key
SERVICE = uuid.UUID(int=1)


@dataclass(frozen=True)
class Input:
    zone: str
    viewer_zone: str
    start: datetime
    end: datetime
    rules: list[Rule]
    overrides: list[Override]
    offer: Offer
    bookings: list[list[tuple[datetime, datetime]]]  # per host


def _parse_time(text: str) -> time:
    return time.fromisoformat(text)


def read_input(path: Path) -> Input:
    data = json.loads(path.read_text())
    rules = [
        Rule(day - 1, _parse_time(block["startTime"]), _parse_time(block["endTime"]))
        for block in data["workingHours"]
        for day in block["days"]
    ]
    overrides: list[Override] = []
    for item in data["dateOverrides"]:
        on = date.fromisoformat(item["date"])
        overrides.append(Override(on, None, None, False))  # blocked, or "other hours that day"
        if item["kind"] == "changed-hours":
            overrides.append(
                Override(on, _parse_time(item["startTime"]), _parse_time(item["endTime"]), True)
            )
    event = data["eventType"]
    offer = Offer(
        service_id=SERVICE,
        duration_minutes=event["length"],
        interval_minutes=event["slotInterval"],
        buffer_before_minutes=event["beforeEventBuffer"],
        buffer_after_minutes=event["afterEventBuffer"],
        capacity=1,
        notice_minutes=event["minimumBookingNotice"],
        window_days=365,
    )

    def instant(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    return Input(
        zone=data["organizerTimeZone"],
        viewer_zone=data["bookerTimeZone"],
        start=instant(data["range"]["startTime"]),
        end=instant(data["range"]["endTime"]),
        rules=rules,
        overrides=overrides,
        offer=offer,
        bookings=[
            [(instant(b["start"]), instant(b["end"])) for b in host["bookings"]]
            for host in data["hosts"]
        ],
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def median_ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000


def figures(seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return f"median {statistics.median(ms):7.2f} ms   p95 {percentile(ms, 0.95):7.2f} ms"


def engine_case(
    data: Input, hosts: int, runs: int, now: datetime | None = None
) -> tuple[int, int, list[float]]:
    """The engine alone on the input's first `hosts` tutors (`now`: the range's start)."""
    hours = Hours(data.zone, data.rules, data.overrides)
    calendars = [
        (i, hours, [Busy(a, b, BLOCKER, BookingStatus.CONFIRMED) for a, b in data.bookings[i]])
        for i in range(hosts)
    ]
    at = now or data.start

    def once() -> list[Any]:
        return free_slots_of(calendars, data.offer, start=data.start, end=data.end, now=at)

    found, times = timed(once, runs)
    return len(found), len({slot.start for _, slot in found}), times


# ---------------------------------------------------------------- over HTTP


async def load(url: str, data: Input) -> tuple[str, list[str]]:
    """The input as rows: ten tutors on one service, their bookings on a zero-buffer service."""
    db = Database(create_engine(url, pool_size=2))
    tutor_ids = [uuid.uuid4() for _ in data.bookings]
    now = datetime.now(UTC)  # the served app's clock
    async with db.transaction() as session:
        student = Student(display_name="Bench", email="bench@example.com", created_at=now)
        session.add(student)
        session.add_all(
            Tutor(
                id=t,
                user_id=f"bench-{i}",
                display_name=f"Tutor {i}",
                time_zone=data.zone,
                created_at=now,
            )
            for i, t in enumerate(tutor_ids)
        )
        offer = data.offer
        service = Service(
            title="Bench",
            kind="SESSION",
            buffer_before_minutes=offer.buffer_before_minutes,
            buffer_after_minutes=offer.buffer_after_minutes,
            slot_interval_minutes=offer.interval_minutes,
            minimum_notice_minutes=offer.notice_minutes,
            booking_window_days=offer.window_days,
            created_at=now,
        )
        blocker = Service(title="Elsewhere", kind="SESSION", created_at=now)
        session.add_all([service, blocker])
        await session.flush()
        session.add(
            ServiceDuration(service_id=service.id, minutes=offer.duration_minutes, position=0)
        )
        session.add(ServiceDuration(service_id=blocker.id, minutes=60, position=0))
        for i, tutor_id in enumerate(tutor_ids):
            session.add(ServiceTutor(service_id=service.id, tutor_id=tutor_id, position=i))
            schedule = Schedule(
                tutor_id=tutor_id,
                name="Hours",
                time_zone=data.zone,
                is_default=True,
                created_at=now,
            )
            session.add(schedule)
            await session.flush()
            session.add_all(
                AvailabilityRule(
                    schedule_id=schedule.id, weekday=r.weekday, start_time=r.start, end_time=r.end
                )
                for r in data.rules
            )
            session.add_all(
                AvailabilityOverride(
                    schedule_id=schedule.id,
                    on_date=o.on_date,
                    start_time=o.start,
                    end_time=o.end,
                    available=o.available,
                    created_at=now,
                )
                for o in data.overrides
            )
            session.add_all(
                Booking(
                    service_id=blocker.id,
                    tutor_id=tutor_id,
                    student_id=student.id,
                    status=BookingStatus.CONFIRMED,
                    start_at=a,
                    end_at=b,
                    block_start=a,
                    block_end=b,
                    created_at=now,
                )
                for a, b in data.bookings[i]
            )
    await db.engine.dispose()
    return encode_id("Service", service.id), [encode_id("Tutor", t) for t in tutor_ids]


QUERY = """query($input: SlotSearchInput!) { availableSlots(input: $input) {
  slots { start end tutor { id } } days { date slotCount } } }"""


async def http_case(
    port: int, variables: dict[str, Any], requests: int, concurrency: int
) -> tuple[int, list[float], float]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:

        async def once() -> tuple[float, int]:
            began = clock.perf_counter()
            response = await client.post("/graphql", json={"query": QUERY, "variables": variables})
            body = response.json()
            assert "errors" not in body, body["errors"]
            return clock.perf_counter() - began, len(body["data"]["availableSlots"]["slots"])

        for _ in range(10):
            _, count = await once()
        latencies = [(await once())[0] for _ in range(requests)]

        pending = iter(range(requests))

        async def worker() -> None:
            for _ in pending:
                await once()

        began = clock.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        rate = requests / (clock.perf_counter() - began)
    return count, latencies, rate


def production_env(url: str) -> dict[str, str]:
    """A process on `url` with the fixed secrets production requires."""
    return dict(
        os.environ,
        DATABASE_URL=url,
        AUTH_JWT_SECRET=SECRET,
        DATA_ENCRYPTION_KEY=DATA_KEY,
        LOG_LEVEL="WARNING",
    )


def serve(url: str, port: int) -> subprocess.Popen[bytes]:
    env = production_env(url)
    process = subprocess.Popen(
        [sys.executable, "-m", "booking_api", "serve", "--port", str(port)], env=env
    )
    deadline = clock.monotonic() + 60
    # Our own server, not another process already on the port.
    while clock.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            clock.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT)
    parser.add_argument("--runs", type=int, default=200, help="engine runs per case (200)")
    parser.add_argument("--requests", type=int, default=200, help="HTTP requests per case (200)")
    parser.add_argument("--concurrency", type=int, default=8, help="HTTP clients for throughput")
    args = parser.parse_args()
    data = read_input(args.input)

    print(f"input: {args.input.name}, {data.zone} -> viewer {data.viewer_zone}")
    print(f"range {data.start:%Y-%m-%d} .. {data.end:%Y-%m-%d}, now = range start\n")
    print("engine alone (in process)")
    for hosts in (1, 10):
        slots, starts, times = engine_case(data, hosts, args.runs)
        distinct = f", {starts} distinct starts" if hosts > 1 else ""
        print(f"  {hosts:2} tutor(s): {slots} slots{distinct}; {figures(times)} ({args.runs} runs)")
    year_runs = max(5, args.runs // 20)
    slots, starts, same, times = engine_year_case(data, year_runs)
    print(
        f"  {TUTORS} tutors x {YEAR} days: {slots} slots, {starts} distinct starts "
        f"({'the same as' if same else 'NOT the same as'} each tutor's own search); "
        f"{figures(times)} ({year_runs} runs)"
    )

    settings = Settings.from_env()
    admin = settings.database_url or server_url(settings)
    url = create_database(admin, prefix="booking_bench")
    port = free_port()
    try:
        upgrade(url)
        service_id, tutor_ids = asyncio.run(load(url, data))
        server = serve(url, port)
        try:
            print(
                f"\navailableSlots over HTTP (one uvicorn worker; {args.requests} sequential "
                f"requests, then {args.concurrency} clients for throughput), beside the engine "
                "alone on the same search (the server's clock), measured just before it"
            )
            cases: list[tuple[str, int, dict[str, object]]] = [
                ("1 tutor", 1, {"tutorId": tutor_ids[0]}),
                ("10 tutors", 10, {}),
            ]
            cases.append(("10 tutors, groupByStart", 10, {"groupByStart": True}))
            for name, hosts, extra in cases:
                variables = {
                    "input": {
                        "serviceId": service_id,
                        "from": data.start.isoformat(),
                        "to": data.end.isoformat(),
                        "timeZone": data.viewer_zone,
                        **extra,
                    }
                }
                _, _, floor = engine_case(data, hosts, args.runs, datetime.now(UTC))
                count, latencies, rate = asyncio.run(
                    http_case(port, variables, args.requests, args.concurrency)
                )
                ratio = median_ms(latencies) / median_ms(floor)
                print(
                    f"  {name:24} {count:5} slots; {figures(latencies)}; {rate:6.1f} req/s; "
                    f"engine {median_ms(floor):6.2f} ms; HTTP/engine {ratio:5.1f}x"
                )
                emit(
                    Row(
                        "slots",
                        f"availableSlots, {name}, median",
                        f"{median_ms(latencies):.2f} ms",
                        f"{median_ms(floor):.2f} ms engine alone",
                        f"{ratio:.1f}x",
                    )
                )
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        drop_database(admin, url)


if __name__ == "__main__":
    main()
