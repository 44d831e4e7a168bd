"""The time budget and writes: a write transaction is bounded by the database for the time left,
and once it has committed the answer always reports it (never TIMEOUT for a stored booking)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from booking_api.app import build_app
from infra.db import Database, Messages, Publish
from infra.settings import QueryLimits, Settings
from tests.bookings.test_bulk import BULK
from tests.helpers import CREATE, GraphQLClient, Tutor, at, book, make_tutor, monday, pk, token

# Room for a booking's own work on a loaded machine (at 1 s, one ran out before its transaction).
BUDGET = 2.0
SLOW_COMMIT = """
CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep({seconds}); RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON bookings
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();
"""


@pytest.fixture
async def lesson(gql: GraphQLClient) -> tuple[Tutor, str]:
    """A tutor and their service, made with the suite's budget."""
    ada = await make_tutor(gql, "ada")
    return ada, (await ada.service(slotIntervalMinutes=60))["service"]["id"]


async def hasty(
    settings: Settings,
    db: Database,
    query: str,
    variables: dict[str, Any],
    who: str,
    publish: Publish | None = None,
) -> dict[str, Any]:
    """One operation through an app whose budget is BUDGET: its whole answer."""
    limited = Settings(
        database_url=settings.database_url,
        auth_jwt_secret=settings.auth_jwt_secret,
        limits=QueryLimits(timeout_seconds=BUDGET),
    )
    app = build_app(limited, Database(db.engine, publish) if publish else db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        return await GraphQLClient(client).raw(query, variables, who)


async def create_booking(
    settings: Settings, db: Database, lesson: tuple[Tutor, str], publish: Publish | None = None
) -> dict[str, Any]:
    """One createBooking through an app whose budget is BUDGET: its whole answer."""
    tutor, service_id = lesson
    input = {
        "serviceId": service_id,
        "tutorId": tutor.id,
        "start": at(monday(3), 10),
        "timeZone": "UTC",
    }
    return await hasty(settings, db, CREATE, {"input": input}, token("sam"), publish)


async def stored_bookings(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM bookings")
        return count
    finally:
        await conn.close()


@pytest.fixture
async def admin(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the test's own; the slow-commit trigger is dropped at the end."""
    conn = await asyncpg.connect(database_url)
    try:
        yield conn
    finally:
        await conn.execute(
            "DROP TRIGGER IF EXISTS slow_commit ON bookings; DROP FUNCTION IF EXISTS slow_commit()"
        )
        await conn.close()


def timed_out(answer: dict[str, Any]) -> None:
    assert [e["extensions"] for e in answer["errors"]] == [{"code": "TIMEOUT", "seconds": BUDGET}]


async def test_work_after_the_commit_outlasting_the_budget_still_answers_the_booking(
    settings: Settings, db: Database, lesson: tuple[Tutor, str], database_url: str
) -> None:
    """Live updates are published after the commit; here that takes longer than the whole
    budget. Before the fix the asyncio cancellation landed there and the client was told
    TIMEOUT for a booking that was stored; now the committed booking is the answer."""

    async def slow_publish(messages: Messages) -> None:
        await asyncio.sleep(BUDGET * 1.5)

    answer = await create_booking(settings, db, lesson, slow_publish)
    assert "errors" not in answer
    created = answer["data"]["createBooking"]
    assert created["__typename"] == "BookingCreated"
    assert await stored_bookings(database_url) == 1


async def test_a_slow_commit_within_the_budget_answers_the_booking(
    settings: Settings, db: Database, lesson: tuple[Tutor, str], database_url: str, admin: Any
) -> None:
    await admin.execute(SLOW_COMMIT.format(seconds=0.3))
    answer = await create_booking(settings, db, lesson)
    assert answer["data"]["createBooking"]["__typename"] == "BookingCreated"
    assert await stored_bookings(database_url) == 1


async def test_a_commit_slower_than_the_whole_budget_answers_the_stored_booking(
    settings: Settings, db: Database, lesson: tuple[Tutor, str], database_url: str, admin: Any
) -> None:
    """PostgreSQL (16) does not apply statement_timeout to a COMMIT's deferred triggers (measured:
    a 500 ms timeout, a COMMIT of 2 s, committed), so a commit cannot be stopped truthfully by
    anyone: it runs to its end and the answer reports what it did. Before the fix the asyncio
    cancellation landed in the COMMIT, and the client was told TIMEOUT for a stored booking."""
    await admin.execute(SLOW_COMMIT.format(seconds=BUDGET * 1.5))
    answer = await create_booking(settings, db, lesson)
    assert "errors" not in answer
    assert answer["data"]["createBooking"]["__typename"] == "BookingCreated"
    assert await stored_bookings(database_url) == 1


async def test_a_tutor_locked_past_the_budget_answers_timeout_and_stores_nothing(
    settings: Settings,
    db: Database,
    lesson: tuple[Tutor, str],
    database_url: str,
    admin: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The server's lock_timeout stops the wait (not asyncio): TIMEOUT, never Internal error."""
    await admin.execute("BEGIN")
    await admin.execute("SELECT 1 FROM tutors WHERE id = $1 FOR UPDATE", pk(lesson[0].id))
    try:
        answer = await create_booking(settings, db, lesson)
    finally:
        await admin.execute("ROLLBACK")
    timed_out(answer)
    assert "stopped by the time budget at ['createBooking']: rolled back" in caplog.text
    assert await stored_bookings(database_url) == 0


async def test_a_bulk_change_out_of_time_says_which_bookings_changed(
    settings: Settings,
    gql: GraphQLClient,
    db: Database,
    lesson: tuple[Tutor, str],
    database_url: str,
    admin: Any,
) -> None:
    """updateBookings runs a transaction per booking: when the budget runs out in one, that one
    is rolled back and the rest are not tried; each is reported TimedOut, and the answer still
    lists the bookings that did change (a top-level TIMEOUT would hide them)."""
    tutor, service_id = lesson
    made = [
        await book(
            gql,
            token(f"s{hour}"),
            serviceId=service_id,
            tutorId=tutor.id,
            start=at(monday(3), hour),
        )
        for hour in (10, 11, 12)
    ]
    ids = [m["booking"]["id"] for m in made]
    await admin.execute("BEGIN")
    await admin.execute("SELECT 1 FROM bookings WHERE id = $1 FOR UPDATE", pk(ids[1]))
    try:
        input = {"bookingIds": ids, "action": "CANCEL", "reason": "Closed"}
        answer = await hasty(settings, db, BULK, {"input": input}, tutor.token)
    finally:
        await admin.execute("ROLLBACK")
    assert "errors" not in answer, answer
    result = answer["data"]["updateBookings"]
    assert [b["id"] for b in result["updated"]] == ids[:1]
    assert [(f["bookingId"], f["error"]["__typename"]) for f in result["failed"]] == [
        (ids[1], "TimedOut"),
        (ids[2], "TimedOut"),
    ]
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT id, status FROM bookings")
    finally:
        await conn.close()
    statuses = {str(row["id"]): row["status"] for row in rows}
    assert [statuses[str(pk(i))] for i in ids] == ["CANCELLED", "CONFIRMED", "CONFIRMED"]
