"""Reminder rules per service, through the API, the local SMTP server and the webhook receiver,
on a clock the test sets: the defaults, rules to the student, the tutor or both (each in their
own zone), rules changed after booking, a booking's remindersEnabled, moved and cancelled
bookings, and the rules' checks. (The BOOKING_REMINDER webhook: test_reminder_webhooks.py.)"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func
from sqlmodel import col, delete, select

from infra.db import Database
from models import OutboxJob
from tests.fakes.smtp_server import Inbox
from tests.helpers import (
    ADA,
    CANCEL,
    CLOCK,
    RESCHEDULE,
    SAM,
    Background,
    GraphQLClient,
    Tutor,
    at,
    book,
    monday,
    pk,
    setup_lessons,
)

pytestmark = pytest.mark.calendar

RULES = "reminders { minutesBefore toStudent toTutor }"
UPDATE_SERVICE = f"""mutation($input: UpdateServiceInput!) {{ updateService(input: $input) {{
  __typename ... on ServiceSaved {{ service {{ id {RULES} }} }}
  ... on InvalidInput {{ message field }} }} }}"""
CREATE_SERVICE = f"""mutation($input: CreateServiceInput!) {{ createService(input: $input) {{
  __typename ... on ServiceSaved {{ service {{ id {RULES} }} }}
  ... on InvalidInput {{ message field }} }} }}"""
SERVICE = f"""query($id: ID!) {{ service(id: $id) {{ {RULES} }} }}"""
DEFAULTS = [
    {"minutesBefore": 1440, "toStudent": True, "toTutor": False},
    {"minutesBefore": 60, "toStudent": True, "toTutor": False},
    {"minutesBefore": 15, "toStudent": True, "toTutor": False},
]


def rule(minutes: int, student: bool = True, tutor: bool = False) -> dict[str, Any]:
    return {"minutesBefore": minutes, "toStudent": student, "toTutor": tutor}


async def violin(
    gql: GraphQLClient, reminders: list[dict[str, Any]] | None, zone: str = "Europe/London"
) -> tuple[Tutor, str, str]:
    """Ada (in `zone`) teaches Violin with these reminder rules (None: the defaults)."""
    ada, _, sam = await setup_lessons(gql, zone)
    input: dict[str, Any] = {
        "title": "Violin",
        "durations": [{"minutes": 60}],
        "slotIntervalMinutes": 60,
    }
    if reminders is not None:
        input["reminders"] = reminders
    made = (await gql(CREATE_SERVICE, {"input": input}, ada.token))["createService"]
    assert made["__typename"] == "ServiceSaved", made
    return ada, made["service"]["id"], sam


async def update_rules(
    gql: GraphQLClient, ada: Tutor, service: str, reminders: list[dict[str, Any]] | None
) -> dict[str, Any]:
    variables = {"input": {"id": service, "reminders": reminders}}
    result: dict[str, Any] = (await gql(UPDATE_SERVICE, variables, ada.token))["updateService"]
    return result


async def timeline(
    background: Background, inbox: Inbox, start: datetime, minutes: list[int]
) -> dict[int | str, list[tuple[str, str]]]:
    """The reminders (to, first line) each run sends, at each of these minutes before `start`
    (in this order) and then after the session ("after"); the inbox emptied first."""
    await background.run()
    assert not any(r.subject.startswith("Reminder:") for r in inbox.received)  # none late
    inbox.reset()
    seen: dict[int | str, list[tuple[str, str]]] = {}
    moments: list[tuple[int | str, datetime]] = [(m, start - timedelta(minutes=m)) for m in minutes]
    for name, moment in [*moments, ("after", start + timedelta(hours=1))]:
        await background.run(moment)
        got = [r for r in inbox.received if r.subject.startswith("Reminder:")]
        seen[name] = sorted((str(r.message["To"]), r.text.splitlines()[0]) for r in got)
        inbox.reset()
    return seen


def only(inbox: Inbox, to: str, subject: str, opening: str, start: datetime, zone: str) -> None:
    """The one email in the inbox, to `to`, its session's time in `zone`; the inbox emptied."""
    [mail] = inbox.received
    assert (str(mail.message["To"]), mail.subject) == (to, subject)
    assert mail.text.splitlines()[0] == opening
    local = start.astimezone(ZoneInfo(zone))
    assert f"{local:%H:%M}–" in mail.text and f"({zone}," in mail.text
    inbox.reset()


