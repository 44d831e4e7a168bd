"""Who a booking is for: the signed-in student, a tutor's student, or a guest (whether they may
book the service is `packages.check_enrolled`, asked of schedule-later requests too)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from domain import organizations, profiles
from domain.bookings.requests import BookingRequest, Guest
from domain.bookings.writes import lock
from domain.errors import Forbidden, InvalidInput, NotFound
from domain.people import clean_email, clean_name, student_of_user
from infra.auth import Identity
from models import Student, Tutor


def _check_guest(guest: Guest) -> Guest:
    name = clean_name(guest.name, "input.guest.name")
    email = clean_email(guest.email, "input.guest.email")
    return Guest(name, email, profiles.clean_phone(guest.phone, "input.guest.phone"))


async def student_for(
    session: AsyncSession,
    identity: Identity | None,
    tutor: Tutor,
    request: BookingRequest,
    now: datetime,
) -> tuple[Student, bool]:
    """The student the booking is for (locked, after the tutor), and whether the caller books
    as that student's tutor: the tutor themselves, or an owner or admin of the tutor's
    organization acting for them (the role rule, `organizations.manages`)."""
    as_tutor = await organizations.manages(session, identity, tutor.id)
    if request.student_id is not None:
        if not as_tutor:
            raise Forbidden(
                "Only the tutor, or their organization's owners and admins, may book for a "
                "student (studentId)"
            )
        student = await lock(session, Student, request.student_id)
        if student is None:
            raise NotFound("No such student (input.studentId)")
        return student, True
    if request.guest is not None:
        if identity is not None and not as_tutor:
            raise InvalidInput(
                "Signed-in students book as themselves: leave guest out", "input.guest"
            )
        guest = _check_guest(request.guest)
        student = Student(
            display_name=guest.name,
            email=guest.email,
            phone=guest.phone,
            time_zone=request.time_zone,
            created_at=now,
        )
        session.add(student)
        await session.flush()
        return student, as_tutor
    if identity is None:
        raise InvalidInput("Sign in, or give the guest's name and email", "input.guest")
    return await student_of_user(session, identity, now, lock=True), False
