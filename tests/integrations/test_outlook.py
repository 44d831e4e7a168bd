"""Outlook calendar sync through Microsoft Graph (a local fake of the endpoints called), behind
the same interface and job as Google's: connecting checks the refresh token and mirrors what is
coming, each booking is an event while confirmed with the student as attendee, moved and
removed with it; rotated refresh tokens are kept, refused access tokens replaced once, failures
retried; one calendar per tutor, Outlook in place of Google and back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from domain.calendar_api import event_id
from infra.crypto import Cipher
from infra.db import Database
from infra.settings import Settings, SettingsError
from models import CalendarLink, OutboxJob, SyncedEvent
from tests.fakes.google_server import FakeGoogle, connect_google
from tests.fakes.graph_server import DEFAULT, REFRESH_TOKEN, FakeGraph, connect_outlook
from tests.helpers import (
    CANCEL,
    CLOCK,
    RESCHEDULE,
    TEST_DATA_KEY,
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

pytestmark = pytest.mark.calendar

MINE = "{ viewer { tutor { connectedCalendar } } }"
SYNC = "calendar.sync"
BOOKING = "query($id: ID!) { booking(id: $id) { status } }"


async def connected(gql: GraphQLClient, who: str) -> Any:
    return (await gql(MINE, token=who))["viewer"]["tutor"]["connectedCalendar"]


async def link_of(db: Database) -> CalendarLink:
    async with db.session() as session:
        [link] = list(await session.exec(select(CalendarLink)))
    return link


async def test_connecting_checks_the_token_and_mirrors_upcoming_bookings(
    outlook_gql: GraphQLClient,
    outlook_settings: Settings,
    gql: GraphQLClient,
    db: Database,
    graph_fake: FakeGraph,
) -> None:
    ada, service, sam = await setup_lessons(outlook_gql)
    before = await book(outlook_gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))

    unconfigured = await connect_outlook(gql, ada.token)
    assert unconfigured["__typename"] == "InvalidInput"
    assert "Outlook is not configured" in unconfigured["message"]
    bad = await connect_outlook(outlook_gql, ada.token, refresh_token="stolen")
    assert (bad["__typename"], bad["field"]) == ("InvalidInput", "input.refreshToken")
    empty = await connect_outlook(outlook_gql, ada.token, calendar="")
    assert (empty["__typename"], empty["field"]) == ("InvalidInput", "input.calendarId")
    assert (await connect_outlook(outlook_gql, token("kim")))["__typename"] == "NotFound"
    assert await connected(outlook_gql, ada.token) is None

    made = await connect_outlook(outlook_gql, ada.token)
    assert made == {"__typename": "CalendarConnected", "calendarId": "default"}
    assert await connected(outlook_gql, ada.token) == "outlook:default"
    link = await link_of(db)
    # Encrypted at rest, and the rotated refresh token is the one kept (the given one is spent).
    cipher = Cipher([TEST_DATA_KEY])
    assert REFRESH_TOKEN not in link.refresh_token
    assert cipher.decrypt(link.refresh_token) in graph_fake.refresh_tokens

    await Background(outlook_settings, db).run()
    [(remote_id, event)] = graph_fake.in_calendar(DEFAULT).items()
    assert ("POST", DEFAULT) in graph_fake.calls  # /me/events: the default calendar
    assert event["subject"] == "Piano with Sam"
    assert event["attendees"] == [
        {"emailAddress": {"address": "sam@example.com", "name": "Sam"}, "type": "required"}
    ]
    start = at(monday(), 9).removesuffix("+00:00")
    assert event["start"] == {"dateTime": start, "timeZone": "UTC"}
    async with db.session() as session:
        synced = await session.get(SyncedEvent, pk(before["booking"]["id"]))
    assert synced is not None and (synced.provider, synced.event_id) == ("outlook", remote_id)


async def test_bookings_are_created_moved_and_removed_in_a_named_calendar(
    outlook_gql: GraphQLClient, outlook_settings: Settings, db: Database, graph_fake: FakeGraph
) -> None:
    gql = outlook_gql
    ada, service, sam = await setup_lessons(gql)
    calendar = "AAMkAGI2TG93AAA="  # a calendar of the user's, quoted in the path
    assert (await connect_outlook(gql, ada.token, calendar))["calendarId"] == calendar
    assert await connected(gql, ada.token) == f"outlook:{calendar}"
    background = Background(outlook_settings, db)
    made = await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    booking_id = made["booking"]["id"]
    await background.run()
    [remote_id] = graph_fake.in_calendar(calendar)
    assert graph_fake.in_calendar(DEFAULT) == {}

    moved = {"bookingId": booking_id, "newStart": at(monday(), 15)}
    assert (await gql(RESCHEDULE, {"input": moved}, sam))["rescheduleBooking"]["__typename"] == (
        "BookingRescheduled"
    )
    await background.run()
    event = graph_fake.in_calendar(calendar)[remote_id]  # the same event, moved
    assert event["start"]["dateTime"] == at(monday(), 15).removesuffix("+00:00")
    assert ("PATCH", remote_id) in graph_fake.calls

    # Deleted in Outlook by hand: the next change makes it again.
    del graph_fake.events[remote_id]
    await gql(RESCHEDULE, {"input": {"bookingId": booking_id, "newStart": at(monday(), 16)}}, sam)
    await background.run()
    [again] = graph_fake.in_calendar(calendar)
    assert again != remote_id

    await gql(CANCEL, {"input": {"bookingId": booking_id}}, sam)
    await background.run()
    assert graph_fake.events == {}
    assert ("DELETE", again) in graph_fake.calls
    async with db.session() as session:
        assert await session.get(SyncedEvent, pk(booking_id)) is None


async def test_tokens_are_refreshed_rotated_and_replaced_once_when_refused(
    outlook_gql: GraphQLClient, outlook_settings: Settings, db: Database, graph_fake: FakeGraph
) -> None:
    gql = outlook_gql
    ada, service, sam = await setup_lessons(gql)
    await connect_outlook(gql, ada.token)
    assert graph_fake.token_requests == 1
    background = Background(outlook_settings, db)
    await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    t0 = CLOCK()
    await background.run(t0)
    assert (len(graph_fake.events), graph_fake.token_requests) == (1, 1)  # the one from connect

    # An hour on, the access token has expired: refreshed with the refresh token Microsoft
    # rotated at connect (the fake refuses a spent one), and the new one kept again.
    await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 10))
    await background.run(t0 + timedelta(hours=1))
    assert (len(graph_fake.events), graph_fake.token_requests) == (2, 2)
    kept = Cipher([TEST_DATA_KEY]).decrypt((await link_of(db)).refresh_token)
    assert graph_fake.refresh_tokens == {kept}

    # Refused before its time (revoked): refreshed once, and the same call made again.
    graph_fake.access_tokens.clear()
    await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 11))
    await background.run(t0 + timedelta(hours=1))
    assert (len(graph_fake.events), graph_fake.token_requests) == (3, 3)
    async with db.session() as session:
        jobs = list(await session.exec(select(OutboxJob).where(OutboxJob.kind == SYNC)))
    assert len(jobs) == 3 and all(job.done_at is not None and job.attempts == 0 for job in jobs)


async def test_a_failing_graph_is_retried_with_backoff_and_never_undoes_the_booking(
    outlook_gql: GraphQLClient, outlook_settings: Settings, db: Database, graph_fake: FakeGraph
) -> None:
    gql = outlook_gql
    ada, service, sam = await setup_lessons(gql)
    await connect_outlook(gql, ada.token)
    graph_fake.fail_next = 2
    made = await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    background = Background(outlook_settings, db)
    await retried_with_backoff(db, background, SYNC, lambda: len(graph_fake.events))
    status = await gql(BOOKING, {"id": made["booking"]["id"]}, sam)
    assert status["booking"]["status"] == "CONFIRMED"


async def test_one_calendar_per_tutor_outlook_in_place_of_google_and_back(
    outlook_gql: GraphQLClient,
    outlook_settings: Settings,
    db: Database,
    google_fake: FakeGoogle,
    graph_fake: FakeGraph,
) -> None:
    gql = outlook_gql
    ada, service, sam = await setup_lessons(gql)
    await connect_google(gql, ada.token)
    made = await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    booking_id = made["booking"]["id"]
    background = Background(outlook_settings, db)
    await background.run()
    assert list(google_fake.events()) == [event_id(pk(booking_id))]
    assert await connected(gql, ada.token) == "primary"

    await connect_outlook(gql, ada.token)
    assert await connected(gql, ada.token) == "outlook:default"
    await background.run()
    assert len(graph_fake.in_calendar(DEFAULT)) == 1  # mirrored in Outlook now
    assert len(google_fake.events()) == 1  # left in Google, as disconnecting leaves it

    await gql(CANCEL, {"input": {"bookingId": booking_id}}, sam)
    google_calls = len(google_fake.calls)
    await background.run()
    assert graph_fake.events == {}
    assert len(google_fake.calls) == google_calls  # Google is not asked any more

    # And back to Google: a new booking goes there, none to Outlook.
    await connect_google(gql, ada.token)
    assert await connected(gql, ada.token) == "primary"
    later = await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 11))
    await background.run()
    assert event_id(pk(later["booking"]["id"])) in google_fake.events()
    assert graph_fake.events == {}
    async with db.session() as session:
        links = list(await session.exec(select(CalendarLink)))
    assert [(link.provider, link.calendar_id) for link in links] == [("google", "primary")]


async def test_an_insert_repeated_after_a_lost_commit_finds_the_event_graph_made(
    outlook_gql: GraphQLClient, outlook_settings: Settings, db: Database, graph_fake: FakeGraph
) -> None:
    gql = outlook_gql
    ada, service, sam = await setup_lessons(gql)
    await connect_outlook(gql, ada.token)
    made = await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    background = Background(outlook_settings, db)
    await background.run()
    [remote_id] = graph_fake.events
    # As if the job's commit had been lost after Graph made the event: we know of no event.
    async with db.transaction() as session:
        synced = await session.get(SyncedEvent, pk(made["booking"]["id"]))
        assert synced is not None
        await session.delete(synced)
        session.add(
            OutboxJob(
                kind=SYNC,
                payload={"booking": str(synced.booking_id)},
                due_at=CLOCK(),
                created_at=CLOCK(),
            )
        )
    await background.run()
    assert list(graph_fake.events) == [remote_id]  # the transactionId found it: no second one
    async with db.session() as session:
        again = await session.get(SyncedEvent, pk(made["booking"]["id"]))
    assert again is not None and again.event_id == remote_id


def test_outlook_settings_are_set_together() -> None:
    app = {"MICROSOFT_CLIENT_ID": "id", "MICROSOFT_CLIENT_SECRET": "secret"}
    microsoft = Settings.from_env(app).microsoft
    assert microsoft is not None and microsoft.tenant == "common"
    assert microsoft.token_url == "https://login.microsoftonline.com/common/oauth2/v2.0/token"
    assert microsoft.graph_base == "https://graph.microsoft.com/v1.0"
    assert Settings.from_env({}).microsoft is None
    with pytest.raises(SettingsError, match="set together"):
        Settings.from_env({"MICROSOFT_CLIENT_ID": "id"})
    with pytest.raises(SettingsError, match="MICROSOFT_TENANT"):
        Settings.from_env({**app, "MICROSOFT_TENANT": "../evil"})
