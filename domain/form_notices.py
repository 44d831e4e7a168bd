"""The emails of check-in forms: the answers to the tutor when a form is submitted, and one
reminder to the student (or guest) of a form still PENDING 24 to 48 hours before the session.

The reminder is a periodic sweep (`workers/jobs.py` SWEEP_FORMS): each booking it reminds gets a
`form_reminders` row in the same statement, so it is never reminded twice, even when it moves.
Each email's webhook goes at its moment: FORM_SUBMITTED with the answers, FORM_REMINDER for the
student (also when email is off).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, String, cast, func, literal
from sqlalchemy import select as sql_select
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import forms, ics, notifications, outbox, webhooks
from domain.outbox import JobContext
from infra.db import UnitOfWork
from infra.ids import encode_id
from models import Booking, FormReminder, OutboxJob, QuestionType
from models.bookings import BookingStatus
from models.webhooks import WebhookEventType

# A pending form is reminded once, when its session is this far off.
REMIND_FROM = timedelta(hours=24)
REMIND_UNTIL = timedelta(hours=48)


async def submitted(
    session: UnitOfWork, booking: Booking, answers: dict[uuid.UUID, list[str]], now: datetime
) -> None:
    """The answers emailed to the tutor, and the FORM_SUBMITTED webhook."""
    outbox.add(session, FORM_ANSWERS, {"booking": str(booking.id)}, now, now=now)
    await webhooks.form_submitted(session, booking, answers, now)


async def schedule_reminders(session: AsyncSession, now: datetime) -> None:
    """Confirmed bookings whose form is PENDING and whose session starts in 24 to 48 hours,
    not reminded before: each marked reminded and given its email job, in one statement."""
    at = literal(now, DateTime(timezone=True))
    due = (
        insert(FormReminder)
        .from_select(
            ["booking_id", "sent_at"],
            select(col(Booking.id), at).where(
                col(Booking.status) == BookingStatus.CONFIRMED,
                col(Booking.start_at) > now + REMIND_FROM,
                col(Booking.start_at) <= now + REMIND_UNTIL,
                forms.form_status() == forms.FormStatus.PENDING.value,
            ),
        )
        .on_conflict_do_nothing(index_elements=["booking_id"])
        .returning(col(FormReminder.booking_id))
        .cte("due")
    )
    booking = cast(due.c.booking_id, String)
    jobs = sql_select(
        func.gen_random_uuid(),
        literal(FORM_REMINDER.kind),
        literal("form-reminder:") + booking,
        func.jsonb_build_object("booking", booking),
        at,
        literal(0),
        at,
    )
    columns = ["id", "kind", "key", "payload", "due_at", "attempts", "created_at"]
    await session.exec(insert(OutboxJob).from_select(columns, jobs).add_cte(due))


def _shown(answer: forms.Answer) -> str:
    if answer.question.type == QuestionType.CHECKBOX:
        return "Yes" if answer.values == ["true"] else "No"
    return ", ".join(answer.values)


async def send_answers(ctx: JobContext, session: AsyncSession, job: dict[str, Any]) -> None:
    parts = await ics.load(session, uuid.UUID(job["booking"]))
    address = parts.tutor.email if parts is not None else None
    if parts is None or address is None or ctx.mailer is None:
        return
    booking, tutor = parts.booking, parts.tutor
    answers = (await forms.answers_of(session, [booking.id])).get(booking.id, [])
    title = f"{parts.service.title} with {parts.student.display_name}"
    paragraphs: list[str | tuple[str, str]] = [
        f"{parts.student.display_name} answered the check-in questions.",
        f"{title}\n{notifications.session_time(booking, tutor.time_zone)}",
        *(f"{answer.question.prompt}\n{_shown(answer)}" for answer in answers),
    ]
    subject = f"Check-in answers: {title}"
    await ctx.mailer.send(notifications.compose(ctx, address, subject, paragraphs))


FORM_ANSWERS = outbox.register("email.form_answers", send_answers)


async def send_reminder(ctx: JobContext, session: UnitOfWork, job: dict[str, Any]) -> None:
    """The FORM_REMINDER webhook, then the email (when email is on): to the student."""
    parts = await ics.load(session, uuid.UUID(job["booking"]))
    if parts is None:
        return
    booking = parts.booking
    query = select(forms.form_status()).where(col(Booking.id) == booking.id)
    pending = (await session.exec(query)).one() == forms.FormStatus.PENDING
    if booking.status != BookingStatus.CONFIRMED or not pending or booking.start_at <= ctx.now:
        return  # cancelled, or answered since the sweep
    data = await webhooks.booking_data(session, booking)
    data["recipient"] = {"role": "STUDENT", "id": encode_id("Student", booking.student_id)}
    event = WebhookEventType.FORM_REMINDER
    await webhooks.emit(session, [booking.tutor_id], event, data, ctx.now, booking.id)
    if ctx.mailer is None:
        return
    questions = await forms.asked(session, booking.service_id)
    title = f"{parts.service.title} with {parts.tutor.display_name}"
    where = "in the app" if parts.student.user_id else "through the link in your booking email"
    paragraphs: list[str | tuple[str, str]] = [
        f"{parts.tutor.display_name} asks a few questions before your session: answer them "
        f"{where} before it starts.",
        f"{title}\n{notifications.session_time(booking, parts.student_zone)}",
        "\n".join(f"• {q.prompt}{' (required)' if q.required else ''}" for q in questions),
    ]
    message = notifications.compose(
        ctx, parts.student.email, f"Before your session: {title}", paragraphs
    )
    await ctx.mailer.send(message)


FORM_REMINDER = outbox.register("email.form_reminder", send_reminder)
