"""Webhooks for a platform's own push notifications, at the moments of the emails:
PACKAGE_LOW_BALANCE and PACKAGE_EXPIRING for the student and the tutor, FORM_REMINDER for the
student; once per recipient, also when email is off, never when the email would not go."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.db import Database, present
from infra.settings import Settings
from tests.bookings.test_forms import GOOD, answers, asked
from tests.bookings.test_forms import book as book_with_form
from tests.fakes.smtp_server import Inbox
from tests.fakes.webhook_receiver import FakeReceiver
from tests.helpers import (
    ADA,
    CLOCK,
    SAM,
    Background,
    GraphQLClient,
    Tutor,
    make_tutor,
    setup_lessons,
    stored_student,
    token,
    weekly,
)
from tests.integrations.test_webhooks import hook
from tests.packages.test_package_notices import book_with, grant_sessions, later
from tests.packages.test_packages_api import ADJUST
from tests.processes import free_port

PACKAGES = ["PACKAGE_LOW_BALANCE", "PACKAGE_EXPIRING"]


class Lessons:
    """Ada's lessons, Sam's package with her and Ada's endpoint at /ada."""

    def __init__(self, ada: Tutor, service: str, sam: str, sam_id: str, package: str) -> None:
        self.ada, self.service, self.sam, self.sam_id = ada, service, sam, sam_id
        self.package = package

    async def book(self, gql: GraphQLClient, hour: int, package: str | None = None) -> None:
        await book_with(gql, self.ada, self.service, self.sam, package or self.package, hour)

    def expected(self, remaining: int, expires: datetime) -> dict[str, Any]:
        """The package as each event shows it."""
        return {
            "id": self.package,
            "unit": "SESSIONS",
            "remaining": remaining,
            "expiresAt": expires.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "tutor": {"id": self.ada.id, "name": "Ada"},
            "student": {"id": self.sam_id, "name": "Sam"},
        }

    def recipients(self) -> list[dict[str, str]]:
        return [{"role": "STUDENT", "id": self.sam_id}, {"role": "TUTOR", "id": self.ada.id}]


async def lessons(
    gql: GraphQLClient,
    receiver: FakeReceiver,
    db: Database,
    total: int,
    expires: datetime,
    ada: Tutor | None = None,
) -> Lessons:
    if ada is None:
        ada, service, sam = await setup_lessons(gql)
    else:
        made = await ada.service(title="Piano", slotIntervalMinutes=60)
        service, sam = made["service"]["id"], token("sam", name="Sam", email=SAM)
    await hook(gql, receiver, ada, "/ada", PACKAGES)
    sam_id = await stored_student(db, sam)
    package = await grant_sessions(gql, ada, sam_id, total, expires)
    return Lessons(ada, service, sam, sam_id, package)


def events(receiver: FakeReceiver, kind: str) -> list[dict[str, Any]]:
    """The verified events of `kind` at /ada, by recipient (student first)."""
    found = []
    for received in receiver.at("/ada"):
        assert received.error is None and received.payload is not None
        if received.type == kind:
            found.append(received.payload["data"])
    return sorted(found, key=by_recipient)


def by_recipient(data: dict[str, Any]) -> tuple[bool, str]:
    return data["recipient"]["role"] != "STUDENT", str(data)


async def test_low_balance_is_posted_once_for_the_student_and_once_for_the_tutor(
    hook_gql: GraphQLClient, receiver: FakeReceiver, deliveries: Background, db: Database
) -> None:
    expires = later(60)
    s = await lessons(hook_gql, receiver, db, 4, expires)
    for hour in (9, 11, 13):  # 3, 2, 1 left: past Ada's threshold (2) twice
        await s.book(hook_gql, hour)
        await deliveries.run()
    await deliveries.run()
    assert events(receiver, "package.low_balance") == [
        {"package": s.expected(2, expires), "recipient": recipient} for recipient in s.recipients()
    ]
    assert events(receiver, "package.expiring") == []  # 60 days off


async def test_expiry_is_posted_30_and_7_days_before_for_each_recipient_once(
    hook_gql: GraphQLClient, receiver: FakeReceiver, deliveries: Background, db: Database
) -> None:
    expires = later(20)
    s = await lessons(hook_gql, receiver, db, 5, expires)
    for moment in (None, CLOCK() + timedelta(hours=1), expires - timedelta(days=6)):
        await deliveries.run(moment)
    await deliveries.run(expires - timedelta(days=5))
    expected: list[dict[str, Any]] = [
        {"package": s.expected(5, expires), "daysBefore": days, "recipient": recipient}
        for days in (30, 7)
        for recipient in s.recipients()
    ]
    assert events(receiver, "package.expiring") == sorted(expected, key=by_recipient)


async def test_the_webhooks_go_when_email_is_off(
    hook_gql: GraphQLClient,
    receiver: FakeReceiver,
    hook_settings: Settings,
    db: Database,
    inbox: Inbox,
) -> None:
    silent = Background(replace(hook_settings, smtp=None), db)
    receiver.clock = lambda: silent.now
    expires = later(20)
    s = await lessons(hook_gql, receiver, db, 3, expires)
    await s.book(hook_gql, 9)
    await silent.run()
    recipients = s.recipients()
    assert [e["recipient"] for e in events(receiver, "package.low_balance")] == recipients
    assert [e["recipient"] for e in events(receiver, "package.expiring")] == recipients
    assert inbox.received == []


