"""Background work through the API: the emails each change sends over real SMTP, reminders on
a clock the test sets, package notices, the tutor's daily summary, expiring holds, retries,
duplicate deliveries and lost hand-offs, and the calendar feed."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import icalendar
import pytest
from sqlalchemy import func
from sqlmodel import col, select

from domain import notifications, outbox, reminders
from domain.bookings import settlement
from infra.db import Database
from infra.settings import Settings, SmtpSettings
from models import Booking, BookingHistory, OutboxJob
from tests.fakes.smtp_server import Inbox
from tests.fakes.stripe_server import FakeStripe, outcome, session_of
from tests.helpers import (
    ADA,
    CANCEL,
    CLOCK,
    RESCHEDULE,
    SAM,
    UPDATE_TUTOR,
    Background,
    GraphQLClient,
    at,
    book,
    grant,
    make_tutor,
    monday,
    pk,
    reserve,
    setup_card_lessons,
    setup_lessons,
    stored_student,
    token,
)
from tests.processes import free_port
from workers.jobs import Runner
from workers.relay import Relay

# On the awkward days CI picks too (tests/calendar_days.py).
pytestmark = pytest.mark.calendar


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_a_confirmed_booking_emails_both_in_their_own_zones_with_the_calendar_file(
    gql: GraphQLClient, db: Database, background: Background, inbox: Inbox
) -> None:
    ada, service, sam = await setup_lessons(gql)
    start = at(monday(), 14)  # a Monday in winter or summer: London is UTC+0 or +1
    made = await book(
        gql, sam, serviceId=service, tutorId=ada.id, start=start, timeZone="America/New_York"
    )
    assert made["__typename"] == "BookingCreated"
    assert inbox.received == []  # nothing is sent before the relay hands the work over

    await background.run()

    [student] = inbox.to(SAM)
    [tutor] = inbox.to(ADA)
    assert student.subject == "Booked: Piano with Ada"
    assert tutor.subject == "Booked: Piano with Sam"
    local = {
        "America/New_York": when(start).astimezone(ZoneInfo("America/New_York")),
        "Europe/London": when(start).astimezone(ZoneInfo("Europe/London")),
    }
    assert f"{local['America/New_York']:%H:%M} (America/New_York" not in student.text
    assert f"{local['America/New_York']:%H:%M}–" in student.text
    assert "(America/New_York," in student.text
    assert f"{local['Europe/London']:%H:%M}–" in tutor.text
    assert "(Europe/London," in tutor.text
    assert "<p>Your booking is confirmed.</p>" in student.html
    assert student.message["From"] == "bookings@tutoring.example"
    async with db.session() as session:
        query = select(OutboxJob.id).where(OutboxJob.kind == "email.booking")
        job_ids = {str(i) for i in await session.exec(query)}
    # Each email's Message-ID is its job's: a repeat after a crash is the same message.
    assert {r.message["Message-ID"].strip("<>").split("@")[0] for r in inbox.received} == job_ids
    assert student.message["Date"] is not None

    calendar = icalendar.Calendar.from_ical(student.part("text/calendar").get_content())
    [event] = calendar.walk("VEVENT")
    assert str(event["uid"]) == f"{pk(made['booking']['id'])}@booking-api"
    assert event.decoded("dtstart") == when(start)
    assert "Reschedule or cancel" not in student.text  # signed in: no manage link needed

    assert await background.run() == 0  # done once; nothing left to send
    assert len(inbox.received) == 2


async def test_a_guest_gets_a_manage_link_that_works(
    gql: GraphQLClient, background: Background, inbox: Inbox
) -> None:
    ada, service, _ = await setup_lessons(gql)
    made = await book(
        gql,
        None,
        serviceId=service,
        tutorId=ada.id,
        start=at(monday(), 9),
        guest={"name": "Gus", "email": "gus@example.com"},
    )
    await background.run()
    [mail] = inbox.to("gus@example.com")
    link = f"https://app.example/manage/{made['manageToken']}"
    assert f"Reschedule or cancel: {link}" in mail.text
    assert f'<a href="{link}">' in mail.html
    found = await gql(
        "query($t: String!) { bookingByToken(token: $t) { id } }", {"t": made["manageToken"]}
    )
    assert found["bookingByToken"]["id"] == made["booking"]["id"]


async def test_a_refused_booking_sends_nothing(
    gql: GraphQLClient, db: Database, background: Background, inbox: Inbox
) -> None:
    ada, service, sam = await setup_lessons(gql)
    await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    await background.run()
    inbox.reset()
    taken = await book(gql, token("kim"), serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    assert taken["__typename"] == "SlotUnavailable"
    assert await background.run() == 0
    assert inbox.received == []


async def test_reminders_go_at_24_hours_1_hour_and_15_minutes_on_a_clock_we_set(
    gql: GraphQLClient, background: Background, inbox: Inbox
) -> None:
    ada, service, sam = await setup_lessons(gql)
    start = when(at(monday(), 10))
    await book(gql, sam, serviceId=service, tutorId=ada.id, start=start.isoformat())
    await background.run()
    inbox.reset()

    await background.run(start - timedelta(hours=24, seconds=1))
    assert inbox.received == []  # a second early: not yet
    await background.run(start - timedelta(hours=24))
    await background.run(start - timedelta(hours=2))
    await background.run(start - timedelta(hours=1))
    await background.run(start - timedelta(minutes=15))
    await background.run(start + timedelta(hours=1))
    texts = [r.text.splitlines()[0] for r in inbox.to(SAM)]
    assert texts == [
        "Your session starts in 24 hours.",
        "Your session starts in 1 hour.",
        "Your session starts in 15 minutes.",
    ]
    assert inbox.to(ADA) == []  # tutors get the daily summary instead
    assert all(r.subject == "Reminder: Piano with Ada" for r in inbox.received)


async def test_a_moved_booking_reminds_at_its_new_time_and_a_cancelled_one_never(
    gql: GraphQLClient, background: Background, inbox: Inbox
) -> None:
    ada, service, sam = await setup_lessons(gql)
    first = when(at(monday(), 10))
    moved_to = first + timedelta(days=1, hours=3)
    made = await book(gql, sam, serviceId=service, tutorId=ada.id, start=first.isoformat())
    booking_id = made["booking"]["id"]
    moved = await gql(
        RESCHEDULE, {"input": {"bookingId": booking_id, "newStart": moved_to.isoformat()}}, sam
    )
    assert moved["rescheduleBooking"]["__typename"] == "BookingRescheduled"
    await background.run()
    assert sorted(r.subject for r in inbox.received) == [
        "Booked: Piano with Ada",
        "Booked: Piano with Sam",
        "Moved: Piano with Ada",
        "Moved: Piano with Sam",
    ]
    [moved_mail] = [r for r in inbox.to(SAM) if r.subject.startswith("Moved")]
    assert f"{moved_to.astimezone(ZoneInfo('UTC')):%H:%M}–" in moved_mail.text
    assert f"It was on {first:%A %-d %B %Y} at 10:00." in moved_mail.text
    inbox.reset()

    await background.run(first - timedelta(minutes=15))  # the old time's reminders: none
    assert inbox.received == []
    await background.run(moved_to - timedelta(hours=24))
    assert [r.subject for r in inbox.received] == ["Reminder: Piano with Ada"]
    inbox.reset()

    cancelled = await gql(CANCEL, {"input": {"bookingId": booking_id, "reason": "ill"}}, sam)
    assert cancelled["cancelBooking"]["__typename"] == "BookingCancelled"
    await background.run(moved_to - timedelta(hours=23))
    assert sorted(r.subject for r in inbox.received) == [
        "Cancelled: Piano with Ada",
        "Cancelled: Piano with Sam",
    ]
    assert "Reason: ill" in inbox.to(ADA)[0].text
    inbox.reset()
    await background.run(moved_to - timedelta(minutes=15))
    assert inbox.received == []


async def test_reminders_can_be_switched_off_per_booking(
    gql: GraphQLClient, background: Background, inbox: Inbox
) -> None:
    ada, service, sam = await setup_lessons(gql)
    start = when(at(monday(), 10))
    await book(
        gql, sam, serviceId=service, tutorId=ada.id, start=start.isoformat(), remindersEnabled=False
    )
    for before in (timedelta(hours=24), timedelta(hours=1), timedelta(minutes=15)):
        await background.run(start - before)
    assert [r.subject for r in inbox.to(SAM)] == ["Booked: Piano with Ada"]


async def test_low_balance_and_expiry_notices_for_packages(
    gql: GraphQLClient, background: Background, inbox: Inbox, db: Database
) -> None:
    ada, service, sam = await setup_lessons(gql)
    sam_id = await stored_student(db, sam)
    expires = CLOCK() + timedelta(days=20)
    granted = await grant(
        gql,
        ada,
        studentId=sam_id,
        unit="SESSIONS",
        total=4,
        sessionDurationMinutes=60,
        expiresAt=expires.isoformat(),
    )
    package = granted["package"]["id"]
    for hour in (9, 11):
        made = await book(
            gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), hour), packageId=package
        )
        assert made["__typename"] == "BookingCreated"
        await background.run()
    low = [r for r in inbox.to(SAM) if "left with Ada" in r.subject]
    assert [r.subject for r in low] == ["2 sessions left with Ada"]  # 3 left was above 2

    # The 30-day notice now (20 days left), the 7-day one later, each once.
    expiring = "Your package with Ada expires in"
    notices = [r.subject for r in inbox.to(SAM) if r.subject.startswith(expiring)]
    assert notices == [f"{expiring} 30 days or less"]
    await background.run(expires - timedelta(days=6))
    await background.run(expires - timedelta(days=5))
    notices = [r.subject for r in inbox.to(SAM) if r.subject.startswith(expiring)]
    assert notices == [f"{expiring} 30 days or less", f"{expiring} 7 days or less"]
    # The notice itself: reminders of the sessions may arrive on the same days.
    (week_notice,) = [r for r in inbox.to(SAM) if r.subject == f"{expiring} 7 days or less"]
    assert "It still has 2 sessions" in week_notice.text


async def test_each_tutor_gets_tomorrows_sessions_once_at_their_local_hour(
    gql: GraphQLClient, background: Background, inbox: Inbox
) -> None:
    # Kolkata is UTC+5:30: 18:00 there is 12:30 UTC.
    ada, service, sam = await setup_lessons(gql, zone="Asia/Kolkata")
    kolkata = ZoneInfo("Asia/Kolkata")
    day = monday()
    for hour, minute in ((4, 30), (9, 30)):  # 10:00 and 15:00 in Kolkata on `day`
        start = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
        made = await book(gql, sam, serviceId=service, tutorId=ada.id, start=start.isoformat())
        assert made["__typename"] == "BookingCreated", made
    await background.run()
    inbox.reset()

    eve = datetime.combine(day - timedelta(days=1), datetime.min.time(), kolkata)
    await background.run((eve + timedelta(hours=17, minutes=59)).astimezone(UTC))
    assert inbox.to(ADA) == []  # before 18:00 local (Sam has had reminders)
    await background.run((eve + timedelta(hours=18)).astimezone(UTC))
    await background.run((eve + timedelta(hours=21)).astimezone(UTC))  # later that evening
    [summary] = inbox.to(ADA)
    assert summary.subject == "Tomorrow: 2 sessions"
    assert "10:00–11:00  Piano with Sam" in summary.text
    assert "15:00–16:00  Piano with Sam" in summary.text
    assert f"{day:%A %-d %B} (Asia/Kolkata)" in summary.text


async def test_periodic_jobs_run_once_per_period_with_several_relays(
    mail_settings: Settings, db: Database
) -> None:
    """Five relays ticking at the same moment schedule each periodic job once."""
    now = datetime(2026, 11, 22, 12, 0, 30, tzinfo=UTC)

    async def hand_off(ids: list[uuid.UUID]) -> None:
        return None

    relays = [Relay(db, mail_settings, hand_off, clock=lambda: now) for _ in range(5)]
    await asyncio.gather(*(r.tick() for r in relays))
    await asyncio.gather(*(r.tick() for r in relays))
    async with db.session() as session:
        rows = await session.exec(
            select(OutboxJob.kind, func.count()).group_by(col(OutboxJob.kind))
        )
        counts = dict(rows.all())
    assert counts == {
        "sweep.holds": 1,
        "sweep.packages": 1,
        "sweep.summaries": 1,
        "sweep.refunds": 1,
        "sweep.forms": 1,
        "sweep.waitlist": 1,
        "sweep.outbox": 1,
        "sweep.funnel": 1,
    }


async def test_a_hold_that_lapses_is_expired_by_the_sweep_with_its_released_event(
    card_gql: GraphQLClient, db: Database, mail_settings: Settings
) -> None:

    ada, service, sam = await setup_card_lessons(card_gql)
    held = await reserve(card_gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    assert held["booking"]["status"] == "PENDING_PAYMENT"
    booking_id = pk(held["booking"]["id"])
    published: list[tuple[str, str]] = []

    async def collect(messages: list[tuple[str, str]]) -> None:
        published.extend(messages)

    publishing = Background(mail_settings, Database(db.engine, publish=collect))
    await publishing.run()  # the hold is still good
    async with db.session() as session:
        booking = await session.get(Booking, booking_id)
        assert booking is not None and booking.status == "PENDING_PAYMENT"
        lapse = booking.hold_expires_at
    assert lapse is not None
    await publishing.run(lapse + timedelta(minutes=1))
    await publishing.run(lapse + timedelta(minutes=3))
    async with db.session() as session:
        booking = await session.get(Booking, booking_id)
        assert booking is not None and booking.status == "EXPIRED"
        history = await session.exec(
            select(BookingHistory.action).where(BookingHistory.booking_id == booking_id)
        )
        assert list(history) == ["CREATED", "EXPIRED"]
    released = [m for channel, m in published if channel.startswith("slots:")]
    assert len(released) == 1 and '"RELEASED"' in released[0]


async def test_a_hold_sweep_expires_a_bounded_batch_the_longest_lapsed_first(
    card_gql: GraphQLClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each change of a sweep carries the sweep's `now`; bounded, its last commits soon after
    that (what a resumed subscription's replay counts on), and the next sweep takes the rest."""
    ada, service, sam = await setup_card_lessons(card_gql)
    held = [
        await reserve(card_gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), hour))
        for hour in (9, 10)
    ]
    ids = [pk(h["booking"]["id"]) for h in held]
    monkeypatch.setattr(settlement, "SWEEP_BATCH", 1)

    async def statuses() -> list[str]:
        async with db.session() as session:
            rows = {b.id: b for b in await session.exec(select(Booking))}
        return [rows[i].status for i in ids]

    async with db.session() as session:
        first, second = [await session.get(Booking, i) for i in ids]
    assert first is not None and second is not None and second.hold_expires_at is not None
    assert first.hold_expires_at is not None and first.hold_expires_at < second.hold_expires_at
    after = second.hold_expires_at + timedelta(minutes=1)
    await settlement.expire_lapsed_holds(db, after)
    assert await statuses() == ["EXPIRED", "PENDING_PAYMENT"]
    await settlement.expire_lapsed_holds(db, after)
    assert await statuses() == ["EXPIRED", "EXPIRED"]


