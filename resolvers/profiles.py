"""The student's own profile, and the tutor's lesson notes."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from domain import bookings, people
from models import Booking as BookingRow
from resolvers.common import mutate, parse_id
from resolvers.people import given
from schema.bookings import Booking
from schema.context import Context
from schema.people import Student
from schema.profiles import (
    LessonNoteSaved,
    SetLessonNoteInput,
    SetLessonNoteResult,
    StudentProfileUpdated,
    UpdateStudentProfileInput,
    UpdateStudentProfileResult,
)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="The signed-in student's display name, time zone (used for reminders and "
        "emails from then on) and phone."
    )
    async def update_student_profile(
        self, info: Info[Context, None], input: UpdateStudentProfileInput
    ) -> UpdateStudentProfileResult:
        identity = info.context.require_identity()
        changes = people.StudentChanges(
            display_name=input.display_name, time_zone=input.time_zone, phone=given(input.phone)
        )
        work = people.update_student_profile(info.context.db, identity, changes, info.context.now())
        return await mutate(work, lambda row: StudentProfileUpdated(student=Student.from_row(row)))

    @strawberry.mutation(
        description="The tutor's note on a booking (the tutor, or their organization's owners "
        "and admins): one per booking, replaced by each save; private unless shared."
    )
    async def set_lesson_note(
        self, info: Info[Context, None], input: SetLessonNoteInput
    ) -> SetLessonNoteResult:
        identity = info.context.require_identity()

        async def work() -> BookingRow:
            return await bookings.set_lesson_note(
                info.context.db,
                bookings.Caller(identity),
                parse_id(input.booking_id, "Booking", "input.bookingId"),
                input.text,
                bool(input.shared_with_student),
                info.context.now(),
            )

        return await mutate(work(), lambda row: LessonNoteSaved(booking=Booking.from_row(row)))
