"""Reminders: each service's rules (how long before a session, to the student, the tutor or
both), the outbox rows they become, and the job that sends one.

Every (booking, start, minutesBefore, recipient) is one outbox row with a unique key, so a
retry never resends one that went and writing the same reminder again adds nothing. They are
written for a booking when it is confirmed or moved (`booking_changed`), and for every upcoming
confirmed booking of a service when its rules change (`rules_changed`, one INSERT … SELECT).
The job checks again when it runs: the booking is still confirmed and starts when it did, the
service's rules still hold a rule of that many minutes for that recipient, and (the student's)
the booking has reminders on.
So a moved or cancelled booking's old reminders, and those of a rule since removed, do nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Integer,
    String,
    and_,
    cast,
    column,
    func,
    literal,
    or_,
    true,
    values,
)
from sqlalchemy import select as sql_select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlmodel import col

from domain import ics, notifications, outbox, webhooks
from domain.errors import InvalidInput
from domain.outbox import JobContext
from infra.db import UnitOfWork, present
from infra.ids import encode_id
from models import Booking, OutboxJob, Service
from models.bookings import BookingAction, BookingStatus
from models.webhooks import WebhookEventType

MAX_RULES = 5
MIN_MINUTES = 5
MAX_MINUTES = 30 * 24 * 60
STUDENT, TUTOR = "student", "tutor"


@dataclass(frozen=True)
class ReminderRule:
    minutes_before: int
    to_student: bool = True
    to_tutor: bool = False


DEFAULT_RULES = (ReminderRule(24 * 60), ReminderRule(60), ReminderRule(15))


def check_rules(rules: Sequence[ReminderRule]) -> None:
    """At most MAX_RULES, each a whole number of minutes from MIN_MINUTES to MAX_MINUTES (30
    days), none twice, each to someone."""
    if len(rules) > MAX_RULES:
        raise InvalidInput(f"At most {MAX_RULES} reminders", "input.reminders")
    seen: set[int] = set()
    for index, rule in enumerate(rules):
        field = f"input.reminders.{index}"
        if not MIN_MINUTES <= rule.minutes_before <= MAX_MINUTES:
            raise InvalidInput(
                f"A reminder goes {MIN_MINUTES} minutes to 30 days ({MAX_MINUTES} minutes) "
                "before the session",
                f"{field}.minutesBefore",
            )
        if rule.minutes_before in seen:
            raise InvalidInput(
                f"Two reminders {rule.minutes_before} minutes before", f"{field}.minutesBefore"
            )
        seen.add(rule.minutes_before)
        if not (rule.to_student or rule.to_tutor):
            raise InvalidInput("A reminder goes to the student, the tutor or both", field)


def stored(rules: Sequence[ReminderRule]) -> list[dict[str, int | bool]]:
    """Rules as the service's `reminder_rules` column keeps them."""
    return [
        {"minutes": r.minutes_before, "student": r.to_student, "tutor": r.to_tutor} for r in rules
    ]


def rules_of(service: Service) -> list[ReminderRule]:
    if service.reminder_rules is None:
        return list(DEFAULT_RULES)
    return [
        ReminderRule(int(r["minutes"]), bool(r["student"]), bool(r["tutor"]))
        for r in service.reminder_rules
    ]


# ---------------------------------------------------------------- scheduling


START_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'  # PostgreSQL's to_char of UTC times
PY_START_FORMAT = "%Y-%m-%dT%H:%M:%S+00:00"  # the same, as Python writes it


def _key(booking_id: Any, start: Any, minutes: Any, to: Any) -> list[Any]:
    """A reminder's unique key, in parts (joined in Python or in SQL the same way)."""
    return ["reminder:", booking_id, ":", start, ":", minutes, ":", to]


async def booking_changed(
    session: UnitOfWork, booking: Booking, action: BookingAction, at: datetime
) -> None:
    """A booking confirmed or moved gets its reminders (those of its old time stay, and do
    nothing when they run), from rows this change already holds (the booking, its service).

    A booking is confirmed once, and only confirmed bookings have reminder rows (here or in
    `rules_changed`), so its first rows are added with the change's other rows, at no extra
    statement. A move may come back to a start that still has rows: one INSERT … ON CONFLICT
    DO NOTHING, without flushing, so the change's own rows still go out together."""
    if action not in (BookingAction.CONFIRMED, BookingAction.RESCHEDULED):
        return
    if booking.status != BookingStatus.CONFIRMED:
        return
    with session.no_autoflush:
        service = present(await session.get(Service, booking.service_id), "booking's service")
    start = booking.start_at.astimezone(UTC).strftime(PY_START_FORMAT)
    rows: list[tuple[str, dict[str, Any], datetime]] = [
        (
            "".join(str(p) for p in _key(booking.id, start, rule.minutes_before, to)),
            {"booking": str(booking.id), "start": start, "minutes": rule.minutes_before, "to": to},
            booking.start_at - timedelta(minutes=rule.minutes_before),
        )
        for rule in rules_of(service)
        for to, wanted in (
            (STUDENT, rule.to_student and booking.reminders_enabled),
            (TUTOR, rule.to_tutor),
        )
        if wanted and booking.start_at - timedelta(minutes=rule.minutes_before) > at
    ]
    if action == BookingAction.CONFIRMED:
        for key, payload, due in rows:
            outbox.add(session, REMINDER, payload, due, now=at, key=key)
    elif rows:
        new_rows = [
            {"id": uuid.uuid4(), "kind": REMINDER.kind, "key": key, "payload": payload,
             "due_at": due, "attempts": 0, "created_at": at}
            for key, payload, due in rows
        ]  # fmt: skip
        with session.no_autoflush:
            await session.exec(
                insert(OutboxJob).values(new_rows).on_conflict_do_nothing(index_elements=["key"])
            )


