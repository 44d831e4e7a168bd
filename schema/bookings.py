"""Bookings, their history, the booking list, and the booking mutations' inputs and results."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import strawberry
from strawberry.types import Info

from domain import ics
from domain.bookings import MAX_BULK, MAX_IDS, MAX_PAGE, MAX_SLOTS, BookingOrder, BulkAction
from domain.forms import MAX_QUESTIONS, FormStatus
from infra.db import present
from models import Booking as BookingRow
from models import BookingAction, BookingHistory, BookingStatus
from schema.bounds import AtMost, PageOf
from schema.context import Context
from schema.errors import (
    InvalidInput,
    NotEligible,
    NotFound,
    PackageUnusable,
    PolicyViolation,
    SlotUnavailable,
    StudentBusy,
    UserError,
)
from schema.forms import FormAnswer, FormAnswerInput
from schema.node import Node, encode_id
from schema.people import Student, Tutor, student_of, tutor_of
from schema.scalars import TimeZone
from schema.services import Money, Service
from schema.slots import Slot, slot_of

if TYPE_CHECKING:
    from schema.packages import Package
    from schema.profiles import LessonNote
    from schema.reviews import Review

# A page of bookings when neither first nor last is given.
DEFAULT_PAGE = 20


# The GraphQL enums are the domain's own (models.bookings): one vocabulary, checked by mypy.
strawberry.enum(BookingStatus)
strawberry.enum(BookingAction)


@strawberry.type
class BookingHistoryEntry:
    action: BookingAction
    at: dt.datetime
    actor_id: strawberry.ID | None = strawberry.field(
        description="Who did it: a user id, or null for the system (payment webhooks, expiry)."
    )
    reason: str | None

    @classmethod
    def from_row(cls, row: BookingHistory) -> BookingHistoryEntry:
        return cls(
            action=row.action,
            at=row.at,
            actor_id=strawberry.ID(row.actor_id) if row.actor_id else None,
            reason=row.reason,
        )


def _in_zone(moment: dt.datetime, zone: str | None) -> dt.datetime:
    return moment.astimezone(ZoneInfo(zone)) if zone else moment


@strawberry.type
class Booking(Node):
    row: strawberry.Private[BookingRow]
    status: BookingStatus
    duration_minutes: int
    student_time_zone: TimeZone
    notes: str | None
    price: Money | None = strawberry.field(
        description="The price when booked; null when free or paid with package credit."
    )
    hold_expires_at: dt.datetime | None
    meeting_url: str | None
    reschedule_count: int
    cancellation_reason: str | None
    # Where times are written when the field is given no timeZone: an agenda's zone, else UTC.
    zone: strawberry.Private[str | None] = None
    form_submitted_at: dt.datetime | None = None
    # The guest's manage token, when the booking was reached with it: they see its answers.
    token: strawberry.Private[str | None] = None

    @classmethod
    def from_row(
        cls, row: BookingRow, zone: str | None = None, token: str | None = None
    ) -> Booking:
        price = (
            Money(amount_minor=row.price_amount_minor, currency=row.price_currency)
            if row.price_amount_minor is not None and row.price_currency
            else None
        )
        return cls(
            pk=row.id,
            row=row,
            status=row.status,
            duration_minutes=row.duration_minutes,
            student_time_zone=TimeZone(row.student_time_zone),
            notes=row.notes,
            price=price,
            hold_expires_at=row.hold_expires_at,
            meeting_url=row.meeting_url,
            reschedule_count=row.reschedule_count,
            cancellation_reason=row.cancellation_reason,
            zone=zone,
            form_submitted_at=row.form_submitted_at,
            token=token,
        )

    @strawberry.field(
        description="In UTC (in an agenda: the agenda's timeZone), or in timeZone when given."
    )
    def start(self, time_zone: TimeZone | None = None) -> dt.datetime:
        return _in_zone(self.row.start_at, time_zone or self.zone)

    @strawberry.field(
        description="In UTC (in an agenda: the agenda's timeZone), or in timeZone when given."
    )
    def end(self, time_zone: TimeZone | None = None) -> dt.datetime:
        return _in_zone(self.row.end_at, time_zone or self.zone)

    @strawberry.field
    async def service(self, info: Info[Context, None]) -> Service:
        found = await info.context.loaders.service.load(self.row.service_id)
        return Service.from_info(present(found, "booking's service"))

    @strawberry.field
    async def tutor(self, info: Info[Context, None]) -> Tutor:
        return await tutor_of(info, self.row.tutor_id)

    @strawberry.field(
        description=(
            "The same weekday and time one week after this booking, when that slot is free for "
            "this student: a one-tap rebook. Only for the student and the tutor."
        )
    )
    async def rebook_suggestion(self, info: Info[Context, None]) -> Slot | None:
        # The week is counted on the tutor's schedule's wall clock; the slot is written like
        # start and end (UTC, or the agenda's zone).
        found = await info.context.loaders.rebook.load(self.row.id)
        if found is None:
            return None
        zone = ZoneInfo(self.zone or "UTC")
        return slot_of(Tutor.from_row(found.tutor), found.option, found.slot, zone)

    @strawberry.field
    async def student(self, info: Info[Context, None]) -> Student:
        return await student_of(info, self.row.student_id)

    @strawberry.field
    async def package(
        self, info: Info[Context, None]
    ) -> Annotated[Package, strawberry.lazy("schema.packages")] | None:
        from schema.packages import Package

        if self.row.package_id is None:
            return None
        found = await info.context.loaders.package.load(self.row.package_id)
        return Package.from_row(found) if found else None

    @strawberry.field(
        description="While PENDING_PAYMENT: where to pay, and when the held slot is released."
    )
    async def checkout_url(self, info: Info[Context, None]) -> str | None:
        if self.row.status != BookingStatus.PENDING_PAYMENT or self.row.payment_id is None:
            return None
        payment = await info.context.loaders.payment.load(self.row.payment_id)
        return payment.checkout_url if payment is not None else None

    @strawberry.field(description="An iCalendar (RFC 5545) file for this booking.")
    def ics_url(self, info: Info[Context, None]) -> str:
        context = info.context
        signature = ics.signature(context.secret, self.pk)
        path = f"/bookings/{encode_id('Booking', self.pk)}.ics?sig={signature}"
        return context.settings.public_base_url + path

    @strawberry.field
    async def form_status(self, info: Info[Context, None]) -> FormStatus:
        return await info.context.loaders.form_status.load(self.pk)

    @strawberry.field(
        description=(
            "The student's answers, for the student (or guest by token), the tutor and "
            "organization owners and admins."
        ),
        extensions=[AtMost(MAX_QUESTIONS)],
    )
    async def form_answers(self, info: Info[Context, None]) -> list[FormAnswer]:
        answers = await info.context.loaders.form_answers(self.token).load(self.pk)
        return [FormAnswer.from_answer(a) for a in answers]

    @strawberry.field(description="The student's review of the session, if any (public).")
    async def review(
        self, info: Info[Context, None]
    ) -> Annotated[Review, strawberry.lazy("schema.reviews")] | None:
        from schema.reviews import review_of_booking

        return await review_of_booking(info, self.pk)

    @strawberry.field(
        description="The tutor's note: for the tutor and organization owners and admins; for "
        "the student (or guest by token) when shared; null for everyone else."
    )
    async def lesson_note(
        self, info: Info[Context, None]
    ) -> Annotated[LessonNote, strawberry.lazy("schema.profiles")] | None:
        from schema.profiles import LessonNote

        found = await info.context.loaders.confidential(self.token).load(self.pk)
        return LessonNote.from_row(found.note) if found.note is not None else None

    @strawberry.field(
        description="The phone the student or guest gave (E.164): for the tutor and "
        "organization owners and admins, and the guest by token; null for everyone else."
    )
    async def contact_phone(self, info: Info[Context, None]) -> str | None:
        return (await info.context.loaders.confidential(self.token).load(self.pk)).contact_phone

    @strawberry.field(extensions=[AtMost(100)])
    async def history(self, info: Info[Context, None]) -> list[BookingHistoryEntry]:
        rows = await info.context.loaders.history.load(self.pk)
        return [BookingHistoryEntry.from_row(r) for r in rows]


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None

    @classmethod
    def of(cls, cursors: list[str], has_next: bool, has_previous: bool) -> PageInfo:
        """A page's info from its edges' cursors, in order."""
        return cls(
            has_next_page=has_next,
            has_previous_page=has_previous,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        )


@strawberry.type
class BookingEdge:
    cursor: str
    node: Booking


@strawberry.type
class BookingConnection:
    edges: list[BookingEdge] = strawberry.field(extensions=[PageOf(MAX_PAGE, DEFAULT_PAGE)])
    page_info: PageInfo
    total_count: int
    as_of: dt.datetime = strawberry.field(
        description="The server's time as it read this list: pass it as `since` to "
        "bookingEvents or organizationBookingEvents, and no change after the read is missed."
    )


@strawberry.enum
class BookingRange(Enum):
    UPCOMING = "UPCOMING"
    PAST = "PAST"
    ALL = "ALL"


@strawberry.input
class BookingFilter:
    tutor_id: strawberry.ID | None = None
    student_id: strawberry.ID | None = None
    status: list[BookingStatus] | None = None
    range: BookingRange | None = None
    from_: dt.datetime | None = strawberry.field(default=None, name="from")
    to: dt.datetime | None = None
    search: str | None = strawberry.field(
        default=None, description="Matches the student's name or email."
    )
    organization_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Every member's bookings (owners and admins); a member sees only their own.",
    )
    ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description=(
            f"Only these bookings (at most {MAX_IDS}), e.g. the rows a dashboard has selected "
            "for export."
        ),
    )


strawberry.enum(BookingOrder)


# ---------------------------------------------------------------- mutations


@strawberry.input
class GuestInput:
    name: str
    email: str
    phone: str | None = strawberry.field(
        default=None,
        description="E.164 (+14155550123; spaces, dashes, dots and parentheses are dropped): "
        "the booking's contactPhone.",
    )


VISIT_ID = (
    "The funnel visit this booking completes: the server records BOOKING_SUCCEEDED or "
    "BOOKING_FAILED for it."
)


@strawberry.input
class CreateBookingInput:
    service_id: strawberry.ID
    tutor_id: strawberry.ID | None = strawberry.field(
        default=None,
        description=(
            "Omit on a service with several tutors to let the engine assign one who is free then "
            "(round robin: the fewest active bookings of the service in that ISO week, in UTC; "
            "ties to the one booked least recently). The chosen tutor is booking.tutor."
        ),
    )
    start: dt.datetime
    time_zone: TimeZone = strawberry.field(
        description="The student's zone, kept on the booking for reminders and display."
    )
    duration_minutes: int | None = strawberry.field(
        default=None, description="Default: the service's first duration."
    )
    notes: str | None = None
    guest: GuestInput | None = strawberry.field(
        default=None,
        description=(
            "Who the booking is for when the request has no student token. A tutor booking for "
            "a student gives studentId instead."
        ),
    )
    student_id: strawberry.ID | None = None
    package_id: strawberry.ID | None = strawberry.field(
        default=None, description="Pay with this package's credit instead of a card."
    )
    reminders_enabled: bool = strawberry.field(
        default=True,
        description="Email the student 24 hours, 1 hour and 15 minutes before the session.",
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description=(
            "The same key from the same user returns the first result instead of booking twice."
        ),
    )
    answers: list[FormAnswerInput] | None = strawberry.field(
        default=None,
        description=(
            "Answers to the service's questions; the booking is made even when required ones "
            "are missing (formStatus PENDING)."
        ),
    )
    visit_id: str | None = strawberry.field(default=None, description=VISIT_ID)


@strawberry.type
class BookingCreated:
    booking: Booking
    manage_token: str | None = strawberry.field(
        description=(
            "A secret for a guest to manage this booking without an account (bookingByToken, "
            "reschedule, cancel)."
        )
    )


CreateBookingResult = Annotated[
    BookingCreated
    | SlotUnavailable
    | StudentBusy
    | NotEligible
    | PackageUnusable
    | PolicyViolation
    | InvalidInput
    | NotFound,
    strawberry.union("CreateBookingResult"),
]


@strawberry.input
class SlotChoiceInput:
    start: dt.datetime
    duration_minutes: int | None = None


@strawberry.input
class CreateBookingsInput:
    service_id: strawberry.ID
    tutor_id: strawberry.ID | None = strawberry.field(
        default=None,
        description=(
            "Omit on a service with several tutors to let the engine assign one who is free for "
            "every slot (round robin, ranked at the earliest slot)."
        ),
    )
    slots: list[SlotChoiceInput]
    time_zone: TimeZone
    notes: str | None = None
    student_id: strawberry.ID | None = None
    package_id: strawberry.ID | None = None
    idempotency_key: str | None = None
    reminders_enabled: bool = strawberry.field(
        default=True,
        description="Email the student 24 hours, 1 hour and 15 minutes before each session.",
    )
    visit_id: str | None = strawberry.field(default=None, description=VISIT_ID)


@strawberry.type(description="All slots were booked, or none was.")
class BookingsCreated:
    bookings: list[Booking] = strawberry.field(extensions=[AtMost(MAX_SLOTS)])


CreateBookingsResult = Annotated[
    BookingsCreated
    | SlotUnavailable
    | StudentBusy
    | NotEligible
    | PackageUnusable
    | PolicyViolation
    | InvalidInput
    | NotFound,
    strawberry.union("CreateBookingsResult"),
]


@strawberry.input
class RescheduleBookingInput:
    new_start: dt.datetime
    booking_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="A signed-in user gives bookingId; a guest gives the manageToken instead.",
    )
    token: str | None = None
    duration_minutes: int | None = None


@strawberry.type
class BookingRescheduled:
    booking: Booking


RescheduleBookingResult = Annotated[
    BookingRescheduled | SlotUnavailable | StudentBusy | PolicyViolation | InvalidInput | NotFound,
    strawberry.union("RescheduleBookingResult"),
]


@strawberry.input
class CancelBookingInput:
    booking_id: strawberry.ID | None = None
    token: str | None = None
    reason: str | None = None


@strawberry.enum
class RefundKind(Enum):
    NONE = "NONE"
    PACKAGE_CREDIT = "PACKAGE_CREDIT"
    CARD = "CARD"


@strawberry.type
class Refund:
    kind: RefundKind
    amount: int = strawberry.field(
        description=(
            "For PACKAGE_CREDIT, in the package's unit; for CARD, in minor units of the "
            "booking's price."
        )
    )


@strawberry.type
class BookingCancelled:
    booking: Booking
    refund: Refund


CancelBookingResult = Annotated[
    BookingCancelled | PolicyViolation | NotFound, strawberry.union("CancelBookingResult")
]


@strawberry.enum
class AttendanceStatus(Enum):
    COMPLETED = "COMPLETED"
    NO_SHOW = "NO_SHOW"


@strawberry.input
class MarkAttendanceInput:
    booking_id: strawberry.ID
    status: AttendanceStatus
    notes: str | None = None


@strawberry.type
class AttendanceMarked:
    booking: Booking


MarkAttendanceResult = Annotated[
    AttendanceMarked | PolicyViolation | NotFound, strawberry.union("MarkAttendanceResult")
]


strawberry.enum(BulkAction, name="BulkBookingAction")


@strawberry.input
class UpdateBookingsInput:
    booking_ids: list[strawberry.ID] = strawberry.field(description="At most 100.")
    action: BulkAction
    reason: str | None = None


@strawberry.type
class BookingUpdateFailure:
    booking_id: strawberry.ID
    error: UserError


@strawberry.type(
    description="Each booking is changed on its own: some may fail while others succeed."
)
class BookingsUpdated:
    updated: list[Booking] = strawberry.field(extensions=[AtMost(MAX_BULK)])
    failed: list[BookingUpdateFailure] = strawberry.field(extensions=[AtMost(MAX_BULK)])


UpdateBookingsResult = Annotated[
    BookingsUpdated | InvalidInput, strawberry.union("UpdateBookingsResult")
]