async def test_a_notice_retried_after_a_mail_failure_goes_once_per_recipient(
    hook_gql: GraphQLClient,
    receiver: FakeReceiver,
    deliveries: Background,
    hook_settings: Settings,
    db: Database,
    inbox: Inbox,
) -> None:
    smtp = replace(present(hook_settings.smtp, "smtp"), port=free_port())  # nothing listens
    broken = Background(replace(hook_settings, smtp=smtp), db)
    s = await lessons(hook_gql, receiver, db, 3, later(60))
    await s.book(hook_gql, 9)
    await broken.run()  # each job fails at its email: its webhook is undone with it
    assert inbox.received == [] and receiver.at("/ada") == []
    for minutes in (5, 10):
        await deliveries.run(CLOCK() + timedelta(minutes=minutes))
    recipients = s.recipients()
    assert [e["recipient"] for e in events(receiver, "package.low_balance")] == recipients
    assert [r.subject for r in inbox.to(SAM) if "left with" in r.subject] == [
        "2 sessions left with Ada"
    ]
    assert [r.subject for r in inbox.to(ADA) if r.subject.startswith("Sam has")] == [
        "Sam has 2 sessions left"
    ]


async def test_a_tutor_without_an_email_still_gets_the_webhook(
    hook_gql: GraphQLClient,
    receiver: FakeReceiver,
    deliveries: Background,
    db: Database,
    inbox: Inbox,
) -> None:
    bea = await make_tutor(hook_gql, "bea", "UTC", weekly("00:00", "00:00"))
    s = await lessons(hook_gql, receiver, db, 3, later(60), ada=bea)
    await s.book(hook_gql, 9)
    await deliveries.run()
    roles = [e["recipient"]["role"] for e in events(receiver, "package.low_balance")]
    assert roles == ["STUDENT", "TUTOR"]
    # Sam's emails only: Bea has no address.
    assert {tuple(r.to) for r in inbox.received} == {(SAM,)}
    assert "2 sessions left with Bea" in [r.subject for r in inbox.received]


async def test_no_package_webhook_when_the_email_would_not_go(
    hook_gql: GraphQLClient, receiver: FakeReceiver, deliveries: Background, db: Database
) -> None:
    # Renewed above the threshold before the low-balance notices ran.
    s = await lessons(hook_gql, receiver, db, 3, later(60))
    await s.book(hook_gql, 9)
    renewed = await hook_gql(ADJUST, {"input": {"packageId": s.package, "delta": 3}}, s.ada.token)
    assert renewed["adjustPackage"]["package"]["remaining"] == 5
    # Used up before its first expiry sweep (low balance, at 0, still goes).
    used_up = await grant_sessions(hook_gql, s.ada, s.sam_id, 1, later(20))
    await s.book(hook_gql, 11, used_up)
    # Expired before any sweep saw it within a notice's reach.
    expired = later(3)
    await grant_sessions(hook_gql, s.ada, s.sam_id, 2, expired)
    await deliveries.run(expired + timedelta(hours=1))
    low = events(receiver, "package.low_balance")
    assert [e["package"]["id"] for e in low] == [used_up, used_up]
    assert events(receiver, "package.expiring") == []


async def test_a_form_reminder_is_posted_once_for_the_student_never_when_submitted(
    hook_gql: GraphQLClient, receiver: FakeReceiver, deliveries: Background, db: Database
) -> None:
    ada, service, sam = await setup_lessons(hook_gql)
    t0 = (CLOCK() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    await hook(hook_gql, receiver, ada, "/ada", ["FORM_REMINDER"])
    questions = await asked(hook_gql, ada, service)
    start = (t0 + timedelta(hours=40)).isoformat()
    pending = await book_with_form(hook_gql, sam, serviceId=service, start=start)
    submitted_at = (t0 + timedelta(hours=41)).isoformat()
    submitted = await book_with_form(
        hook_gql, sam, serviceId=service, start=submitted_at, answers=answers(questions, *GOOD)
    )
    assert submitted["booking"]["formStatus"] == "SUBMITTED"
    for hours in (0, 1, 2):
        await deliveries.run(t0 + timedelta(hours=hours))
    [reminder] = [r for r in receiver.at("/ada") if r.type == "form.reminder"]
    assert reminder.error is None and reminder.payload is not None
    data = reminder.payload["data"]
    sam_id = await stored_student(db, sam)
    assert data["recipient"] == {"role": "STUDENT", "id": sam_id}
    assert set(data) == {"booking", "recipient"}
    booking = data["booking"]
    assert booking["id"] == pending["booking"]["id"] and booking["student"]["id"] == sam_id
    assert (booking["status"], booking["start"]) == ("CONFIRMED", start.replace("+00:00", "Z"))
    assert booking["tutor"] == {"id": ada.id, "name": "Ada"}
