"""Email: what a change sets in motion (outbox rows), and the jobs that write and send it.

Each email is its own outbox row, one recipient each, so a retry never resends one that went.
Times are shown in the recipient's zone as it is when the email goes: the student's profile zone
(else the one kept on the booking), the tutor's own.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, func, literal
from sqlalchemy import select as sql_select
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, delete
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import ics, outbox
from domain.outbox import JobContext
from infra.crypto import Cipher
from infra.db import UnitOfWork, present
from models import (
    Booking,
    OutboxJob,
)
from models.bookings import BookingAction, BookingStatus

PARKED_TOKEN_DAYS = 2  # a Checkout Session lasts at most a day: a parked token is no use after


# ---------------------------------------------------------------- what changes set in motion


def booking_changed(
    session: UnitOfWork,
    booking: Booking,
    action: BookingAction,
    at: datetime,
    moved_from: datetime | None = None,
) -> None:
    """Emails for a booking's change, sent once the change commits (its reminders:
    domain/reminders.py)."""
    if action not in (BookingAction.CONFIRMED, BookingAction.RESCHEDULED, BookingAction.CANCELLED):
        return
    if action == BookingAction.RESCHEDULED and booking.status != BookingStatus.CONFIRMED:
        return  # a booking still waiting for payment is announced when it is confirmed
    for to in ("student", "tutor"):
        email = {"booking": str(booking.id), "action": action, "to": to}
        if moved_from is not None:
            email["from"] = moved_from.isoformat()
        outbox.add(session, BOOKING_EMAIL, email, at, now=at)


# A guest's manage token waits here for the confirmation email; never run.
PARKED_TOKEN = outbox.register("parked.token", None)


def _token_key(booking_id: uuid.UUID) -> str:
    return f"manage-token:{booking_id}"


def park_manage_token(
    session: UnitOfWork, cipher: Cipher, booking: Booking, token: str, now: datetime
) -> None:
    """A guest's manage token, kept (parked, never run) until the confirmation email takes it:
    encrypted, since the booking itself keeps only its hash."""
    payload = {outbox.ENCRYPTED_TOKEN: cipher.encrypt(token)}
    outbox.add(session, PARKED_TOKEN, payload, None, now=now, key=_token_key(booking.id))


# ---------------------------------------------------------------- periodic sweeps


async def insert_new(
    session: AsyncSession, job: outbox.Job, key: Any, payload: Any, now: datetime, *where: Any
) -> None:
    """One `job` per row matching `where`, due now, unless its key exists already: the
    sweep that runs every few minutes adds each notice once."""
    at = literal(now, DateTime(timezone=True))
    rows = sql_select(func.gen_random_uuid(), literal(job.kind), key, payload, at, literal(0), at)
    columns = ["id", "kind", "key", "payload", "due_at", "attempts", "created_at"]
    await session.exec(
        insert(OutboxJob)
        .from_select(columns, rows.where(*where))
        .on_conflict_do_nothing(index_elements=["key"])
    )


async def drop_stale_tokens(session: AsyncSession, now: datetime) -> None:
    """Parked manage tokens of bookings that were never confirmed."""
    await session.exec(
        delete(OutboxJob).where(
            col(OutboxJob.kind) == PARKED_TOKEN.kind,
            col(OutboxJob.created_at) < now - timedelta(days=PARKED_TOKEN_DAYS),
        )
    )


# ---------------------------------------------------------------- the jobs


async def send_booking_email(ctx: JobContext, session: AsyncSession, job: dict[str, Any]) -> None:
    parts = await ics.load(session, uuid.UUID(job["booking"]))
    if parts is None or ctx.mailer is None:
        return
    action, to = job["action"], job["to"]
    manage = None
    if to == "student" and action == BookingAction.CONFIRMED:
        parked = await outbox.take_parked(session, _token_key(parts.booking.id))
        if parked is not None:
            token = ctx.cipher.decrypt(parked[outbox.ENCRYPTED_TOKEN])
            manage = ctx.settings.manage_url.format(token=token)
    found = recipient(parts, to)
    if found is None:
        return
    address, zone, other = found
    title = f"{parts.service.title} with {other}"
    when = session_time(parts.booking, zone)
    subject, opening = {
        "CONFIRMED": (f"Booked: {title}", "Your booking is confirmed."),
        "RESCHEDULED": (f"Moved: {title}", "Your booking has moved to a new time."),
        "CANCELLED": (f"Cancelled: {title}", "This booking has been cancelled."),
    }[action]
    paragraphs: list[str | tuple[str, str]] = [opening, f"{title}\n{when}"]
    if "from" in job:
        was = datetime.fromisoformat(job["from"]).astimezone(ZoneInfo(zone))
        paragraphs.append(f"It was on {was:%A %-d %B %Y} at {was:%H:%M}.")
    if action == BookingAction.CANCELLED and parts.booking.cancellation_reason:
        paragraphs.append(f"Reason: {parts.booking.cancellation_reason}")
    if action != BookingAction.CANCELLED and parts.booking.meeting_url:
        paragraphs.append(("Join the session", parts.booking.meeting_url))
    if manage is not None:
        paragraphs.append(("Reschedule or cancel", manage))
    attachment = ics.render([parts], ctx.now) if action != BookingAction.CANCELLED else None
    await ctx.mailer.send(compose(ctx, address, subject, paragraphs, attachment))


BOOKING_EMAIL = outbox.register("email.booking", send_booking_email)


# ---------------------------------------------------------------- composing


def recipient(parts: ics.BookingParts, to: str) -> tuple[str, str, str] | None:
    """(address, zone, the other party's name), or None for a tutor with no email."""
    if to == "student":
        return parts.student.email, parts.student_zone, parts.tutor.display_name
    if parts.tutor.email is None:
        return None
    return parts.tutor.email, parts.tutor.time_zone, parts.student.display_name


def session_time(booking: Booking, zone: str) -> str:
    tz = ZoneInfo(zone)
    start, end = booking.start_at.astimezone(tz), booking.end_at.astimezone(tz)
    return f"{start:%A %-d %B %Y}, {start:%H:%M}–{end:%H:%M} ({zone}, {start:%Z})"


def compose(
    ctx: JobContext,
    to: str,
    subject: str,
    paragraphs: Sequence[str | tuple[str, str]],
    calendar: bytes | None = None,
) -> EmailMessage:
    """Plain text and HTML with the same paragraphs; (label, url) pairs become links.

    The Message-ID is the job's: an email sent again after a crash (the SMTP server took it,
    our commit did not happen) carries the same id, which mail systems use to drop repeats."""
    sender = present(ctx.mailer, "mailer").sender  # callers return early when email is off
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(ctx.now)
    message["Message-ID"] = (
        f"<{ctx.job_id}@{domain}>" if ctx.job_id is not None else make_msgid(domain=domain)
    )
    text = "\n\n".join(p if isinstance(p, str) else f"{p[0]}: {p[1]}" for p in paragraphs)
    message.set_content(text + "\n")
    body = "".join(
        f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>"
        if isinstance(p, str)
        else f'<p><a href="{html.escape(p[1])}">{html.escape(p[0])}</a></p>'
        for p in paragraphs
    )
    message.add_alternative(f"<!doctype html><html><body>{body}</body></html>", subtype="html")
    if calendar is not None:
        message.add_attachment(
            calendar, maintype="text", subtype="calendar", filename="booking.ics"
        )
    return message