async def test_the_default_rules_remind_the_student_three_times_and_read_back(
    gql: GraphQLClient, background: Background, inbox: Inbox
) -> None:
    ada, service, sam = await violin(gql, None)
    assert (await gql(SERVICE, {"id": service}))["service"]["reminders"] == DEFAULTS
    start = datetime.fromisoformat(at(monday(), 10))
    await book(gql, sam, serviceId=service, tutorId=ada.id, start=start.isoformat())
    seen = await timeline(background, inbox, start, [24 * 60 + 1, 24 * 60, 61, 60, 16, 15])
    assert seen == {
        1441: [],
        1440: [(SAM, "Your session starts in 24 hours.")],
        61: [],
        60: [(SAM, "Your session starts in 1 hour.")],
        16: [],
        15: [(SAM, "Your session starts in 15 minutes.")],
        "after": [],
    }


async def test_rules_to_the_student_the_tutor_or_both_each_in_their_own_zone(
    gql: GraphQLClient, background: Background, inbox: Inbox
) -> None:
    rules = [rule(120), rule(30, student=False, tutor=True), rule(10, tutor=True)]
    ada, service, sam = await violin(gql, rules, zone="Asia/Tokyo")
    assert (await gql(SERVICE, {"id": service}))["service"]["reminders"] == rules
    start = datetime.fromisoformat(at(monday(), 10))
    made = await book(
        gql, sam, serviceId=service, tutorId=ada.id, start=start.isoformat(),
        timeZone="America/New_York",
    )  # fmt: skip
    assert made["__typename"] == "BookingCreated"
    await background.run()
    inbox.reset()

    await background.run(start - timedelta(minutes=121))
    assert inbox.received == []
    await background.run(start - timedelta(minutes=120))
    only(inbox, SAM, "Reminder: Violin with Ada", "Your session starts in 2 hours.", start,
         "America/New_York")  # fmt: skip
    await background.run(start - timedelta(minutes=30))
    only(inbox, ADA, "Reminder: Violin with Sam", "Your session with Sam starts in 30 minutes.",
         start, "Asia/Tokyo")  # fmt: skip
    await background.run(start - timedelta(minutes=10))
    assert sorted(str(r.message["To"]) for r in inbox.received) == [ADA, SAM]
    inbox.reset()
    await background.run(start + timedelta(hours=1))
    assert inbox.received == []  # each once


async def test_changed_rules_reschedule_upcoming_bookings_and_saving_again_adds_nothing(
    gql: GraphQLClient, db: Database, background: Background, inbox: Inbox
) -> None:
    ada, service, sam = await violin(gql, None)
    start = datetime.fromisoformat(at(monday(), 10))
    await book(gql, sam, serviceId=service, tutorId=ada.id, start=start.isoformat())
    new_rules = [rule(180, tutor=True), rule(60)]  # 1 hour kept; 24 hours and 15 minutes gone
    for _ in range(2):  # saving the same rules again changes nothing
        saved = await update_rules(gql, ada, service, new_rules)
        assert saved["service"]["reminders"] == new_rules

    async with db.session() as session:
        count = select(func.count()).where(col(OutboxJob.kind) == "email.reminder")
        # The defaults' three stay (a removed rule's do nothing); 3 hours adds two, 1 hour none.
        assert (await session.exec(count)).one() == 5
    untouched = await update_rules(gql, ada, service, None)  # null: left as they are
    assert untouched["service"]["reminders"] == new_rules

    seen = await timeline(background, inbox, start, [24 * 60, 180, 60, 15])
    assert seen == {
        1440: [],
        180: [
            (ADA, "Your session with Sam starts in 3 hours."),
            (SAM, "Your session starts in 3 hours."),
        ],
        60: [(SAM, "Your session starts in 1 hour.")],
        15: [],
        "after": [],
    }


