"""Who may see or act on a booking is one rule (domain/bookings/access.py), asked two ways: as the
SQL condition lists and loaders filter by, and of one booking by every change. The two must
agree for every caller and every booking; the API tests check each way's outcomes."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlmodel import select

from domain.bookings.access import BookingAccess, access_of, token_hash
from infra.auth import Identity
from infra.db import Database
from models import (
    Booking,
    Organization,
    OrganizationMember,
    OrganizationRole,
    Service,
    Student,
    Tutor,
)
from models.bookings import BookingStatus
from tests.helpers import CLOCK


async def test_the_sql_condition_and_the_check_of_one_booking_agree(db: Database) -> None:
    now = CLOCK()
    start = now + timedelta(days=3)
    async with db.transaction() as session:
        ada = Tutor(user_id="ada", display_name="Ada", time_zone="UTC", created_at=now)
        bob = Tutor(user_id="bob", display_name="Bob", time_zone="UTC", created_at=now)
        # Bob also studies with Ada: one user, a tutor and a student profile.
        bob_student = Student(
            user_id="bob", display_name="Bob", email="bob@example.com", created_at=now
        )
        cy = Student(user_id="cy", display_name="Cy", email="cy@example.com", created_at=now)
        guest = Student(display_name="Guest", email="guest@example.com", created_at=now)
        # Dee owns a studio Ada works in; Bob is not in it.
        dee = Tutor(user_id="dee", display_name="Dee", time_zone="UTC", created_at=now)
        studio = Organization(name="Studio", created_at=now)
        service = Service(title="Piano", kind="ONE_ON_ONE", created_at=now)
        session.add_all([ada, bob, dee, bob_student, cy, guest, service, studio])
        await session.flush()
        session.add_all(
            OrganizationMember(
                tutor_id=tutor.id, organization_id=studio.id, role=role, joined_at=start
            )
            for tutor, role in ((dee, OrganizationRole.OWNER), (ada, OrganizationRole.MEMBER))
        )
        pairs = [(ada, bob_student), (ada, cy), (bob, cy), (ada, guest), (bob, guest)]
        for hour, (tutor, student) in enumerate(pairs):
            session.add(
                Booking(
                    service_id=service.id,
                    tutor_id=tutor.id,
                    student_id=student.id,
                    status=BookingStatus.CONFIRMED,
                    start_at=start + timedelta(hours=hour),
                    end_at=start + timedelta(hours=hour, minutes=30),
                    block_start=start + timedelta(hours=hour),
                    block_end=start + timedelta(hours=hour, minutes=30),
                    duration_minutes=30,
                    manage_token_hash=token_hash(f"token-{hour}") if student is guest else None,
                    created_at=now,
                )
            )

    async with db.session() as session:
        rows = list(await session.exec(select(Booking)))
        callers = [
            await access_of(session, Identity(user, user))
            for user in ("ada", "bob", "cy", "eve", "dee")
        ]
        callers += [
            await access_of(session, None, "token-3"),
            await access_of(session, Identity("cy", "cy"), "token-4"),
            await access_of(session, None, "no such token"),
            await access_of(session, None),
        ]
        seen = []
        for access in callers:
            shown = {b.id for b in await session.exec(select(Booking).where(access.condition()))}
            allowed = {b.id for b in rows if access.role_for(b) is not None}
            assert shown == allowed, access
            seen.append(len(shown))
    # ada: 3 as tutor; bob: 2 as tutor, 1 as student; cy: 2; eve none; dee: ada's 3 as her
    # studio's owner (a member sees nothing of the owner's); a guest token its own; cy with a
    # guest's token: cy's 2 and that booking; an unknown token or nobody: none.
    assert seen == [3, 3, 2, 0, 3, 1, 3, 0, 0]


def test_a_token_speaks_first_and_a_tutor_acts_as_tutor() -> None:
    booking = Booking(
        service_id=uuid.uuid4(),
        tutor_id=uuid.uuid4(),
        student_id=uuid.uuid4(),
        status=BookingStatus.CONFIRMED,
        start_at=CLOCK(),
        end_at=CLOCK(),
        block_start=CLOCK(),
        block_end=CLOCK(),
        duration_minutes=30,
        manage_token_hash=token_hash("t"),
        created_at=CLOCK(),
    )
    tutor, student = frozenset({booking.tutor_id}), booking.student_id
    none: frozenset[uuid.UUID] = frozenset()
    assert BookingAccess(tutor, None).role_for(booking) == "TUTOR"
    assert BookingAccess(none, student).role_for(booking) == "STUDENT"
    assert BookingAccess(tutor, student).role_for(booking) == "TUTOR"
    assert BookingAccess(tutor, None, token_hash("t")).role_for(booking) == "GUEST"
    assert BookingAccess(none, None, token_hash("u")).role_for(booking) is None
    assert BookingAccess(none, None).role_for(booking) is None
    # A manager of the tutor (an organization's owner or admin) acts as the tutor.
    managed = frozenset({uuid.uuid4(), booking.tutor_id})
    assert BookingAccess(managed, None).role_for(booking) == "TUTOR"
