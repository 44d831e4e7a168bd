"""The BOOKING_REMINDER webhook: one per recipient at each reminder's moment, with the
recipient's ids, also when email is off and for a tutor without an email."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from infra.db import Database
from infra.ids import decode_id
from infra.settings import Settings
from tests.background.test_reminder_rules import rule, violin
from tests.fakes.smtp_server import Inbox
from tests.fakes.webhook_receiver import FakeReceiver
from tests.helpers import (
    ADA,
    SAM,
    Background,
    GraphQLClient,
    at,
    book,
    make_tutor,
    monday,
    token,
    weekly,
)
from tests.integrations.test_webhooks import hook

pytestmark = pytest.mark.calendar


async def test_booking_reminder_webhooks_name_each_recipient_also_with_email_off(
    hook_gql: GraphQLClient,
    hook_settings: Settings,
    db: Database,
    receiver: FakeReceiver,
    deliveries: Background,
    inbox: Inbox,
) -> None:
    gql = hook_gql
    ada, service, sam = await violin(gql, [rule(60, tutor=True)])
    await hook(gql, receiver, ada, "/ada", ["BOOKING_REMINDER"])
    start = datetime.fromisoformat(at(monday(), 10))
    made = await book(gql, sam, serviceId=service, tutorId=ada.id, start=start.isoformat())
    booking = made["booking"]["id"]
    quiet = datetime.fromisoformat(at(monday(), 14))
    await book(
        gql, sam, serviceId=service, tutorId=ada.id, start=quiet.isoformat(),
        remindersEnabled=False,
    )  # fmt: skip
    await deliveries.run(start - timedelta(minutes=61))
    assert receiver.at("/ada") == []
    inbox.reset()

    await deliveries.run(start - timedelta(minutes=60))
    got = receiver.at("/ada")
    assert [r.error for r in got] == [None, None]  # signed, verified
    assert [r.type for r in got] == ["booking.reminder", "booking.reminder"]
    payloads = [r.payload for r in got if r.payload is not None]
    by_role = {p["data"]["recipient"]["role"]: p["data"] for p in payloads}
    assert set(by_role) == {"STUDENT", "TUTOR"}
    student, tutor = by_role["STUDENT"], by_role["TUTOR"]
    assert student["minutesBefore"] == tutor["minutesBefore"] == 60
    assert student["booking"]["id"] == booking == tutor["booking"]["id"]
    assert student["booking"]["status"] == "CONFIRMED"
    assert student["booking"]["start"] == tutor["booking"]["start"]
    assert student["recipient"]["id"] == student["booking"]["student"]["id"]
    assert decode_id(student["recipient"]["id"]) is not None
    assert decode_id(student["recipient"]["id"])[0] == "Student"  # type: ignore[index]
    assert tutor["recipient"]["id"] == ada.id == tutor["booking"]["tutor"]["id"]
    # At the same moment as the emails.
    assert sorted(str(r.message["To"]) for r in inbox.received) == [ADA, SAM]
    sent = len(receiver.received)

    # Email off: the webhook still goes; the quiet booking's student gets neither.
    no_mail = Background(replace(hook_settings, smtp=None), db)
    receiver.clock = lambda: no_mail.now
    inbox.reset()
    await no_mail.run(quiet + timedelta(hours=1))
    [only] = receiver.received[sent:]
    assert only.payload is not None
    assert only.payload["data"]["recipient"] == {"role": "TUTOR", "id": ada.id}
    assert only.payload["data"]["booking"]["start"].startswith(quiet.strftime("%Y-%m-%dT%H:%M"))
    assert inbox.received == []


async def test_a_tutor_with_no_email_gets_the_webhook_only(
    hook_gql: GraphQLClient, receiver: FakeReceiver, deliveries: Background, inbox: Inbox
) -> None:
    bo = await make_tutor(hook_gql, "bo", "UTC", weekly("00:00", "00:00"))  # no email anywhere
    made = await bo.service(title="Chess", reminders=[rule(60, tutor=True)])
    await hook(hook_gql, receiver, bo, "/bo", ["BOOKING_REMINDER"])
    sam = token("sam", name="Sam", email=SAM)
    start = datetime.fromisoformat(at(monday(), 10))
    await book(
        hook_gql, sam, serviceId=made["service"]["id"], tutorId=bo.id, start=start.isoformat()
    )
    await deliveries.run()
    inbox.reset()
    await deliveries.run(start - timedelta(minutes=60))
    assert [str(r.message["To"]) for r in inbox.received] == [SAM]
    roles = sorted(r.payload["data"]["recipient"]["role"] for r in receiver.at("/bo") if r.payload)
    assert roles == ["STUDENT", "TUTOR"]
