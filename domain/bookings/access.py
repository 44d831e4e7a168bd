"""Who may see or act on a booking: its tutor, an OWNER or ADMIN of the tutor's organization
(acting as the tutor would), its student, or the guest holding its manage token.

One rule, asked two ways: as an SQL condition by lists and loaders (`BookingAccess.condition`),
and of one locked booking by every change (`BookingAccess.role_for`, via `lock_for_change`).
Who manages which tutor is the organizations' role rule (`organizations.managed_tutors`), asked
here and nowhere else in bookings. Nobody else sees a tutor's bookings; a caller who may not see
a booking is told it does not exist.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, false, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import organizations
from domain.bookings.requests import Caller
from domain.bookings.writes import lock
from domain.errors import NotFound
from infra.auth import Identity
from models import Booking, Student, Tutor

Role = Literal["TUTOR", "STUDENT", "GUEST"]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class BookingAccess:
    """The caller as far as bookings are concerned: the tutors they act for (their own profile
    and, as an organization's OWNER or ADMIN, every member), their student profile, and the hash
    of the manage token they hold (a guest's)."""

    tutor_ids: frozenset[uuid.UUID]
    student_id: uuid.UUID | None
    token_hash: str | None = None

    def condition(self) -> ColumnElement[bool]:
        mine = []
        if self.token_hash is not None:
            mine.append(col(Booking.manage_token_hash) == self.token_hash)
        if self.tutor_ids:
            mine.append(col(Booking.tutor_id).in_(self.tutor_ids))
        if self.student_id is not None:
            mine.append(col(Booking.student_id) == self.student_id)
        return or_(*mine) if mine else false()

    def role_for(self, booking: Booking) -> Role | None:
        """What the caller is to this booking (a token first), or None: the same rule as
        `condition`."""
        if self.token_hash is not None and booking.manage_token_hash == self.token_hash:
            return "GUEST"
        if booking.tutor_id in self.tutor_ids:
            return "TUTOR"
        if self.student_id is not None and booking.student_id == self.student_id:
            return "STUDENT"
        return None


async def access_of(
    session: AsyncSession, identity: Identity | None, token: str | None = None
) -> BookingAccess:
    hashed = token_hash(token) if token else None
    if identity is None:
        return BookingAccess(frozenset(), None, hashed)
    tutors = await organizations.managed_tutors(session, identity)
    student = (
        await session.exec(select(Student.id).where(Student.user_id == identity.sub))
    ).first()
    return BookingAccess(frozenset(tutors), student, hashed)


@dataclass(frozen=True)
class Locked:
    booking: Booking
    as_tutor: bool


async def _find(session: AsyncSession, caller: Caller, booking_id: uuid.UUID | None) -> Booking:
    if booking_id is not None:
        booking = await session.get(Booking, booking_id)
    elif caller.token:
        booking = (
            await session.exec(
                select(Booking).where(Booking.manage_token_hash == token_hash(caller.token))
            )
        ).first()
    else:
        raise NotFound("Give bookingId, or the guest's token")
    if booking is None:
        raise NotFound("No such booking")
    return booking


async def lock_for_change(
    session: AsyncSession, caller: Caller, booking_id: uuid.UUID | None, *, lock_tutor: bool
) -> Locked:
    """The booking locked for a change (after its tutor and student, for a change that takes
    time), with whether the caller acts on it as its tutor (the tutor, or a manager of theirs:
    with the tutor's exemptions from notice and window).

    A caller who may not act on the booking gets NotFound, as if it did not exist."""
    # A token speaks for the caller only when it is how the booking was found.
    access = await access_of(session, caller.identity, caller.token if booking_id is None else None)
    found = await _find(session, caller, booking_id)
    if lock_tutor:
        await lock(session, Tutor, found.tutor_id)
        await lock(session, Student, found.student_id)
    booking: Booking = await lock(session, Booking, found.id)
    role = access.role_for(booking)
    if role is None:
        raise NotFound("No such booking")
    return Locked(booking, role == "TUTOR")
