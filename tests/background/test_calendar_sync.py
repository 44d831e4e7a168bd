"""Hooks through the API: a tutor's Google Calendar (a local fake of the endpoints we call)
mirrors their bookings, failures are retried with backoff and never touch the booking, and
services that want one get a meeting link."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from domain.calendar_api import event_id
from infra.db import Database
from infra.settings import Settings
from models import Booking, OutboxJob
from tests.fakes.google_server import CONNECT, FakeGoogle, connect_google
from tests.fakes.smtp_server import Inbox
from tests.helpers import (
    CANCEL,
    CLOCK,
    RESCHEDULE,
    Background,
    GraphQLClient,
    at,
    book,
    monday,
    pk,
    retried_with_backoff,
    setup_lessons,
    token,
)
from workers.jobs import Runner

# On the awkward days CI picks too (tests/calendar_days.py).
pytestmark = pytest.mark.calendar

DISCONNECT = """mutation { disconnectCalendar { __typename
  ... on CalendarDisconnected { calendarId } ... on NotFound { message } } }"""
BOOKING = "query($id: ID!) { booking(id: $id) { status meetingUrl } }"


async def test_connecting_checks_the_token_and_mirrors_upcoming_bookings(
    hooks_gql: GraphQLClient, hooks_settings: Settings, db: Database, google_fake: FakeGoogle
) -> None:
    gql = hooks_gql
    ada, service, sam = await setup_lessons(gql)
    before = await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    background = Background(hooks_settings, db)
    await background.run()
    assert google_fake.calendars == {}  # nothing connected yet: the sync job did nothing

    bad = await gql(CONNECT, {"input": {"refreshToken": "stolen"}}, ada.token)
    assert bad["connectGoogleCalendar"]["field"] == "input.refreshToken"
    nobody = await connect_google(gql, token("kim"))
    assert nobody["__typename"] == "NotFound"
    calendar = "ada@group.calendar.google.com"  # quoted in the path
    assert (await connect_google(gql, ada.token, calendar))["calendarId"] == calendar
    mine = await gql("{ viewer { tutor { connectedCalendar } } }", token=ada.token)
    assert mine["viewer"]["tutor"]["connectedCalendar"] == calendar

    await background.run()
    [event] = google_fake.events(calendar).values()
    assert event["id"] == event_id(pk(before["booking"]["id"]))
    assert event["summary"] == "Piano with Sam"
    assert event["attendees"] == [{"email": "sam@example.com", "displayName": "Sam"}]
    assert event["start"] == {"dateTime": at(monday(), 9), "timeZone": "Europe/London"}


async def test_bookings_are_created_moved_and_removed_in_the_calendar(
    hooks_gql: GraphQLClient, hooks_settings: Settings, db: Database, google_fake: FakeGoogle
) -> None:
    gql = hooks_gql
    ada, service, sam = await setup_lessons(gql)
    await connect_google(gql, ada.token)
    background = Background(hooks_settings, db)
    made = await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    booking_id = made["booking"]["id"]
    key = event_id(pk(booking_id))
    await background.run()
    assert list(google_fake.events()) == [key]

    moved = await gql(
        RESCHEDULE, {"input": {"bookingId": booking_id, "newStart": at(monday(), 15)}}, sam
    )
    assert moved["rescheduleBooking"]["__typename"] == "BookingRescheduled"
    await background.run()
    assert google_fake.events()[key]["start"]["dateTime"] == at(monday(), 15)
    assert ("PUT", key) in google_fake.calls

    await gql(CANCEL, {"input": {"bookingId": booking_id}}, sam)
    await background.run()
    assert google_fake.events() == {}

    disconnected = await gql(DISCONNECT, token=ada.token)
    assert disconnected["disconnectCalendar"]["__typename"] == "CalendarDisconnected"
    await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 11))
    calls = len(google_fake.calls)
    await background.run()
    assert len(google_fake.calls) == calls  # disconnected: no more calls


async def test_a_failing_calendar_is_retried_with_backoff_and_never_undoes_the_booking(
    hooks_gql: GraphQLClient, hooks_settings: Settings, db: Database, google_fake: FakeGoogle
) -> None:
    gql = hooks_gql
    ada, service, sam = await setup_lessons(gql)
    await connect_google(gql, ada.token)
    google_fake.fail_next = 2
    made = await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    background = Background(hooks_settings, db)
    await retried_with_backoff(db, background, "calendar.sync", lambda: len(google_fake.events()))
    status = await gql(BOOKING, {"id": made["booking"]["id"]}, sam)
    assert status["booking"]["status"] == "CONFIRMED"  # never undone by the failures


async def test_a_revoked_access_token_is_refreshed_once_and_a_repeated_insert_updates(
    hooks_gql: GraphQLClient, hooks_settings: Settings, db: Database, google_fake: FakeGoogle
) -> None:
    gql = hooks_gql
    ada, service, sam = await setup_lessons(gql)
    await connect_google(gql, ada.token)
    google_fake.access_tokens.clear()  # Google forgot the token we hold
    await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    await Background(hooks_settings, db).run()
    assert len(google_fake.events()) == 1

    # The same sync delivered twice at once, as after a lost acknowledgement: still one event.
    async with db.session() as session:
        [job] = list(
            await session.exec(select(OutboxJob.id).where(OutboxJob.kind == "calendar.sync"))
        )
    runner = Runner(hooks_settings, db, CLOCK)
    async with db.transaction() as session:
        first = await session.get(OutboxJob, job)
        assert first is not None
        again = OutboxJob(
            kind="calendar.sync", payload=first.payload, due_at=CLOCK(), created_at=CLOCK()
        )
        session.add(again)
    outcomes = await asyncio.gather(runner.run(again.id), runner.run(again.id))
    assert sorted(outcomes) == ["already done", "done"]
    assert len(google_fake.events()) == 1


async def test_services_that_want_one_get_a_meeting_link_everywhere(
    hooks_gql: GraphQLClient,
    hooks_settings: Settings,
    db: Database,
    google_fake: FakeGoogle,
    inbox: Inbox,
) -> None:
    gql = hooks_gql
    ada, service, sam = await setup_lessons(gql)
    video = (await ada.service(title="Video", meetingLinks=True, slotIntervalMinutes=60))["service"]
    assert video["meetingLinks"] is True
    await connect_google(gql, ada.token)
    plain = await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    online = await book(gql, sam, serviceId=video["id"], tutorId=ada.id, start=at(monday(), 11))
    background = Background(hooks_settings, db)
    await background.run()

    plain_url = (await gql(BOOKING, {"id": plain["booking"]["id"]}, sam))["booking"]["meetingUrl"]
    assert plain_url is None
    url = (await gql(BOOKING, {"id": online["booking"]["id"]}, sam))["booking"]["meetingUrl"]
    assert url.startswith("https://meet.example/lesson-") and len(url) > 40
    assert google_fake.events()[event_id(pk(online["booking"]["id"]))]["location"] == url

    start = datetime.fromisoformat(at(monday(), 11))
    await background.run(start - timedelta(minutes=15))
    reminders = [r for r in inbox.received if r.subject == "Reminder: Video with Ada"]
    assert len(reminders) == 3  # 24 hours, 1 hour and 15 minutes: all were due by now
    assert all(f"Join the session: {url}" in r.text for r in reminders)
    async with db.session() as session:
        row = await session.get(Booking, pk(online["booking"]["id"]))
        assert row is not None and row.meeting_url == url  # set once, kept