async def test_a_failed_send_is_retried_with_backoff_then_given_up(
    gql: GraphQLClient, mail_settings: Settings, db: Database, inbox: Inbox
) -> None:
    ada, service, sam = await setup_lessons(gql)
    await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    closed = SmtpSettings(host="127.0.0.1", port=free_port(), sender="bookings@tutoring.example")
    down = Background(replace(mail_settings, smtp=closed), db)
    t0 = CLOCK()
    await down.run(t0)
    async with db.session() as session:
        jobs = list(await session.exec(select(OutboxJob).where(OutboxJob.kind == "email.booking")))
    assert {j.attempts for j in jobs} == {1}
    assert all("ConnectionRefusedError" in (j.last_error or "") for j in jobs)
    assert {j.due_at for j in jobs} == {t0 + timedelta(seconds=10)}
    await down.run(t0 + timedelta(seconds=9))
    assert inbox.received == []

    up = Background(mail_settings, db)
    await up.run(t0 + timedelta(seconds=10))
    assert sorted(r.subject for r in inbox.received) == [
        "Booked: Piano with Ada",
        "Booked: Piano with Sam",
    ]
    await up.run(t0 + timedelta(hours=1))
    assert len(inbox.received) == 2  # sent once, never again

    # A job that keeps failing stops after JOB_MAX_ATTEMPTS, its last error kept.
    await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 11))
    t = t0
    for _ in range(mail_settings.jobs.max_attempts + 2):
        t += timedelta(hours=1)
        await down.run(t)
    async with db.session() as session:
        gave_up = list(
            await session.exec(
                select(OutboxJob).where(
                    OutboxJob.kind == "email.booking", col(OutboxJob.failed_at).is_not(None)
                )
            )
        )
    assert len(gave_up) == 2
    assert {j.attempts for j in gave_up} == {mail_settings.jobs.max_attempts}

    # Once the cause is fixed, the operator makes them due again (`booking-api jobs
    # --retry-failed`), and they go.
    async with db.transaction() as session:
        assert ("email.booking", "failed", 2) in await outbox.counts(session)
        assert await outbox.retry_given_up(session, t) == 2
    inbox.reset()
    await up.run(t)
    assert sorted(r.subject for r in inbox.received) == [
        "Booked: Piano with Ada",
        "Booked: Piano with Sam",
    ]