async def test_changed_rules_skip_times_already_past_and_leave_past_bookings(
    gql: GraphQLClient, background: Background, inbox: Inbox
) -> None:
    ada, service, sam = await violin(gql, [rule(60)])
    start = datetime.fromisoformat(at(monday(), 10))
    await book(gql, sam, serviceId=service, tutorId=ada.id, start=start.isoformat())
    CLOCK.set(start - timedelta(hours=3))  # rules change three hours before the session
    assert (await update_rules(gql, ada, service, [rule(240), rule(60), rule(30)]))[
        "__typename"
    ] == "ServiceSaved"
    seen = await timeline(background, inbox, start, [240, 60, 30])
    assert seen == {
        240: [],  # due an hour before the change: skipped, not sent late
        60: [(SAM, "Your session starts in 1 hour.")],
        30: [(SAM, "Your session starts in 30 minutes.")],
        "after": [],
    }
    CLOCK.set(start + timedelta(hours=2))
    await update_rules(gql, ada, service, [rule(15, tutor=True)])
    await background.run(start + timedelta(days=1))
    assert inbox.received == []  # a past booking: nothing new


async def test_no_rules_mean_no_reminders(
    gql: GraphQLClient, background: Background, inbox: Inbox
) -> None:
    ada, service, sam = await violin(gql, [])
    assert (await gql(SERVICE, {"id": service}))["service"]["reminders"] == []
    start = datetime.fromisoformat(at(monday(), 10))
    await book(gql, sam, serviceId=service, tutorId=ada.id, start=start.isoformat())
    assert await timeline(background, inbox, start, [24 * 60, 60, 15]) == {
        1440: [], 60: [], 15: [], "after": []
    }  # fmt: skip


async def test_reminders_enabled_false_silences_the_students_but_not_the_tutors(
    gql: GraphQLClient, background: Background, inbox: Inbox
) -> None:
    ada, service, sam = await violin(gql, [rule(60, tutor=True)])
    start = datetime.fromisoformat(at(monday(), 10))
    await book(
        gql, sam, serviceId=service, tutorId=ada.id, start=start.isoformat(),
        remindersEnabled=False,
    )  # fmt: skip
    # Rules saved later do not turn the student's back on either.
    await update_rules(gql, ada, service, [rule(60, tutor=True), rule(30, tutor=True)])
    assert await timeline(background, inbox, start, [60, 30]) == {
        60: [(ADA, "Your session with Sam starts in 1 hour.")],
        30: [(ADA, "Your session with Sam starts in 30 minutes.")],
        "after": [],
    }


async def test_a_moved_bookings_old_reminders_are_silent_and_a_cancelled_ones_too(
    gql: GraphQLClient, background: Background, inbox: Inbox
) -> None:
    ada, service, sam = await violin(gql, [rule(60, tutor=True)])
    first = datetime.fromisoformat(at(monday(), 10))
    moved_to = first + timedelta(days=1, hours=3)
    made = await book(gql, sam, serviceId=service, tutorId=ada.id, start=first.isoformat())
    booking = made["booking"]["id"]
    moved = await gql(
        RESCHEDULE, {"input": {"bookingId": booking, "newStart": moved_to.isoformat()}}, sam
    )
    assert moved["rescheduleBooking"]["__typename"] == "BookingRescheduled"
    await update_rules(gql, ada, service, [rule(60, tutor=True), rule(20, tutor=True)])
    seen = await timeline(background, inbox, first, [60, 20])
    assert seen == {60: [], 20: [], "after": []}  # the old time's: none
    seen = await timeline(background, inbox, moved_to, [60, 20])
    assert seen[60] == [
        (ADA, "Your session with Sam starts in 1 hour."),
        (SAM, "Your session starts in 1 hour."),
    ]
    assert len(seen[20]) == 2 and seen["after"] == []

    other = datetime.fromisoformat(at(monday(), 14))
    made = await book(gql, sam, serviceId=service, tutorId=ada.id, start=other.isoformat())
    cancel = {"input": {"bookingId": made["booking"]["id"], "reason": "ill"}}
    assert (await gql(CANCEL, cancel, sam))["cancelBooking"]["__typename"] == "BookingCancelled"
    assert await timeline(background, inbox, other, [60, 20]) == {60: [], 20: [], "after": []}


