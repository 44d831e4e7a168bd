"""Lesson notes and the student's own profile: their types, inputs and results."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import strawberry

from models import LessonNote as LessonNoteRow
from schema.errors import InvalidInput, NotFound
from schema.scalars import TimeZone

if TYPE_CHECKING:
    from schema.bookings import Booking
    from schema.people import Student


@strawberry.type(
    description="The tutor's note on a session: private unless shared with the student."
)
class LessonNote:
    text: str
    shared_with_student: bool
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: LessonNoteRow) -> LessonNote:
        return cls(
            text=row.text, shared_with_student=row.shared_with_student, updated_at=row.updated_at
        )


@strawberry.input
class SetLessonNoteInput:
    booking_id: strawberry.ID
    text: str = strawberry.field(description="At most 10,000 characters; blank removes the note.")
    shared_with_student: bool | None = strawberry.field(
        default=False, description="The student (or guest) sees it too. Default: private."
    )


@strawberry.type
class LessonNoteSaved:
    booking: Annotated[Booking, strawberry.lazy("schema.bookings")]


SetLessonNoteResult = Annotated[
    LessonNoteSaved | InvalidInput | NotFound, strawberry.union("SetLessonNoteResult")
]


@strawberry.input(
    description="Only the fields given change; phone: null or empty removes it. The time zone "
    "is the one reminders and emails show from then on."
)
class UpdateStudentProfileInput:
    display_name: str | None = None
    time_zone: TimeZone | None = None
    phone: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="E.164, such as +14155550123 (spaces, dashes, dots and parentheses are "
        "dropped).",
    )


@strawberry.type
class StudentProfileUpdated:
    student: Annotated[Student, strawberry.lazy("schema.people")]


UpdateStudentProfileResult = Annotated[
    StudentProfileUpdated | InvalidInput, strawberry.union("UpdateStudentProfileResult")
]
