"""A booking's check-in form: its answers stored, submitted later, and read by those who may.

Answers are checked by `forms.check_answers` (the one check, at booking and on submission) and
stored by `save_answers`, in the booking's own transaction (`create`) or under its lock
(`submit_booking_form`). The student, or the guest holding the manage token, submits until the
session starts; a later submission replaces the earlier one. The answers are read by whoever
`access` lets see the booking: its student or guest, its tutor, and the owners and admins of
the tutor's organization. Nobody else sees the booking at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, delete

from domain import form_notices, forms
from domain.bookings.access import access_of, lock_for_change
from domain.bookings.requests import ACTIVE, Caller
from domain.errors import Forbidden, Policy, PolicyViolation
from infra.auth import Identity
from infra.db import Database, UnitOfWork
from models import Booking, FormAnswer


async def save_answers(
    session: UnitOfWork, made: Sequence[Booking], checked: forms.Checked | None, now: datetime
) -> None:
    """Each booking's answers replaced by these; a complete form is SUBMITTED and its answers
    emailed to the tutor. None (no answers given) leaves the form as it is."""
    if checked is None or not checked.asks:
        return
    for booking in made:
        await session.exec(delete(FormAnswer).where(col(FormAnswer.booking_id) == booking.id))
        session.add_all(
            FormAnswer(booking_id=booking.id, question_id=question, values=values)
            for question, values in checked.values.items()
        )
        if checked.complete:
            booking.form_submitted_at = now
            session.add(booking)
            await form_notices.submitted(session, booking, checked.values, now)


async def submit_booking_form(
    db: Database,
    caller: Caller,
    booking_id: uuid.UUID | None,
    answers: Sequence[forms.AnswerInput],
    now: datetime,
) -> Booking:
    """By the booking's student (or guest, by token), complete, before the session starts."""
    async with db.transaction() as session:
        locked = await lock_for_change(session, caller, booking_id, lock_tutor=False)
        if locked.as_tutor:
            raise Forbidden("Only the booking's student answers its check-in form")
        booking = locked.booking
        if booking.status not in ACTIVE:
            raise PolicyViolation(
                f"A {booking.status.lower()} booking's form is closed", Policy.INVALID_TRANSITION
            )
        if booking.start_at <= now:
            raise PolicyViolation(
                "The session has started: its form is closed", Policy.INVALID_TRANSITION
            )
        checked = await forms.submission(session, booking.service_id, answers)
        await save_answers(session, [booking], checked, now)
    return booking


async def visible_answers(
    db: Database, identity: Identity | None, token: str | None, booking_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[forms.Answer]]:
    """Each booking's answers, for bookings the caller (with the guest's token, if any) may
    see; none for others."""
    async with db.session() as session:
        access = await access_of(session, identity, token)
        return await forms.answers_of(session, booking_ids, access.condition())