async def test_reminders_written_before_rules_still_go_to_the_student_once(
    gql: GraphQLClient, db: Database, background: Background, inbox: Inbox
) -> None:
    """Rows from before rules per service carry no recipient and no key: the student's, while
    the service keeps the defaults; once rules are saved, their own keyed rows go instead."""
    ada, service, sam = await violin(gql, None)
    start = datetime.fromisoformat(at(monday(), 10))
    made = await book(gql, sam, serviceId=service, tutorId=ada.id, start=start.isoformat())
    await background.run()
    inbox.reset()
    async with db.transaction() as session:
        await session.exec(delete(OutboxJob).where(col(OutboxJob.kind) == "email.reminder"))
        for minutes in (60, 15):
            payload = {"booking": str(pk(made["booking"]["id"])), "start": start.isoformat()}
            session.add(
                OutboxJob(
                    kind="email.reminder",
                    payload={**payload, "minutes": minutes},
                    due_at=start - timedelta(minutes=minutes),
                    created_at=CLOCK(),
                )
            )
    await background.run(start - timedelta(minutes=60))
    assert [r.text.splitlines()[0] for r in inbox.to(SAM)] == ["Your session starts in 1 hour."]
    inbox.reset()
    await update_rules(gql, ada, service, [rule(15)])
    assert await timeline(background, inbox, start, [15]) == {
        15: [(SAM, "Your session starts in 15 minutes.")],
        "after": [],
    }


@pytest.mark.parametrize(
    ("reminders", "field"),
    [
        ([rule(10 * m) for m in range(1, 7)], "input.reminders"),
        ([rule(60), rule(60, student=False, tutor=True)], "input.reminders.1.minutesBefore"),
        ([rule(60), rule(4)], "input.reminders.1.minutesBefore"),
        ([rule(30 * 24 * 60 + 1)], "input.reminders.0.minutesBefore"),
        ([rule(60), rule(30), rule(15, student=False)], "input.reminders.2"),
    ],
)
async def test_rules_are_checked_naming_the_field(
    gql: GraphQLClient, reminders: list[dict[str, Any]], field: str
) -> None:
    ada, service, _ = await setup_lessons(gql)
    made = await ada.service(title="Violin", reminders=reminders)
    assert (made["__typename"], made["field"]) == ("InvalidInput", field)
    updated = await update_rules(gql, ada, service, reminders)
    assert (updated["__typename"], updated["field"]) == ("InvalidInput", field)
    assert (await gql(SERVICE, {"id": service}))["service"]["reminders"] == DEFAULTS


async def test_the_bounds_themselves_are_allowed(gql: GraphQLClient) -> None:
    ada, service, _ = await setup_lessons(gql)
    bounds = [rule(5), rule(30 * 24 * 60, student=False, tutor=True)]
    assert (await update_rules(gql, ada, service, bounds))["service"]["reminders"] == bounds


async def test_a_booking_moved_away_and_back_is_reminded_once(
    gql: GraphQLClient, background: Background, inbox: Inbox
) -> None:
    ada, service, sam = await violin(gql, [rule(60, tutor=True)])
    first = datetime.fromisoformat(at(monday(), 10))
    made = await book(gql, sam, serviceId=service, tutorId=ada.id, start=first.isoformat())
    for start in (first + timedelta(hours=2), first):
        move = {"input": {"bookingId": made["booking"]["id"], "newStart": start.isoformat()}}
        moved = await gql(RESCHEDULE, move, sam)
        assert moved["rescheduleBooking"]["__typename"] == "BookingRescheduled"
    assert await timeline(background, inbox, first, [60]) == {
        60: [
            (ADA, "Your session with Sam starts in 1 hour."),
            (SAM, "Your session starts in 1 hour."),
        ],
        "after": [],
    }
