"""What operators watch: /metrics behind its token, JSON log lines with request ids (also on the
jobs a request writes), and OpenTelemetry spans, from a real `booking-api serve`."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import select

from booking_api.logs import RequestIdFilter, formatter
from infra.db import Database
from infra.settings import Settings, SettingsError, SmtpSettings
from models import OutboxJob
from tests.helpers import (
    CREATE,
    Background,
    GraphQLClient,
    at,
    create_database,
    drop_database,
    make_tutor,
    monday,
    server_admin_url,
    token,
    weekly,
)
from tests.live_client import BOOKINGS, Live, data
from tests.processes import production_env, servers

METRICS_TOKEN = "metrics-token-for-tests"
REQUEST_ID = "req-test-0123456789"


@dataclass(frozen=True)
class Served:
    port: int
    log: Path


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """One server with metrics, JSON logs and console traces on, its output in a file."""
    admin = server_admin_url()
    url = create_database(admin, prefix="booking_operators")
    env = production_env(
        url,
        METRICS_TOKEN=METRICS_TOKEN,
        LOG_FORMAT="json",
        OTEL_TRACES_EXPORTER="console",
        OTEL_BSP_SCHEDULE_DELAY="100",
        BROADCAST_URL="postgresql://",
    )
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "server.log"
        try:
            with log.open("wb") as output, servers(env, count=1, output=output) as [port]:
                yield Served(port, log)
        finally:
            drop_database(admin, url)


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(
        f"http://127.0.0.1:{port}/metrics",
        headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def wait_for_gauge(port: int, name: str, expected: float, **labels: str) -> None:
    for _ in range(100):
        if value(await asyncio.to_thread(scrape, port), name, **labels) == expected:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name}{labels} never became {expected}")


def test_metrics_need_the_token(served: Served) -> None:
    url = f"http://127.0.0.1:{served.port}/metrics"
    assert httpx.get(url).status_code == 401
    wrong = httpx.get(url, headers={"Authorization": f"Bearer {METRICS_TOKEN}x"})
    assert (wrong.status_code, wrong.headers["www-authenticate"]) == (401, "Bearer")
    assert (
        "booking_db_pool_size"
        in httpx.get(url, headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    )


async def test_metrics_off_without_a_token(http: httpx.AsyncClient) -> None:
    response = await http.get("/metrics", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 404


async def test_counters_move_after_a_booking(served: Served) -> None:
    port = served.port
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        gql = GraphQLClient(client)
        ada = await make_tutor(gql, "ada-metrics", "UTC", weekly("00:00", "00:00"))
        service = (await ada.service(slotIntervalMinutes=60))["service"]
        before = await asyncio.to_thread(scrape, port)
        async with Live.connect(port, ada.token) as live:
            op = await live.subscribe(BOOKINGS, tutorId=ada.id)
            await wait_for_gauge(
                port, "booking_active_subscriptions", 1, subscription="bookingEvents"
            )
            book = CREATE.replace("mutation(", "mutation Book(", 1)
            start = at(monday(), 9)
            input = {
                "serviceId": service["id"],
                "tutorId": ada.id,
                "start": start,
                "timeZone": "UTC",
            }
            made = await gql(book, {"input": input}, token("kim"))
            assert made["createBooking"]["__typename"] == "BookingCreated"
            taken = await gql(book, {"input": input}, token("lou"))
            assert taken["createBooking"]["__typename"] == "SlotUnavailable"
            assert data(await live.message(), "bookingEvents")["booking"]["id"]
            await live.ws.send(json.dumps({"id": op, "type": "complete"}))
            await wait_for_gauge(
                port, "booking_active_subscriptions", 0, subscription="bookingEvents"
            )
    after = await asyncio.to_thread(scrape, port)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    ok = {"operation": "Book", "type": "mutation", "outcome": "ok"}
    assert moved("booking_graphql_operations_total", **ok) == 2
    assert moved("booking_graphql_operation_seconds_count", **ok) == 2
    assert moved("booking_booking_results_total", mutation="createBooking", result="BookingCreated")
    assert moved(
        "booking_booking_results_total", mutation="createBooking", result="SlotUnavailable"
    )
    # The booking's emails wait in the outbox (this server sends no email, but counts them).
    assert (
        value(after, "booking_outbox_jobs", kind="email.booking", state="pending")
        + value(after, "booking_outbox_jobs", kind="email.booking", state="done")
        >= 2
    )
    assert value(after, "booking_db_pool_size") == 10
    refused = {"operation": "anonymous", "type": "query", "outcome": "UNAUTHENTICATED"}
    response = await asyncio.to_thread(
        httpx.post,
        f"http://127.0.0.1:{port}/graphql",
        json={"query": "{ bookings { totalCount } }"},
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    last = await asyncio.to_thread(scrape, port)
    assert value(last, "booking_graphql_operations_total", **refused) == (
        value(after, "booking_graphql_operations_total", **refused) + 1
    )


def json_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    for line in path.read_text().splitlines():
        if line.startswith('{"level"'):
            lines.append(json.loads(line))
    return lines


def test_json_log_lines_carry_the_request_id(served: Served) -> None:
    response = httpx.get(
        f"http://127.0.0.1:{served.port}/healthz", headers={"X-Request-ID": REQUEST_ID}
    )
    assert response.headers["x-request-id"] == REQUEST_ID
    # An id that is not sane (spaces, too long) is replaced by one of ours.
    ours = httpx.get(
        f"http://127.0.0.1:{served.port}/healthz", headers={"X-Request-ID": "a b" * 100}
    ).headers["x-request-id"]
    assert len(ours) == 32
    for _ in range(50):
        mine = [line for line in json_lines(served.log) if line["request_id"] == REQUEST_ID]
        if mine:
            break
        time.sleep(0.1)
    assert mine, served.log.read_text()[-2000:]
    assert mine[0]["logger"] == "uvicorn.access"
    assert "/healthz" in mine[0]["message"]
    assert {"time", "level", "message"} <= set(mine[0])


def test_a_request_yields_spans(served: Served) -> None:
    httpx.post(
        f"http://127.0.0.1:{served.port}/graphql",
        json={"query": 'query Spans { tutor(id: "x") { id } }'},
    )
    names: set[str] = set()
    for _ in range(50):
        names = set(_span_names(served.log.read_text()))
        if {"POST /graphql", "GraphQL Query: Spans"} <= names:
            break
        time.sleep(0.1)
    assert {"POST /graphql", "GraphQL Query: Spans"} <= names, sorted(names)[:20]


def _span_names(text: str) -> list[str]:
    """The console exporter prints each span as an indented JSON object."""
    decoder = json.JSONDecoder()
    names, index = [], 0
    while (index := text.find('{\n    "name": ', index)) != -1:
        span, end = decoder.raw_decode(text, index)
        names.append(span["name"])
        index = end
    return names


async def test_jobs_log_with_the_request_id_that_wrote_them(
    settings: Settings, db: Database, http: httpx.AsyncClient
) -> None:
    gql = GraphQLClient(http)
    ada = await make_tutor(gql, "ada", "UTC", weekly("00:00", "00:00"))
    service = (await ada.service())["service"]
    input = {
        "serviceId": service["id"],
        "tutorId": ada.id,
        "start": at(monday(), 9),
        "timeZone": "UTC",
    }
    response = await http.post(
        "/graphql",
        json={"query": CREATE, "variables": {"input": input}},
        headers={"Authorization": f"Bearer {token('kim')}", "X-Request-ID": REQUEST_ID},
    )
    assert response.json()["data"]["createBooking"]["__typename"] == "BookingCreated"
    assert response.headers["x-request-id"] == REQUEST_ID
    async with db.session() as session:
        jobs = list(await session.exec(select(OutboxJob)))
    assert jobs
    assert {job.request_id for job in jobs} == {REQUEST_ID}

    # The email job fails (nothing listens on port 9): its log line names the request.
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(formatter("json"))
    jobs_log = logging.getLogger("booking_api.jobs")
    jobs_log.addHandler(handler)
    try:
        failing = replace(
            settings, smtp=SmtpSettings(host="127.0.0.1", port=9, sender="b@example.com")
        )
        await Background(failing, db).run()
    finally:
        jobs_log.removeHandler(handler)
    logged = [json.loads(line) for line in lines.getvalue().splitlines()]
    failed = [line for line in logged if "email.booking" in line["message"]]
    assert failed, logged
    assert {line["request_id"] for line in failed} == {REQUEST_ID}


def test_operator_settings_are_checked() -> None:
    assert Settings.from_env({}).observability.trace_exporters == ()
    assert Settings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}) \
        .observability.trace_exporters == ("otlp_proto_http",)  # fmt: skip
    assert Settings.from_env({"OTEL_TRACES_EXPORTER": "none"}).observability.trace_exporters == ()
    both = {"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}
    assert Settings.from_env(both).observability.trace_exporters == ()
    for env, variable in (
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"METRICS_TOKEN": "short"}, "METRICS_TOKEN"),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
    ):
        with pytest.raises(SettingsError, match=variable):
            Settings.from_env(env)
