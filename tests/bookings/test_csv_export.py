"""Query.bookingsCsvUrl and the CSV behind it: content in the asked zone, the refusals of a link,
formula escaping, and a large export streamed in bounded memory."""

from __future__ import annotations

import asyncio
import csv
import io
import tracemalloc
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import text

from booking_api.app import build_app
from infra.db import Database
from infra.settings import Settings
from tests.helpers import (
    CLOCK,
    SAM,
    GraphQLClient,
    at,
    book,
    monday,
    pk,
    setup_lessons,
    token,
)

URL = """query($filter: BookingFilter, $tz: TimeZone!) {
  bookingsCsvUrl(filter: $filter, timeZone: $tz) }"""
BASE = "http://127.0.0.1:8000"


async def link(gql: GraphQLClient, who: str, tz: str = "UTC", **filter: Any) -> str:
    url: str = (await gql(URL, {"filter": filter or None, "tz": tz}, who))["bookingsCsvUrl"]
    assert url.startswith(f"{BASE}/exports/bookings.csv?token=")
    return url.removeprefix(BASE)


def rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"), newline="")))


async def test_content_in_the_given_zone_and_only_what_the_viewer_may_see(
    gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    ada, service, sam = await setup_lessons(gql)
    day = monday()
    made = await book(gql, sam, serviceId=service, start=at(day, 9), durationMinutes=60)
    other = await book(gql, sam, serviceId=service, start=at(day, 11), durationMinutes=60)
    assert made["__typename"] == other["__typename"] == "BookingCreated"
    stranger = token("eve", name="Eve")

    response = await http.get(await link(gql, ada.token, "America/New_York"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv; charset=utf-8")
    assert response.content.startswith(b"id,status,service,tutor,student_name,")
    assert response.content.endswith(b"\r\n") and response.content.split(b"\n")[0].endswith(b"\r")
    got = rows(response.content)
    first = got[0]
    assert [r["id"] for r in got] == [made["booking"]["id"], other["booking"]["id"]]
    assert first["status"] == "CONFIRMED" and first["service"] == "Piano"
    assert first["tutor"] == "Ada" and first["student_name"] == "Sam"
    assert first["student_email"] == SAM
    # 09:00 UTC in New York: 04:00 or 05:00 by the season, with its offset.
    new_york = datetime.fromisoformat(at(day, 9)).astimezone(ZoneInfo("America/New_York"))
    assert first["start"] == new_york.isoformat()
    assert first["end"] == (new_york + timedelta(hours=1)).isoformat()
    assert first["duration_minutes"] == "60" and first["reschedule_count"] == "0"
    assert first["form_status"] == "NONE" and first["package_id"] == ""

    # The same filter code as bookings(filter:), here as the student.
    mine = rows((await http.get(await link(gql, sam, "UTC", **{"from": at(day, 10)}))).content)
    assert [r["id"] for r in mine] == [other["booking"]["id"]]
    assert mine[0]["start"] == at(day, 11)
    # A stranger's export has the header and nothing else.
    assert rows((await http.get(await link(gql, stranger))).content) == []


async def test_refusals_expired_altered_another_users(
    gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    ada, service, sam = await setup_lessons(gql)
    await book(gql, sam, serviceId=service, start=at(monday(), 9), durationMinutes=60)
    path = await link(gql, ada.token)

    # The viewer who made it, with or without saying who they are.
    assert (await http.get(path)).status_code == 200
    mine = {"Authorization": f"Bearer {ada.token}"}
    assert (await http.get(path, headers=mine)).status_code == 200
    # Another user presenting it.
    theirs = {"Authorization": f"Bearer {sam}"}
    assert (await http.get(path, headers=theirs)).status_code == 404
    # Altered: one character of the signature, or the payload.
    altered = path[:-1] + ("A" if path[-1] != "A" else "B")
    assert (await http.get(altered)).status_code == 404
    head, payload, signature = path.split("?token=")[1].split(".")
    forged = f"/exports/bookings.csv?token={head}.{payload[:-2]}xx.{signature}"
    assert (await http.get(forged)).status_code == 404
    assert (await http.get("/exports/bookings.csv")).status_code == 404
    # A bearer token is not a link, nor the reverse.
    assert (await http.get(f"/exports/bookings.csv?token={ada.token}")).status_code == 404
    link_token = path.split("?token=")[1]
    bad = await gql.raw("{ viewer { userId } }", token=link_token)
    assert bad.get("errors")
    # Expired on the test clock: good at 9 minutes 59, gone at 10 minutes.
    CLOCK.set(CLOCK() + timedelta(minutes=9, seconds=58))
    assert (await http.get(path)).status_code == 200
    CLOCK.set(CLOCK() + timedelta(seconds=3))
    assert (await http.get(path)).status_code == 404


async def test_a_bad_filter_or_zone_is_refused_before_any_link(gql: GraphQLClient) -> None:
    ada, _, _ = await setup_lessons(gql)
    error = await gql.error(URL, {"filter": {"search": "x" * 201}, "tz": "UTC"}, ada.token)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    error = await gql.error(URL, {"tz": "Mars/Olympus"}, ada.token)
    assert "Unknown time zone" in error["message"]
    error = await gql.error(URL, {"tz": "UTC"})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_formula_injection_is_escaped(
    gql: GraphQLClient, http: httpx.AsyncClient, db: Database
) -> None:
    ada, service, sam = await setup_lessons(gql)
    made = await book(gql, sam, serviceId=service, start=at(monday(), 9), durationMinutes=60)
    booking = pk(made["booking"]["id"])
    async with db.engine.begin() as connection:
        await connection.execute(
            text("UPDATE students SET display_name = '=HYPERLINK(\"x\")', email = '+1@x.io'")
        )
        await connection.execute(
            text("UPDATE bookings SET cancellation_reason = :r WHERE id = :id"),
            {"r": '@SUM(A1)\r\n-2, "quoted"', "id": booking},
        )
        await connection.execute(text("UPDATE services SET title = E'\\tTab'"))
    got = rows((await http.get(await link(gql, ada.token))).content)[0]
    assert got["student_name"] == '\'=HYPERLINK("x")'
    assert got["student_email"] == "'+1@x.io"
    assert got["cancellation_reason"] == '\'@SUM(A1)\r\n-2, "quoted"'
    assert got["service"] == "'\tTab"
    assert got["tutor"] == "Ada"


class Sink:
    """An ASGI client that throws each body chunk away: what the server holds is what is
    measured, not a client's copy of the file."""

    def __init__(self) -> None:
        self.status = 0
        self.size = 0
        self.chunks = 0
        self.lines = 0
        self.asked = False

    async def receive(self) -> dict[str, Any]:
        if self.asked:  # the client stays connected until the response ends
            await asyncio.Event().wait()
        self.asked = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            self.size += len(body)
            self.lines += body.count(b"\r\n")
            self.chunks += 1


async def test_ten_thousand_rows_stream_in_bounded_memory(
    gql: GraphQLClient, settings: Settings, db: Database
) -> None:
    ada, service, sam = await setup_lessons(gql)
    made = await book(gql, sam, serviceId=service, start=at(monday(), 9), durationMinutes=60)
    booking = pk(made["booking"]["id"])
    async with db.engine.begin() as connection:
        # Copies of the booking an hour apart, straight in SQL: the API would take minutes.
        await connection.execute(
            text(
                """INSERT INTO bookings (id, service_id, tutor_id, student_id, status, start_at,
                  end_at, block_start, block_end, duration_minutes, student_time_zone,
                  reschedule_count, reminders_enabled, created_at, cancellation_reason)
                SELECT gen_random_uuid(), service_id, tutor_id, student_id, status,
                  start_at + n * interval '1 hour', end_at + n * interval '1 hour',
                  block_start + n * interval '1 hour', block_end + n * interval '1 hour',
                  duration_minutes, student_time_zone, reschedule_count, reminders_enabled,
                  created_at, repeat('x', 200)
                FROM bookings, generate_series(1, 9999) AS n WHERE id = :id"""
            ),
            {"id": booking},
        )
    path = await link(gql, ada.token, "Europe/Paris")
    app = build_app(settings, db, clock=CLOCK)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path.split("?")[0],
        "raw_path": path.split("?")[0].encode(),
        "query_string": path.split("?")[1].encode(),
        "headers": [(b"host", b"test")],
        "server": ("test", 80),
        "client": ("127.0.0.1", 1234),
        "root_path": "",
    }
    await app(scope, Sink().receive, Sink().send)  # type: ignore[arg-type]  # warm: caches
    sink = Sink()
    tracemalloc.start()
    try:
        await app(scope, sink.receive, sink.send)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.status == 200
    assert sink.lines == 10_001  # the header and every booking
    assert sink.chunks >= 10_000 // 500  # a chunk per batch, not one body
    # The file is ~3.7 MB; the server's peak (~1.4 MB measured: one batch of rows, its text and
    # bytes) is a batch's, where holding every row would be several times the file.
    assert sink.size > 3_000_000
    assert peak < sink.size / 2, (peak, sink.size)
