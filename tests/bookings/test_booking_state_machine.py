"""Random creates, reschedules and cancels; after every step, the database must hold no instant
over capacity, no two services of one tutor overlapping, and no student in two places."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from datetime import datetime, time, timedelta
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, multiple, rule
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel, select

from domain import availability, bookings, people, service_rules, services
from domain.errors import UserError
from infra.auth import Identity
from infra.crypto import Cipher
from infra.db import Database, sqlalchemy_url
from models import Booking, Student
from tests.helpers import CLOCK, TEST_DATA_KEY

DAY = (CLOCK() + timedelta(days=10)).replace(hour=0, minute=0, second=0, microsecond=0)
STUDENTS = [Identity(f"machine-student-{i}", f"Student {i}", f"m{i}@example.com") for i in range(4)]
TUTORS = [Identity(f"machine-tutor-{i}", f"Tutor {i}") for i in range(2)]
CIPHER = Cipher([TEST_DATA_KEY])
starts = st.builds(lambda q: DAY + timedelta(minutes=15 * q), st.integers(9 * 4, 14 * 4))


class BookingMachine(RuleBasedStateMachine):
    made = Bundle("bookings")
    url = ""  # the test database, set by the test

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        engine = create_async_engine(sqlalchemy_url(self.url), poolclass=NullPool)
        self.db = Database(engine)
        self.offers: list[tuple[Identity, uuid.UUID, uuid.UUID]] = []  # (tutor, tutor id, service)

    def run(self, work: Any) -> Any:
        return self.loop.run_until_complete(work)

    def teardown(self) -> None:
        self.run(self.db.engine.dispose())
        self.loop.close()

    @initialize()
    def setup(self) -> None:
        async def build() -> None:
            tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
            async with self.db.engine.begin() as connection:
                await connection.execute(text(f"TRUNCATE {tables} CASCADE"))
            every_day = [availability.RuleInput(d, time(9), time(16)) for d in range(7)]
            for identity in TUTORS:
                now = CLOCK()
                tutor = await people.create_tutor_profile(
                    self.db, identity, identity.sub, "UTC", now
                )
                await availability.create_schedule(
                    self.db, identity, "H", "UTC", every_day, True, now
                )
                for capacity, before, after in ((2, 0, 15), (1, 10, 0)):
                    info = await services.create_service(
                        self.db,
                        identity,
                        service_rules.ServiceRules(
                            title=f"cap {capacity}",
                            durations=[
                                service_rules.DurationInput(30),
                                service_rules.DurationInput(60),
                            ],
                            capacity=capacity,
                            buffer_before_minutes=before,
                            buffer_after_minutes=after,
                            booking_window_days=365,
                        ),
                        now,
                    )
                    self.offers.append((identity, tutor.id, info.row.id))

        self.run(build())

    @rule(
        target=made,
        student=st.sampled_from(STUDENTS),
        offer=st.integers(0, 3),
        start=starts,
        minutes=st.sampled_from([30, 60]),
        as_tutor=st.booleans(),
    )
    def create(
        self, student: Identity, offer: int, start: datetime, minutes: int, as_tutor: bool
    ) -> Any:
        tutor, tutor_id, service_id = self.offers[offer]

        async def book() -> bookings.Booked:
            request = bookings.BookingRequest(
                service_id=service_id,
                tutor_id=tutor_id,
                slots=[bookings.SlotChoice(start, minutes)],
                time_zone="UTC",
            )
            if as_tutor:
                profile = await people.ensure_student(self.db, student, CLOCK())
                request = bookings.BookingRequest(**{**request.__dict__, "student_id": profile.id})
                return await bookings.create_bookings(
                    self.db, tutor, request, CLOCK(), CIPHER, meeting_provider=None
                )
            return await bookings.create_bookings(
                self.db, student, request, CLOCK(), CIPHER, meeting_provider=None
            )

        try:
            booked = self.run(book())
        except UserError:
            return multiple()
        return booked.bookings[0].id

    @rule(booking=made, start=starts, by_tutor=st.booleans())
    def reschedule(self, booking: uuid.UUID, start: datetime, by_tutor: bool) -> None:
        row = self.run(self._row(booking))
        caller = self._caller(row, by_tutor)
        with contextlib.suppress(UserError):
            self.run(
                bookings.reschedule_booking(
                    self.db, caller, booking, start, None, CLOCK(), meeting_provider=None
                )
            )

    @rule(booking=made, by_tutor=st.booleans())
    def cancel(self, booking: uuid.UUID, by_tutor: bool) -> None:
        row = self.run(self._row(booking))
        caller = self._caller(row, by_tutor)
        with contextlib.suppress(UserError):
            self.run(
                bookings.cancel_booking(
                    self.db, caller, booking, None, CLOCK(), meeting_provider=None
                )
            )

    async def _row(self, booking: uuid.UUID) -> Booking:
        async with self.db.session() as session:
            row = await session.get(Booking, booking)
            assert row is not None
            return row

    def _caller(self, row: Booking, by_tutor: bool) -> bookings.Caller:
        """The booking's tutor, or its student (held to the student's rules)."""
        if by_tutor:
            return bookings.Caller(next(i for i, t, _ in self.offers if t == row.tutor_id))

        async def student_user() -> str | None:
            async with self.db.session() as session:
                student = await session.get(Student, row.student_id)
                return student.user_id if student else None

        sub = self.run(student_user())
        return bookings.Caller(next(i for i in STUDENTS if i.sub == sub))

    @invariant()
    def nothing_over_capacity_and_nobody_in_two_places(self) -> None:
        async def active() -> list[Booking]:
            async with self.db.session() as session:
                return list(
                    await session.exec(select(Booking).where(Booking.status == "CONFIRMED"))
                )

        rows = self.run(active())
        capacity = {
            service_id: 2 if i % 2 == 0 else 1 for i, (_, _, service_id) in enumerate(self.offers)
        }
        for a in rows:
            same = [b for b in rows if b.tutor_id == a.tutor_id and b.service_id == a.service_id]
            # At the moment a's block starts, how many of its service's blocks are running?
            running = [b for b in same if b.block_start <= a.block_start < b.block_end]
            assert len(running) <= capacity[a.service_id], (a, running)
            for b in rows:
                if b.id == a.id:
                    continue
                if b.tutor_id == a.tutor_id and b.service_id != a.service_id:
                    assert not (a.block_start < b.block_end and b.block_start < a.block_end), (a, b)
                if b.student_id == a.student_id:
                    assert not (a.start_at < b.end_at and b.start_at < a.end_at), (a, b)


def test_random_lifecycles_keep_the_invariants(database_url: str) -> None:
    BookingMachine.url = database_url
    examples = int(os.environ.get("HYPOTHESIS_EXAMPLES", "25"))
    BookingMachine.TestCase.settings = settings(
        max_examples=examples, stateful_step_count=25, deadline=None
    )
    BookingMachine.TestCase().runTest()