async def test_a_job_delivered_twice_does_its_work_once(
    gql: GraphQLClient, mail_settings: Settings, db: Database, inbox: Inbox
) -> None:
    """Two deliveries of every job at once, as a broker redelivering would: one email each."""
    ada, service, sam = await setup_lessons(gql)
    await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    runner = Runner(mail_settings, db, CLOCK)
    async with db.session() as session:
        ids = list(
            await session.exec(select(OutboxJob.id).where(OutboxJob.kind == "email.booking"))
        )
    outcomes = await asyncio.gather(*(runner.run(i) for i in ids + ids + ids))
    assert sorted(outcomes) == ["already done"] * 4 + ["done"] * 2
    assert len(inbox.received) == 2


async def test_a_hand_off_lost_after_commit_is_handed_over_again_after_its_lease(
    gql: GraphQLClient, mail_settings: Settings, db: Database, inbox: Inbox
) -> None:
    """The relay died (or the broker dropped the message) after marking rows handed over:
    nothing is lost, the rows go again once the lease runs out."""
    ada, service, sam = await setup_lessons(gql)
    await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    t0 = CLOCK()
    lost: list[uuid.UUID] = []

    async def drop(ids: list[uuid.UUID]) -> None:
        lost.extend(ids)

    await Relay(db, mail_settings, drop, clock=lambda: t0).tick()
    assert len(lost) >= 2 and inbox.received == []
    again = Background(mail_settings, db)
    lease = timedelta(seconds=mail_settings.jobs.lease_seconds)
    await again.run(t0 + lease - timedelta(seconds=1))
    assert inbox.received == []  # still within the lease: maybe a worker has it
    await again.run(t0 + lease + timedelta(seconds=1))
    assert len(inbox.received) == 2


