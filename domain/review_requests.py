"""The review request: one email to the student once their session is marked COMPLETED.

A guest has no account, so their link carries the booking's manage token, which the booking
keeps only as a hash: a copy is parked when it is made (encrypted, like the one the
confirmation email takes), taken by the request, and dropped by a sweep once the booking can
no longer be reviewed. Signed-in students review in the app.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Uuid, cast, exists
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import ics, notifications, outbox
from domain.outbox import JobContext
from infra.crypto import Cipher
from infra.db import UnitOfWork
from models import Booking, OutboxJob, Review
from models.bookings import BookingAction, BookingStatus

# A session may be reviewed until this long after it ends.
REVIEW_WINDOW = timedelta(days=30)
# A booking whose review link may still be needed.
_OPEN = (BookingStatus.PENDING_PAYMENT, BookingStatus.CONFIRMED, BookingStatus.COMPLETED)


def _token_key(booking_id: uuid.UUID) -> str:
    return f"review-token:{booking_id}"


# A guest's manage token kept for the review request's link; never run.
PARKED_REVIEW_TOKEN = outbox.register("parked.review_token", None)


def park_token(
    session: UnitOfWork, cipher: Cipher, booking: Booking, token: str, now: datetime
) -> None:
    payload = {outbox.ENCRYPTED_TOKEN: cipher.encrypt(token), "booking": str(booking.id)}
    key = _token_key(booking.id)
    outbox.add(session, PARKED_REVIEW_TOKEN, payload, None, now=now, key=key)


async def booking_changed(
    session: UnitOfWork, booking: Booking, action: BookingAction, at: datetime
) -> None:
    """A completed session's review request, once per booking (a no-show gets none)."""
    if action != BookingAction.COMPLETED:
        return
    key = f"review-request:{booking.id}"
    await outbox.add_once(session, REVIEW_REQUEST, key, {"booking": str(booking.id)}, at)
    session.wake_relay_on_commit()


async def drop_stale_tokens(session: AsyncSession, now: datetime) -> None:
    """Parked review tokens of bookings that can no longer be reviewed: cancelled, expired, a
    no-show, or ended longer than the review window ago."""
    reviewable = exists().where(
        col(Booking.id) == cast(OutboxJob.payload["booking"].astext, Uuid),  # by its key
        col(Booking.status).in_(_OPEN),
        col(Booking.end_at) > now - REVIEW_WINDOW,
    )
    await session.exec(
        delete(OutboxJob).where(col(OutboxJob.kind) == PARKED_REVIEW_TOKEN.kind, ~reviewable)
    )


async def send_review_request(ctx: JobContext, session: AsyncSession, job: dict[str, Any]) -> None:
    booking_id = uuid.UUID(job["booking"])
    # Taken whatever happens next: this request is the token's only use.
    parked = await outbox.take_parked(session, _token_key(booking_id))
    parts = await ics.load(session, booking_id)
    if parts is None or ctx.mailer is None:
        return
    booking = parts.booking
    query = select(Review.id).where(Review.booking_id == booking_id)
    reviewed = (await session.exec(query)).first()
    if (
        booking.status != BookingStatus.COMPLETED
        or not booking.reminders_enabled  # the student asked for no reminders
        or reviewed is not None
        or ctx.now > booking.end_at + REVIEW_WINDOW
    ):
        return
    title = f"{parts.service.title} with {parts.tutor.display_name}"
    paragraphs: list[str | tuple[str, str]] = [
        f"How was your session? A rating (1 to 5) and a few words help "
        f"{parts.tutor.display_name} and other students.",
        f"{title}\n{notifications.session_time(booking, booking.student_time_zone)}",
    ]
    if parked is not None:
        token = ctx.cipher.decrypt(parked[outbox.ENCRYPTED_TOKEN])
        paragraphs.append(("Leave a review", ctx.settings.manage_url.format(token=token)))
    else:
        paragraphs.append("Leave your review in the app, within 30 days of the session.")
    subject = f"How was {title}?"
    await ctx.mailer.send(notifications.compose(ctx, parts.student.email, subject, paragraphs))


REVIEW_REQUEST = outbox.register("email.review_request", send_review_request)
