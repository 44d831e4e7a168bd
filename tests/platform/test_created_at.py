"""Rows are stamped with the app's clock, never the wall clock: no column has a default that
reads it, so each writer passes the `now` it was given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from infra.db import Database
from models import Booking, OutboxJob, Package, Schedule, Service, Student, Tutor
from tests.helpers import (
    CLOCK,
    GraphQLClient,
    TestClock,
    at,
    book,
    grant,
    monday,
    pk,
    setup_lessons,
)

FAR = datetime(2031, 3, 9, 10, tzinfo=UTC)  # years from any day the suite runs on


async def test_rows_made_through_the_api_carry_the_apps_time(
    gql: GraphQLClient, db: Database, clock: TestClock
) -> None:
    clock.set(FAR)
    ada, service, sam = await setup_lessons(gql)
    made = await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    booking = made["booking"]
    granted = await grant(gql, ada, studentId=booking["student"]["id"], unit="SESSIONS", total=5)
    package = granted["package"]["id"]
    until = CLOCK()

    async with db.session() as session:
        rows = [
            await session.get(Tutor, pk(ada.id)),
            await session.get(Schedule, pk(ada.schedule_id)),
            await session.get(Service, pk(service)),
            await session.get(Booking, pk(booking["id"])),
            await session.get(Student, pk(booking["student"]["id"])),
            await session.get(Package, pk(package)),
            *await session.exec(select(OutboxJob)),  # the booking's emails and reminders
        ]
    assert len(rows) > 6 and None not in rows
    # The test clock runs on at the real pace: each stamp is between FAR and the last read.
    wrong = [(type(row).__name__, row.created_at) for row in rows if row is not None]
    wrong = [(table, stamp) for table, stamp in wrong if not FAR <= stamp <= until]
    assert wrong == [], f"stamped with another clock than the app's ({FAR})"
    assert until - FAR < timedelta(minutes=5)