async def test_finished_rows_are_pruned_after_a_week_and_given_up_ones_after_a_month(
    gql: GraphQLClient, mail_settings: Settings, db: Database, inbox: Inbox
) -> None:
    ada, service, sam = await setup_lessons(gql)
    start = when(at(monday(), 9))
    await book(gql, sam, serviceId=service, tutorId=ada.id, start=start.isoformat())
    t0 = CLOCK()
    background = Background(mail_settings, db)
    await background.run(t0)

    async def kinds() -> Counter[str]:
        async with db.session() as session:
            return Counter((await session.exec(select(OutboxJob.kind))).all())

    assert (await kinds())["email.booking"] == 2
    await background.run(t0 + timedelta(days=6))
    assert (await kinds())["email.booking"] == 2
    await background.run(t0 + timedelta(days=7, minutes=10))
    left = await kinds()
    assert left["email.booking"] == 0
    assert left["email.reminder"] == 3  # due (or done) later: not a week old yet
    await background.run(start)  # the last reminders go
    await background.run(start + timedelta(days=7, minutes=10))
    assert not any(kind.startswith("email.") for kind in await kinds())

    gave_up_at = start + timedelta(days=8)
    async with db.transaction() as session:
        gave_up = OutboxJob(
            kind="email.booking", payload={}, due_at=t0, failed_at=gave_up_at, created_at=t0
        )
        session.add(gave_up)
    await background.run(gave_up_at + timedelta(days=29))
    assert (await kinds())["email.booking"] == 1
    await background.run(gave_up_at + timedelta(days=30, minutes=10))
    assert (await kinds())["email.booking"] == 0


