"""Services, their lengths and prices."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from domain import custom_durations
from domain import reminders as domain_reminders
from domain.forms import MAX_QUESTIONS
from domain.reminders import MAX_MINUTES, MAX_RULES, MIN_MINUTES
from domain.service_rules import MAX_DURATIONS, MAX_TUTORS, CustomGrid, DurationInput
from domain.services import ServiceInfo
from models import ServiceDuration
from schema.bounds import AtMost
from schema.context import Context
from schema.errors import InvalidInput, NotFound, bad_user_input
from schema.forms import FormQuestion
from schema.node import Node, decode_id_of

if TYPE_CHECKING:
    from schema.availability import Schedule
    from schema.organizations import Organization
    from schema.people import Tutor


@strawberry.enum
class ServiceKind(Enum):
    SESSION = "SESSION"
    CHECKIN = "CHECKIN"


@strawberry.type
class Money:
    amount_minor: int = strawberry.field(description="In the currency's minor unit: cents for USD.")
    currency: str = strawberry.field(description="ISO 4217 code, upper case: USD.")


@strawberry.input
class MoneyInput:
    amount_minor: int
    currency: str


@strawberry.type
class DurationOption:
    minutes: int
    price: Money | None = strawberry.field(
        description="Null: no card payment for this length (free, or package credit only)."
    )

    @classmethod
    def from_row(cls, row: ServiceDuration) -> DurationOption:
        return cls(minutes=row.minutes, price=price_of(row))


def price_of(row: ServiceDuration) -> Money | None:
    if row.price_amount_minor is None or row.price_currency is None:
        return None
    return Money(amount_minor=row.price_amount_minor, currency=row.price_currency)


@strawberry.input
class DurationOptionInput:
    minutes: int
    price: MoneyInput | None = None

    def to_domain(self) -> DurationInput:
        if self.price is None:
            return DurationInput(self.minutes)
        return DurationInput(self.minutes, self.price.amount_minor, self.price.currency)


@strawberry.type(description="Any length from min to max in steps, besides the listed durations.")
class CustomDuration:
    min_minutes: int
    max_minutes: int
    step_minutes: int
    price_per_hour: Money | None = strawberry.field(
        description="Price per hour, pro rata to the minute (rounded to the currency's minor "
        "unit); null: free or package credit only."
    )

    @classmethod
    def of(cls, custom: CustomGrid | None) -> CustomDuration | None:
        if custom is None:
            return None
        per_hour = custom.price_per_hour_minor
        return cls(
            min_minutes=custom.min_minutes,
            max_minutes=custom.max_minutes,
            step_minutes=custom.step_minutes,
            price_per_hour=None
            if per_hour is None or custom.price_currency is None
            else Money(amount_minor=per_hour, currency=custom.price_currency),
        )


@strawberry.input
class CustomDurationInput:
    min_minutes: int
    max_minutes: int
    step_minutes: int | None = 15
    price_per_hour: MoneyInput | None = None

    def to_domain(self) -> CustomGrid:
        price = self.price_per_hour
        return CustomGrid(
            self.min_minutes,
            self.max_minutes,
            15 if self.step_minutes is None else self.step_minutes,
            None if price is None else price.amount_minor,
            None if price is None else price.currency,
        )


@strawberry.type(description="When reminders go out for a service's bookings, and to whom.")
class ReminderRule:
    minutes_before: int
    to_student: bool
    to_tutor: bool


@strawberry.input
class ReminderRuleInput:
    minutes_before: int = strawberry.field(
        description=(
            f"From {MIN_MINUTES} minutes to 30 days ({MAX_MINUTES}), each once per service."
        )
    )
    to_student: bool | None = strawberry.field(
        default=True, description="Null: true. Off for a booking made with remindersEnabled false."
    )
    to_tutor: bool | None = strawberry.field(default=False, description="Null: false.")

    def to_domain(self) -> domain_reminders.ReminderRule:
        return domain_reminders.ReminderRule(
            self.minutes_before,
            True if self.to_student is None else self.to_student,
            bool(self.to_tutor),
        )


@strawberry.type
class Service(Node):
    info: strawberry.Private[ServiceInfo]
    title: str
    kind: ServiceKind
    durations: list[DurationOption] = strawberry.field(extensions=[AtMost(MAX_DURATIONS)])
    buffer_before_minutes: int
    buffer_after_minutes: int
    capacity: int = strawberry.field(
        description=(
            "Students a tutor takes at once in this service: 1 is private; 2 or more allows "
            "overlapping (staggered) sessions."
        )
    )
    slot_interval_minutes: int
    minimum_notice_minutes: int
    booking_window_days: int
    cancellation_notice_hours: int
    reschedule_notice_hours: int
    max_reschedules: int | None = strawberry.field(description="Null: no limit.")
    requires_package: bool
    monthly_free_allowance: int = strawberry.field(
        description=(
            "Free bookings each student gets per calendar month (a monthly check-in); 0 for none."
        )
    )
    enrollment_required: bool = strawberry.field(
        description="Only students enrolled in the service may book it."
    )
    meeting_links: bool = strawberry.field(
        description="Each confirmed booking gets a video meeting link (Booking.meetingUrl)."
    )
    custom_duration: CustomDuration | None
    reminders: list[ReminderRule] = strawberry.field(
        description="Default: 24 hours and 1 hour and 15 minutes before, to the student.",
        extensions=[AtMost(MAX_RULES)],
    )

    @classmethod
    def from_info(cls, info: ServiceInfo) -> Service:
        row = info.row
        return cls(
            pk=row.id,
            info=info,
            title=row.title,
            kind=ServiceKind(row.kind),
            durations=[DurationOption.from_row(d) for d in info.durations],
            buffer_before_minutes=row.buffer_before_minutes,
            buffer_after_minutes=row.buffer_after_minutes,
            capacity=row.capacity,
            slot_interval_minutes=row.slot_interval_minutes,
            minimum_notice_minutes=row.minimum_notice_minutes,
            booking_window_days=row.booking_window_days,
            cancellation_notice_hours=row.cancellation_notice_hours,
            reschedule_notice_hours=row.reschedule_notice_hours,
            max_reschedules=row.max_reschedules,
            requires_package=row.requires_package,
            monthly_free_allowance=row.monthly_free_allowance,
            enrollment_required=row.enrollment_required,
            meeting_links=row.meeting_links,
            custom_duration=CustomDuration.of(custom_durations.read(row)),
            reminders=[
                ReminderRule(
                    minutes_before=r.minutes_before, to_student=r.to_student, to_tutor=r.to_tutor
                )
                for r in domain_reminders.rules_of(row)
            ],
        )

    @strawberry.field(extensions=[AtMost(MAX_TUTORS)])
    async def tutors(
        self, info: Info[Context, None]
    ) -> list[Annotated[Tutor, strawberry.lazy("schema.people")]]:
        from schema.people import Tutor

        rows = await info.context.loaders.tutor.load_many(self.info.tutor_ids)
        return [Tutor.from_row(r) for r in rows if r is not None]

    @strawberry.field(
        description="Null for a tutor's own service, and for viewers outside its organization."
    )
    async def organization(
        self, info: Info[Context, None]
    ) -> Annotated[Organization, strawberry.lazy("schema.organizations")] | None:
        from schema.organizations import visible_organization

        organization_id = self.info.row.organization_id
        return await visible_organization(info, organization_id) if organization_id else None

    @strawberry.field(
        description=(
            "The schedule its slots come from: the service's own, or its first tutor's default. "
            "Only that schedule's tutor (and their organization's owners and admins) sees it."
        )
    )
    async def schedule(
        self, info: Info[Context, None]
    ) -> Annotated[Schedule, strawberry.lazy("schema.availability")] | None:
        from schema.availability import Schedule

        loaders = info.context.loaders
        if self.info.row.schedule_id is not None:
            row = await loaders.schedule.load(self.info.row.schedule_id)
        else:
            defaults = await loaders.schedules_of_tutor.load(self.info.tutor_ids[0])
            row = next((s for s in defaults if s.is_default), None)
        if row is None or not await viewer_manages(info, row.tutor_id):
            return None
        return Schedule.from_row(row)

    @strawberry.field(
        description="The check-in form, in order; empty when the service asks nothing.",
        extensions=[AtMost(MAX_QUESTIONS)],
    )
    async def questions(self, info: Info[Context, None]) -> list[FormQuestion]:
        rows = await info.context.loaders.questions.load(self.info.row.id)
        return [FormQuestion.from_row(row) for row in rows]

    @strawberry.field(
        description=(
            "For a signed-in student: free bookings (monthlyFreeAllowance) left this calendar "
            "month; null otherwise."
        )
    )
    async def monthly_allowance_remaining(self, info: Info[Context, None]) -> int | None:
        allowance = await info.context.loaders.allowance.load(self.info.row.id)
        return allowance.remaining if allowance else None

    @strawberry.field(
        description=(
            "When the allowance starts again: the 1st of next month in the schedule's zone; "
            "null when the service has none."
        )
    )
    async def monthly_allowance_resets_on(self, info: Info[Context, None]) -> dt.date | None:
        allowance = await info.context.loaders.allowance.load(self.info.row.id)
        return allowance.resets_on if allowance else None

    @strawberry.field(
        description=(
            "For the service's tutors and organization owners and admins: free bookings left "
            "this month for one student."
        )
    )
    async def monthly_allowance_remaining_for(
        self, info: Info[Context, None], student_id: strawberry.ID
    ) -> int | None:
        student = decode_id_of(student_id, "Student")
        if student is None:
            raise bad_user_input("Not a Student id", "studentId")
        return await info.context.loaders.allowance_for.load((self.info.row.id, student))


async def viewer_manages(info: Info[Context, None], tutor_id: uuid.UUID) -> bool:
    """The viewer is this tutor, or an owner or admin of the tutor's organization: they read
    the tutor's schedules (changing them stays the tutor's own)."""
    return await info.context.loaders.viewer_manages.load(tutor_id)


@strawberry.input
class CreateServiceInput:
    title: str
    durations: list[DurationOptionInput]
    kind: ServiceKind | None = ServiceKind.SESSION
    tutor_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Default: the viewer's own tutor profile only."
    )
    schedule_id: strawberry.ID | None = strawberry.field(
        default=None, description="Default: each tutor's default schedule."
    )
    organization_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="An organization service: you must be its owner or admin, and every tutor "
        "in tutorIds its member. Without it, tutorIds may name only you.",
    )
    buffer_before_minutes: int | None = 0
    buffer_after_minutes: int | None = 0
    capacity: int | None = 1
    slot_interval_minutes: int | None = strawberry.field(default=None, description="Default: 15.")
    minimum_notice_minutes: int | None = 0
    booking_window_days: int | None = 60
    cancellation_notice_hours: int | None = 0
    reschedule_notice_hours: int | None = 0
    max_reschedules: int | None = None
    requires_package: bool | None = False
    monthly_free_allowance: int | None = 0
    enrollment_required: bool | None = False
    meeting_links: bool | None = False
    custom_duration: CustomDurationInput | None = None
    reminders: list[ReminderRuleInput] | None = strawberry.field(
        default=None,
        description=f"At most {MAX_RULES}; [] for none. Default (null): 24 hours, "
        "1 hour and 15 minutes before, to the student.",
    )


@strawberry.input(
    description="Only the fields given change; null clears maxReschedules, scheduleId and "
    "customDuration."
)
class UpdateServiceInput:
    id: strawberry.ID
    title: str | None = strawberry.UNSET
    kind: ServiceKind | None = strawberry.UNSET
    tutor_ids: list[strawberry.ID] | None = strawberry.UNSET
    organization_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="Moves the service into this organization (you its owner or admin, every "
        "tutor its member).",
    )
    schedule_id: strawberry.ID | None = strawberry.UNSET
    durations: list[DurationOptionInput] | None = strawberry.UNSET
    buffer_before_minutes: int | None = strawberry.UNSET
    buffer_after_minutes: int | None = strawberry.UNSET
    capacity: int | None = strawberry.UNSET
    slot_interval_minutes: int | None = strawberry.UNSET
    minimum_notice_minutes: int | None = strawberry.UNSET
    booking_window_days: int | None = strawberry.UNSET
    cancellation_notice_hours: int | None = strawberry.UNSET
    reschedule_notice_hours: int | None = strawberry.UNSET
    max_reschedules: int | None = strawberry.UNSET
    requires_package: bool | None = strawberry.UNSET
    monthly_free_allowance: int | None = strawberry.UNSET
    enrollment_required: bool | None = strawberry.UNSET
    meeting_links: bool | None = strawberry.UNSET
    custom_duration: CustomDurationInput | None = strawberry.field(
        default=strawberry.UNSET, description="Null removes it: the listed durations only."
    )
    reminders: list[ReminderRuleInput] | None = strawberry.field(
        default=strawberry.UNSET,
        description="Replaces the rules ([] for none) and reschedules the reminders of the "
        "service's upcoming bookings; null leaves them.",
    )


@strawberry.type
class ServiceSaved:
    service: Service


SaveServiceResult = Annotated[
    ServiceSaved | InvalidInput | NotFound, strawberry.union("SaveServiceResult")
]
