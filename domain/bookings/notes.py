"""What a booking keeps from most eyes: the tutor's lesson note and the contact phone.

The note is written by the booking's tutor, or an owner or admin of the tutor's organization
(`access.lock_for_change`: the one rule of who acts on a booking as its tutor), one per booking,
replaced on each save. Both are read through `access` too: the tutor's side sees the note and
the phone; the student (or guest by token) sees the note only when it is shared, and the guest
holding the token sees the phone they gave. Nobody else sees the booking at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, delete, select

from domain.bookings.access import Role, access_of, lock_for_change
from domain.bookings.requests import Caller
from domain.errors import Forbidden, InvalidInput
from infra.db import Database
from models import Booking, LessonNote

MAX_NOTE = 10_000


@dataclass(frozen=True)
class Confidential:
    """What the caller may see of a booking's note and contact phone (None: nothing)."""

    note: LessonNote | None = None
    contact_phone: str | None = None


def confidential_for(role: Role | None, booking: Booking, note: LessonNote | None) -> Confidential:
    if role == "TUTOR":
        return Confidential(note, booking.contact_phone)
    shared = note if note is not None and note.shared_with_student else None
    return Confidential(shared, booking.contact_phone if role == "GUEST" else None)


async def set_lesson_note(
    db: Database, caller: Caller, booking_id: uuid.UUID, text: str, shared: bool, now: datetime
) -> Booking:
    """The booking's note replaced by this one; a blank text removes it."""
    if len(text) > MAX_NOTE:
        raise InvalidInput(f"A note is at most {MAX_NOTE} characters", "input.text")
    async with db.transaction() as session:
        locked = await lock_for_change(session, caller, booking_id, lock_tutor=False)
        if not locked.as_tutor:
            raise Forbidden("Only the booking's tutor writes its lesson note")
        if not text.strip():
            await session.exec(delete(LessonNote).where(col(LessonNote.booking_id) == booking_id))
            return locked.booking
        values = {
            "text": text,
            "shared_with_student": shared,
            "updated_at": now,
            "updated_by": caller.actor or "",
        }
        await session.exec(
            insert(LessonNote)
            .values(booking_id=booking_id, **values)
            .on_conflict_do_update(index_elements=["booking_id"], set_=values)
        )
    return locked.booking


async def confidential(
    db: Database, caller: Caller, booking_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Confidential]:
    """Each booking's note and phone as far as the caller (with the guest's token, if the
    booking was reached by it) may see them; nothing for bookings they may not see."""
    async with db.session() as session:
        access = await access_of(session, caller.identity, caller.token)
        rows = await session.exec(
            select(Booking, LessonNote)
            .outerjoin(LessonNote, col(LessonNote.booking_id) == col(Booking.id))
            .where(col(Booking.id).in_(booking_ids), access.condition())
        )
        return {
            booking.id: confidential_for(access.role_for(booking), booking, note)
            for booking, note in rows
        }