async def test_a_parked_or_unknown_job_is_never_run(db: Database, settings: Settings) -> None:
    """A parked row (a guest's manage token) is never run, even when handed a direct id."""
    async with db.transaction() as session:
        outbox.add(
            session,
            notifications.PARKED_TOKEN,
            {"token": "secret"},
            None,
            now=CLOCK(),
            key="manage-token:x",
        )
    async with db.session() as session:
        [row] = list(await session.exec(select(OutboxJob)))
    runner = Runner(settings, db, CLOCK)
    assert await runner.run(row.id) == "parked"
    assert await runner.run(uuid.uuid4()) == "missing"


FEED = "{ viewer { tutor { calendarFeedUrl email lowBalanceThreshold } } }"
ROTATE = """mutation { rotateCalendarFeed { __typename ... on CalendarFeedRotated { url }
  ... on NotFound { message } } }"""


async def test_the_tutor_calendar_feed_is_secret_current_and_rotatable(
    gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    ada, service, sam = await setup_lessons(gql)
    made = await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    cancelled = await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 12))
    await gql(CANCEL, {"input": {"bookingId": cancelled["booking"]["id"]}}, sam)

    mine = (await gql(FEED, token=ada.token))["viewer"]["tutor"]
    assert mine["email"] == ADA and mine["lowBalanceThreshold"] == 2
    url = mine["calendarFeedUrl"]
    assert url.startswith("http://127.0.0.1:8000/calendar/") and url.endswith(".ics")
    assert (await gql(FEED, token=ada.token))["viewer"]["tutor"]["calendarFeedUrl"] == url
    others = await gql(
        "query($id: ID!) { tutor(id: $id) { calendarFeedUrl email } }", {"id": ada.id}, sam
    )
    assert others["tutor"] == {"calendarFeedUrl": None, "email": None}

    path = url.removeprefix("http://127.0.0.1:8000")
    response = await http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    events = icalendar.Calendar.from_ical(response.content).walk("VEVENT")
    assert [str(e["uid"]) for e in events] == [f"{pk(made['booking']['id'])}@booking-api"]

    rotated = (await gql(ROTATE, token=ada.token))["rotateCalendarFeed"]
    assert rotated["__typename"] == "CalendarFeedRotated" and rotated["url"] != url
    assert (await http.get(path)).status_code == 404
    assert (await http.get(rotated["url"].removeprefix("http://127.0.0.1:8000"))).status_code == 200
    nobody = (await gql(ROTATE, token=token("nobody")))["rotateCalendarFeed"]
    assert nobody["__typename"] == "NotFound"