async def rules_changed(session: UnitOfWork, service_id: uuid.UUID, now: datetime) -> None:
    """The service's new rules for each of its upcoming confirmed bookings: one INSERT …
    SELECT however many there are, each row unless its key exists already (a rule kept finds
    its rows there; a removed rule's rows stay, and their job drops them). Due times already
    past are skipped."""
    rules = (
        func.jsonb_to_recordset(
            func.coalesce(Service.reminder_rules, literal(stored(DEFAULT_RULES), JSONB))
        )
        .table_valued(
            column("minutes", Integer), column("student", Boolean), column("tutor", Boolean)
        )
        .render_derived(name="rule", with_types=True)
    )
    who = values(column("recipient", String), name="who").data([(STUDENT,), (TUTOR,)])
    start = func.to_char(func.timezone("UTC", Booking.start_at), START_FORMAT)
    due = Booking.start_at - func.make_interval(0, 0, 0, 0, 0, rules.c.minutes)
    key = func.concat(*_key(Booking.id, start, rules.c.minutes, who.c.recipient))
    payload = func.jsonb_build_object(
        "booking",
        cast(Booking.id, String),
        "start",
        start,
        "minutes",
        rules.c.minutes,
        "to",
        who.c.recipient,
    )
    at = literal(now, DateTime(timezone=True))
    rows = (
        sql_select(
            func.gen_random_uuid(), literal(REMINDER.kind), key, payload, due, literal(0), at
        )
        .select_from(Booking)
        .join(Service, col(Service.id) == col(Booking.service_id))
        .join(rules, true())
        .join(who, true())
        .where(
            col(Booking.service_id) == service_id,
            col(Booking.status) == BookingStatus.CONFIRMED,
            col(Booking.start_at) > now,
            due > at,
            or_(
                and_(who.c.recipient == STUDENT, rules.c.student, col(Booking.reminders_enabled)),
                and_(who.c.recipient == TUTOR, rules.c.tutor),
            ),
        )
    )
    columns = ["id", "kind", "key", "payload", "due_at", "attempts", "created_at"]
    await session.flush()  # the rules just saved
    await session.exec(
        insert(OutboxJob).from_select(columns, rows).on_conflict_do_nothing(index_elements=["key"])
    )


# ---------------------------------------------------------------- the job


def _wanted(service: Service, minutes: int, to: str) -> bool:
    return any(
        rule.minutes_before == minutes and (rule.to_student if to == STUDENT else rule.to_tutor)
        for rule in rules_of(service)
    )


async def send_reminder(ctx: JobContext, session: UnitOfWork, job: dict[str, Any]) -> None:
    parts = await ics.load(session, uuid.UUID(job["booking"]))
    if parts is None:
        return
    booking, minutes = parts.booking, int(job["minutes"])
    to = job.get("to")
    if to is None:
        # Written before rules per service: the student's, while the service has the default
        # rules (rules saved since wrote keyed rows of their own, which go instead).
        if parts.service.reminder_rules is not None:
            return
        to = STUDENT
    if (
        booking.status != BookingStatus.CONFIRMED
        or booking.start_at != datetime.fromisoformat(job["start"])
        or not _wanted(parts.service, minutes, to)
        or (to == STUDENT and not booking.reminders_enabled)
    ):
        return  # cancelled, moved (its new reminders are on their way), rule gone, or off
    data = await webhooks.booking_data(session, booking)
    person = ("Student", booking.student_id) if to == STUDENT else ("Tutor", booking.tutor_id)
    data["minutesBefore"] = minutes
    data["recipient"] = {"role": to.upper(), "id": encode_id(*person)}
    event = WebhookEventType.BOOKING_REMINDER
    await webhooks.emit(session, [booking.tutor_id], event, data, ctx.now, subject_id=booking.id)
    recipient = notifications.recipient(parts, to)
    if ctx.mailer is None or recipient is None:
        return
    address, zone, other = recipient
    title = f"{parts.service.title} with {other}"
    opening = (
        f"Your session starts in {_duration(minutes)}."
        if to == STUDENT
        else f"Your session with {parts.student.display_name} starts in {_duration(minutes)}."
    )
    paragraphs: list[str | tuple[str, str]] = [
        opening,
        f"{title}\n{notifications.session_time(booking, zone)}",
    ]
    if booking.meeting_url:
        paragraphs.append(("Join the session", booking.meeting_url))
    message = notifications.compose(ctx, address, f"Reminder: {title}", paragraphs)
    await ctx.mailer.send(message)


REMINDER = outbox.register("email.reminder", send_reminder)


def _duration(minutes: int) -> str:
    if minutes % (24 * 60) == 0 and minutes > 24 * 60:
        return f"{minutes // (24 * 60)} days"
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minutes"
