"""Meeting links from the providers people use, through the API and local fakes of the
endpoints called: Google Meet on the tutor's synced Google Calendar event, Zoom meetings made,
moved and deleted with the booking (its token kept, expired and refused), failures retried and
never undoing the booking; and no meeting or calendar job written where it could do nothing."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from domain.calendar_api import event_id
from infra.db import Database
from infra.settings import MeetingProvider, Settings, SettingsError
from models import OutboxJob, ProviderToken
from tests.conftest import app_client
from tests.fakes.google_server import FakeGoogle, connect_google
from tests.fakes.smtp_server import Inbox
from tests.fakes.stripe_server import FakeStripe, outcome, session_of
from tests.fakes.zoom_server import FakeZoom
from tests.helpers import (
    CANCEL,
    CLOCK,
    CREATE_MANY,
    PRICE,
    RESCHEDULE,
    Background,
    GraphQLClient,
    Tutor,
    at,
    book,
    count_statements,
    monday,
    pk,
    reserve,
    setup_card_lessons,
    setup_lessons,
)

pytestmark = pytest.mark.calendar

BOOKING = "query($id: ID!) { booking(id: $id) { status meetingUrl icsUrl } }"


async def booking_of(gql: GraphQLClient, booking_id: str, who: str) -> dict[str, Any]:
    data: dict[str, Any] = (await gql(BOOKING, {"id": booking_id}, who))["booking"]
    return data


async def ics_of(gql: GraphQLClient, booking: dict[str, Any]) -> str:
    response = await gql.http.get(booking["icsUrl"].replace("http://127.0.0.1:8000", ""))
    assert response.status_code == 200
    # Unfolded: iCalendar wraps long lines at 75 octets.
    return response.text.replace("\r\n ", "")


async def kinds(db: Database) -> Counter[str]:
    async with db.session() as session:
        return Counter(await session.exec(select(OutboxJob.kind)))


async def video_service(tutor: Tutor) -> str:
    made = await tutor.service(title="Video", meetingLinks=True, slotIntervalMinutes=60)
    return str(made["service"]["id"])


def test_the_meeting_provider_is_chosen_and_checked_at_startup() -> None:
    template = {"MEETING_URL_TEMPLATE": "https://meet.example/{room}"}
    google = {"GOOGLE_CLIENT_ID": "id", "GOOGLE_CLIENT_SECRET": "secret"}
    zoom = {"ZOOM_ACCOUNT_ID": "a", "ZOOM_CLIENT_ID": "c", "ZOOM_CLIENT_SECRET": "s"}
    assert Settings.from_env({}).meeting_provider is None
    assert Settings.from_env(template).meeting_provider is MeetingProvider.ROOM
    chosen = Settings.from_env({**zoom, "MEETING_PROVIDER": "zoom"})
    assert chosen.meeting_provider is MeetingProvider.ZOOM and chosen.zoom is not None
    assert chosen.zoom.api_base == "https://api.zoom.us/v2"
    assert chosen.zoom.oauth_url == "https://zoom.us/oauth/token"
    meet = Settings.from_env({**google, **template, "MEETING_PROVIDER": "google_meet"})
    assert meet.meeting_provider is MeetingProvider.GOOGLE_MEET
    refused = {
        "MEETING_PROVIDER=room needs MEETING_URL_TEMPLATE": {"MEETING_PROVIDER": "room"},
        "MEETING_PROVIDER=google_meet needs GOOGLE": {"MEETING_PROVIDER": "google_meet"},
        "MEETING_PROVIDER=zoom needs ZOOM": {**google, "MEETING_PROVIDER": "zoom"},
        "MEETING_PROVIDER must be one of room, google_meet, zoom": {"MEETING_PROVIDER": "teams"},
        "ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID, ZOOM_CLIENT_SECRET are set together": {
            "ZOOM_ACCOUNT_ID": "a"
        },
    }
    for message, env in refused.items():
        with pytest.raises(SettingsError, match=message):
            Settings.from_env(env)


async def test_no_meeting_or_calendar_job_is_written_where_it_could_do_nothing(
    gql: GraphQLClient,
    zoom_gql: GraphQLClient,
    db: Database,
    google_fake: FakeGoogle,
) -> None:
    # Nothing configured: a video service still books, and writes neither kind of job.
    ada, piano, sam = await setup_lessons(gql)
    video = await video_service(ada)
    made = await book(gql, sam, serviceId=video, tutorId=ada.id, start=at(monday(), 9))
    slots = [{"start": at(monday(), hour)} for hour in (11, 12, 13)]
    many = {"serviceId": video, "tutorId": ada.id, "slots": slots, "timeZone": "UTC"}
    assert (await gql(CREATE_MANY, {"input": many}, sam))["createBookings"]["bookings"]
    moved = {"bookingId": made["booking"]["id"], "newStart": at(monday(), 15)}
    await gql(RESCHEDULE, {"input": moved}, sam)
    await gql(CANCEL, {"input": {"bookingId": made["booking"]["id"]}}, sam)
    seen = await kinds(db)
    assert seen["meeting.link"] == seen["calendar.sync"] == 0
    assert seen["email.booking"] > 0  # the bookings did set work in motion

    # Zoom configured, the tutor with no calendar: meeting jobs for the video service only.
    plain = await book(zoom_gql, sam, serviceId=piano, tutorId=ada.id, start=at(monday(), 17))
    await zoom_gql(CANCEL, {"input": {"bookingId": plain["booking"]["id"]}}, sam)
    assert (await kinds(db))["meeting.link"] == 0
    online = await book(zoom_gql, sam, serviceId=video, tutorId=ada.id, start=at(monday(), 18))
    await zoom_gql(CANCEL, {"input": {"bookingId": online["booking"]["id"]}}, sam)
    seen = await kinds(db)
    assert (seen["meeting.link"], seen["calendar.sync"]) == (2, 0)  # made, then deleted

    # A connected calendar: one sync for the upcoming bookings, then one per change.
    await connect_google(zoom_gql, ada.token)
    assert (await kinds(db))["calendar.sync"] == 3  # the three of createBookings
    await book(zoom_gql, sam, serviceId=piano, tutorId=ada.id, start=at(monday(), 20))
    seen = await kinds(db)
    assert (seen["meeting.link"], seen["calendar.sync"]) == (2, 4)


async def test_the_jobs_cost_no_statement_to_a_booking_that_holds_its_rows(
    gql: GraphQLClient, zoom_gql: GraphQLClient, db: Database, google_fake: FakeGoogle
) -> None:
    """Whether to write them is read from the tutor's and service's rows, which making and
    moving a booking hold already: configured or not, the same statements."""
    ada, _, sam = await setup_lessons(gql)
    video = await video_service(ada)
    await book(gql, sam, serviceId=video, tutorId=ada.id, start=at(monday(), 7))  # warm-up

    async def statements(client: GraphQLClient, hours: tuple[int, ...]) -> tuple[int, int]:
        slots = [{"start": at(monday(), hour)} for hour in hours]
        many = {"serviceId": video, "tutorId": ada.id, "slots": slots, "timeZone": "UTC"}
        with count_statements(db) as made:
            created = await client(CREATE_MANY, {"input": many}, sam)
        first = created["createBookings"]["bookings"][0]["id"]
        move = {"bookingId": first, "newStart": at(monday(), hours[0] + 12)}
        with count_statements(db) as moved:
            await client(RESCHEDULE, {"input": move}, sam)
        return len(made), len(moved)

    unconfigured = await statements(gql, (8, 9, 10))
    assert (await connect_google(zoom_gql, ada.token))["__typename"] == "CalendarConnected"
    configured = await statements(zoom_gql, (1, 2, 3))
    assert configured == unconfigured
    seen = await kinds(db)
    assert seen["meeting.link"] == 4 and seen["calendar.sync"] >= 4


async def test_google_meet_links_come_with_the_tutors_google_calendar_event(
    meet_gql: GraphQLClient,
    meet_settings: Settings,
    db: Database,
    google_fake: FakeGoogle,
    inbox: Inbox,
) -> None:
    gql = meet_gql
    ada, piano, sam = await setup_lessons(gql)
    video = await video_service(ada)
    await connect_google(gql, ada.token)
    plain = await book(gql, sam, serviceId=piano, tutorId=ada.id, start=at(monday(), 9))
    online = await book(gql, sam, serviceId=video, tutorId=ada.id, start=at(monday(), 11))
    assert (await kinds(db))["meeting.link"] == 0  # Meet is the calendar job's
    google_fake.meet_pending = 1  # Google is still making it on the first try
    background = Background(meet_settings, db)
    t0 = CLOCK()
    await background.run(t0)
    assert (await booking_of(gql, online["booking"]["id"], sam))["meetingUrl"] is None
    await background.run(t0 + timedelta(seconds=10))  # the retry asks again, same request id

    [link] = google_fake.meets.values()
    assert link.startswith("https://meet.google.com/")
    booking = await booking_of(gql, online["booking"]["id"], sam)
    assert booking["meetingUrl"] == link
    assert f"LOCATION:{link}" in await ics_of(gql, booking)
    event = google_fake.events()[event_id(pk(online["booking"]["id"]))]
    assert event["conferenceData"]["entryPoints"][0]["uri"] == link
    plain_event = google_fake.events()[event_id(pk(plain["booking"]["id"]))]
    assert "conferenceData" not in plain_event  # a service without meeting links
    assert (await booking_of(gql, plain["booking"]["id"], sam))["meetingUrl"] is None

    # Moved: the event moves and keeps its Meet (not asked for again).
    asked = len(google_fake.params)
    moved = {"bookingId": online["booking"]["id"], "newStart": at(monday(), 15)}
    await gql(RESCHEDULE, {"input": moved}, sam)
    await background.run(t0 + timedelta(seconds=20))
    event = google_fake.events()[event_id(pk(online["booking"]["id"]))]
    assert event["start"]["dateTime"] == at(monday(), 15)
    assert event["hangoutLink"] == link and event["location"] == link
    assert all("conferenceDataVersion" not in params for params in google_fake.params[asked:])
    assert (await booking_of(gql, online["booking"]["id"], sam))["meetingUrl"] == link

    start = datetime.fromisoformat(at(monday(), 15))
    await background.run(start - timedelta(minutes=15))
    reminders = [r for r in inbox.received if r.subject == "Reminder: Video with Ada"]
    assert reminders and all(f"Join the session: {link}" in r.text for r in reminders)


async def test_zoom_meetings_are_made_moved_and_deleted_with_the_booking(
    zoom_gql: GraphQLClient,
    zoom_settings: Settings,
    db: Database,
    zoom_fake: FakeZoom,
    google_fake: FakeGoogle,
    inbox: Inbox,
) -> None:
    gql = zoom_gql
    ada, _, sam = await setup_lessons(gql)
    video = await video_service(ada)
    await connect_google(gql, ada.token)
    made = await book(gql, sam, serviceId=video, tutorId=ada.id, start=at(monday(), 11))
    booking_id = made["booking"]["id"]
    background = Background(zoom_settings, db)
    await background.run()

    [(meeting_id, meeting)] = zoom_fake.meetings.items()
    assert meeting["topic"] == "Video with Ada" and meeting["type"] == 2
    assert meeting["start_time"] == at(monday(), 11).replace("+00:00", "Z")
    assert meeting["duration"] == 60 and meeting["timezone"] == "Europe/London"
    booking = await booking_of(gql, booking_id, sam)
    assert booking["meetingUrl"] == meeting["join_url"]
    assert f"LOCATION:{meeting['join_url']}" in await ics_of(gql, booking)
    event = google_fake.events()[event_id(pk(booking_id))]
    assert event["location"] == meeting["join_url"]

    moved = {"bookingId": booking_id, "newStart": at(monday(), 15)}
    await gql(RESCHEDULE, {"input": moved}, sam)
    await background.run()
    assert ("PATCH", meeting_id) in zoom_fake.calls
    assert zoom_fake.meetings[meeting_id]["start_time"] == at(monday(), 15).replace("+00:00", "Z")
    assert len(zoom_fake.meetings) == 1  # moved, not made again

    start = datetime.fromisoformat(at(monday(), 15))
    await background.run(start - timedelta(hours=1))
    reminders = [r for r in inbox.received if r.subject == "Reminder: Video with Ada"]
    assert reminders and all(
        f"Join the session: {meeting['join_url']}" in r.text for r in reminders
    )

    await gql(CANCEL, {"input": {"bookingId": booking_id}}, sam)
    await background.run(start - timedelta(minutes=50))
    assert zoom_fake.meetings == {}
    assert ("DELETE", meeting_id) in zoom_fake.calls
    assert (await booking_of(gql, booking_id, sam))["meetingUrl"] is None
    assert google_fake.events() == {}


async def test_the_zoom_token_is_kept_until_it_expires_and_replaced_once_when_refused(
    zoom_gql: GraphQLClient, zoom_settings: Settings, db: Database, zoom_fake: FakeZoom
) -> None:
    gql = zoom_gql
    ada, _, sam = await setup_lessons(gql)
    video = await video_service(ada)
    background = Background(zoom_settings, db)
    await book(gql, sam, serviceId=video, tutorId=ada.id, start=at(monday(), 9))
    t0 = CLOCK()
    await background.run(t0)
    # A second job, one token: kept in the database between them.
    await book(gql, sam, serviceId=video, tutorId=ada.id, start=at(monday(), 10))
    await background.run()
    assert (len(zoom_fake.meetings), zoom_fake.token_requests) == (2, 1)
    async with db.session() as session:
        [kept] = list(await session.exec(select(ProviderToken)))
    assert kept.name == "zoom:acct-123"
    assert not kept.access_token.startswith("zoom.")  # encrypted at rest
    assert kept.expires_at == t0 + timedelta(seconds=3599)

    # An hour later it has expired: a new one is fetched before the call.
    await book(gql, sam, serviceId=video, tutorId=ada.id, start=at(monday(), 11))
    await background.run(t0 + timedelta(hours=1))
    assert (len(zoom_fake.meetings), zoom_fake.token_requests) == (3, 2)

    # Refused before its time (revoked): a new token, and the same call once more.
    zoom_fake.access_tokens.clear()
    await book(gql, sam, serviceId=video, tutorId=ada.id, start=at(monday(), 12))
    await background.run(t0 + timedelta(hours=1))
    assert (len(zoom_fake.meetings), zoom_fake.token_requests) == (4, 3)
    assert [call for call in zoom_fake.calls if call[0] == "POST"] == [("POST", "me")] * 5
    async with db.session() as session:
        jobs = list(await session.exec(select(OutboxJob).where(OutboxJob.kind == "meeting.link")))
    assert all(job.done_at is not None and job.attempts == 0 for job in jobs)


async def test_a_failing_zoom_is_retried_with_backoff_and_never_undoes_the_booking(
    zoom_gql: GraphQLClient, zoom_settings: Settings, db: Database, zoom_fake: FakeZoom
) -> None:
    gql = zoom_gql
    ada, _, sam = await setup_lessons(gql)
    video = await video_service(ada)
    zoom_fake.fail_next = 2
    made = await book(gql, sam, serviceId=video, tutorId=ada.id, start=at(monday(), 9))
    background = Background(zoom_settings, db)
    t0 = CLOCK()
    await background.run(t0)

    async def meeting_job() -> OutboxJob:
        async with db.session() as session:
            query = select(OutboxJob).where(OutboxJob.kind == "meeting.link")
            [job] = list(await session.exec(query))
            return job

    job = await meeting_job()
    assert job.attempts == 1 and "500" in (job.last_error or "")
    assert job.due_at == t0 + timedelta(seconds=10)
    await background.run(t0 + timedelta(seconds=10))
    assert (await meeting_job()).attempts == 2
    assert zoom_fake.meetings == {}
    booking = await booking_of(gql, made["booking"]["id"], sam)
    assert (booking["status"], booking["meetingUrl"]) == ("CONFIRMED", None)
    await background.run(t0 + timedelta(seconds=30))
    assert (await meeting_job()).done_at is not None
    [meeting] = zoom_fake.meetings.values()
    booking = await booking_of(gql, made["booking"]["id"], sam)
    assert (booking["status"], booking["meetingUrl"]) == ("CONFIRMED", meeting["join_url"])


async def test_a_booking_paid_by_card_gets_its_link_when_the_payment_confirms_it(
    card_settings: Settings, db: Database, stripe_fake: FakeStripe
) -> None:
    settings = replace(
        card_settings,
        meeting_url_template="https://meet.example/lesson-{room}",
        meeting_provider=MeetingProvider.ROOM,
    )
    async with app_client(settings, db) as http:
        gql = GraphQLClient(http)
        ada, _, sam = await setup_card_lessons(gql)
        video = await ada.service(
            title="Video", durations=[{"minutes": 60, "price": PRICE}], meetingLinks=True
        )
        start = at(monday(), 10)
        held = await reserve(
            gql, sam, serviceId=video["service"]["id"], tutorId=ada.id, start=start
        )
        assert held["booking"]["status"] == "PENDING_PAYMENT"
        assert (await kinds(db))["meeting.link"] == 0  # not confirmed yet
        paid = stripe_fake.pay(session_of(stripe_fake, held["booking"]["id"])["id"])
        assert await outcome(http, paid) == "paid: confirmed"
        assert (await kinds(db))["meeting.link"] == 1
        await Background(settings, db).run()
        booking = await booking_of(gql, held["booking"]["id"], sam)
        assert booking["meetingUrl"].startswith("https://meet.example/lesson-")