async def test_tutor_profile_update_refuses_bad_input_by_field(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    bad_email = await gql(UPDATE_TUTOR, {"input": {"email": "not-an-address"}}, ada.token)
    assert bad_email["updateTutorProfile"]["field"] == "input.email"
    bad = await gql(UPDATE_TUTOR, {"input": {"lowBalanceThreshold": -1}}, ada.token)
    assert bad["updateTutorProfile"]["field"] == "input.lowBalanceThreshold"
    cleared = await gql(UPDATE_TUTOR, {"input": {"email": None}}, ada.token)
    assert cleared["updateTutorProfile"]["tutor"]["email"] is None
    kept = await gql(UPDATE_TUTOR, {"input": {"lowBalanceThreshold": 5}}, ada.token)
    assert kept["updateTutorProfile"]["tutor"] == {"email": None, "lowBalanceThreshold": 5}
    nobody = await gql(UPDATE_TUTOR, {"input": {"lowBalanceThreshold": 5}}, token("kim"))
    assert nobody["updateTutorProfile"]["__typename"] == "NotFound"


async def test_a_guest_paying_by_card_gets_the_manage_link_once_payment_confirms(
    card_gql: GraphQLClient,
    card_http: httpx.AsyncClient,
    card_settings: Settings,
    mail_settings: Settings,
    stripe_fake: FakeStripe,
    db: Database,
    inbox: Inbox,
) -> None:

    ada, service, _ = await setup_card_lessons(card_gql)
    guest = {"name": "Gus", "email": "gus@example.com"}
    made = await book(
        card_gql, None, serviceId=service, tutorId=ada.id, start=at(monday(), 9), guest=guest
    )
    assert made["booking"]["status"] == "PENDING_PAYMENT"
    background = Background(replace(mail_settings, stripe=card_settings.stripe), db)
    await background.run()
    assert inbox.received == []  # not confirmed yet: the token waits, parked
    checkout = session_of(stripe_fake, made["booking"]["id"])
    assert await outcome(card_http, stripe_fake.pay(checkout["id"])) == "paid: confirmed"
    await background.run()
    [mail] = inbox.to("gus@example.com")
    assert f"https://app.example/manage/{made['manageToken']}" in mail.text
    async with db.session() as session:
        parked = await session.exec(select(OutboxJob).where(OutboxJob.kind == "parked.token"))
        assert list(parked) == []  # taken by the email, not kept


def test_a_job_kind_exists_once_and_with_its_handler() -> None:
    """Kinds are registered by the module that writes them; a second registration is refused,
    and every kind the workers can meet has a handler, except the parked tokens (never run)."""
    with pytest.raises(ValueError, match="registered twice"):
        outbox.register(reminders.REMINDER.kind, reminders.send_reminder)
    parked = {kind for kind, job in outbox.JOBS.items() if job.handler is None}
    assert parked == {"parked.token", "parked.review_token"}
    assert {"email.booking", "calendar.sync", "meeting.link", "sweep.holds"} <= set(outbox.JOBS)
