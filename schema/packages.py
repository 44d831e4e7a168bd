"""Packages of session credit, their ledger, and the package mutations' inputs and results."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from domain import package_list
from models import Package as PackageRow
from models import PackageAdjustment as AdjustmentRow
from models import PackageTemplate as TemplateRow
from schema.agenda import checked
from schema.bookings import PageInfo
from schema.bounds import AtMost, PageOf
from schema.context import Context
from schema.errors import InvalidInput, NotFound, PackageUnusable, PolicyViolation, bad_user_input
from schema.node import Node, decode_id_of
from schema.people import Student, Tutor, student_of, tutor_of
from schema.services import Money, MoneyInput, Service

if TYPE_CHECKING:
    from schema.bookings import Booking

DEFAULT_PAGE = 20


@strawberry.enum
class PackageUnit(Enum):
    SESSIONS = "SESSIONS"
    MINUTES = "MINUTES"


@strawberry.type
class PackageAdjustment:
    row: strawberry.Private[AdjustmentRow]
    delta: int
    reason: str | None
    at: dt.datetime

    @strawberry.field
    async def booking(
        self, info: Info[Context, None]
    ) -> Annotated[Booking, strawberry.lazy("schema.bookings")] | None:
        from schema.bookings import Booking

        if self.row.booking_id is None:
            return None
        row = await info.context.loaders.booking.load(self.row.booking_id)
        return Booking.from_row(row) if row is not None else None


@strawberry.type
class Package(Node):
    row: strawberry.Private[PackageRow]
    unit: PackageUnit
    total: int
    remaining: int
    session_duration_minutes: int | None = strawberry.field(
        description="For SESSIONS: the length of session one credit buys."
    )
    expires_at: dt.datetime | None
    notes: str | None

    @classmethod
    def from_row(cls, row: PackageRow) -> Package:
        return cls(
            pk=row.id,
            row=row,
            unit=PackageUnit(row.unit),
            total=row.total,
            remaining=row.remaining,
            session_duration_minutes=row.session_duration_minutes,
            expires_at=row.expires_at,
            notes=row.notes,
        )

    @strawberry.field
    async def student(self, info: Info[Context, None]) -> Student:
        return await student_of(info, self.row.student_id)

    @strawberry.field
    async def tutor(self, info: Info[Context, None]) -> Tutor:
        return await tutor_of(info, self.row.tutor_id)

    @strawberry.field(
        description=(
            "Every change to the balance, oldest first: grants, redemptions, refunds, manual "
            "adjustments."
        ),
        extensions=[AtMost(200)],
    )
    async def adjustments(self, info: Info[Context, None]) -> list[PackageAdjustment]:
        rows = await info.context.loaders.ledger.load(self.pk)
        return [PackageAdjustment(row=r, delta=r.delta, reason=r.reason, at=r.at) for r in rows]


@strawberry.type
class PackageEdge:
    cursor: str
    node: Package


@strawberry.type
class PackageConnection:
    edges: list[PackageEdge] = strawberry.field(
        extensions=[PageOf(package_list.MAX_PAGE, DEFAULT_PAGE)]
    )
    page_info: PageInfo
    total_count: int


@strawberry.input
class TutorPackageFilter:
    student_id: strawberry.ID | None = None
    low_balance: bool | None = strawberry.field(
        default=None, description="Only packages at or below the tutor's low-balance threshold."
    )
    expiring_before: dt.datetime | None = strawberry.field(
        default=None, description="Only packages expiring before this instant."
    )
    include_inactive: bool | None = strawberry.field(
        default=False,
        description="Also used-up and expired packages (default: active ones only).",
    )


async def packages_of(
    info: Info[Context, None],
    tutor_id: uuid.UUID,
    filter: TutorPackageFilter | None,
    first: int | None,
    after: str | None,
) -> PackageConnection:
    wanted = package_list.Filter()
    if filter is not None:
        student_id = None
        if filter.student_id is not None:
            student_id = decode_id_of(filter.student_id, "Student")
            if student_id is None:
                raise bad_user_input("Not a Student id", "filter.studentId")
        wanted = package_list.Filter(
            student_id=student_id,
            low_balance=filter.low_balance,
            expiring_before=filter.expiring_before,
            include_inactive=bool(filter.include_inactive),
        )
    context = info.context
    found = await checked(
        package_list.tutor_packages(
            context.db,
            context.identity,
            tutor_id,
            wanted,
            first if first is not None else DEFAULT_PAGE,
            after,
            context.now(),
        )
    )
    edges = [
        PackageEdge(cursor=package_list.encode_cursor(p), node=Package.from_row(p))
        for p in found.packages
    ]
    return PackageConnection(
        edges=edges,
        page_info=PageInfo.of([e.cursor for e in edges], found.has_next, found.has_previous),
        total_count=found.total,
    )


@strawberry.input
class GrantPackageInput:
    student_id: strawberry.ID
    unit: PackageUnit
    total: int
    session_duration_minutes: int | None = None
    expires_at: dt.datetime | None = None
    notes: str | None = None


@strawberry.type
class PackageGranted:
    package: Package


GrantPackageResult = Annotated[
    PackageGranted | InvalidInput | NotFound, strawberry.union("GrantPackageResult")
]


@strawberry.input
class AdjustPackageInput:
    package_id: strawberry.ID
    delta: int
    reason: str | None = None


@strawberry.type
class PackageAdjusted:
    package: Package


AdjustPackageResult = Annotated[
    PackageAdjusted | InvalidInput | NotFound, strawberry.union("AdjustPackageResult")
]


@strawberry.input
class RedeemPackageInput:
    booking_id: strawberry.ID = strawberry.field(
        description=(
            "A booking waiting for payment: the package pays for it instead, and it is confirmed."
        )
    )
    package_id: strawberry.ID


@strawberry.type
class PackageRedeemed:
    booking: Annotated[Booking, strawberry.lazy("schema.bookings")]
    package: Package


RedeemPackageResult = Annotated[
    PackageRedeemed | PackageUnusable | PolicyViolation | NotFound,
    strawberry.union("RedeemPackageResult"),
]


@strawberry.input
class EnrollStudentInput:
    service_id: strawberry.ID
    student_id: strawberry.ID


@strawberry.type
class StudentEnrolled:
    service: Service
    student: Student


EnrollStudentResult = Annotated[StudentEnrolled | NotFound, strawberry.union("EnrollStudentResult")]


# ---------------------------------------------------------------- templates and purchases


@strawberry.type(description="What a tutor sells or grants: 8 sessions of 60 minutes, 90 days.")
class PackageTemplate(Node):
    row: strawberry.Private[TemplateRow]
    name: str
    unit: PackageUnit
    total: int
    session_duration_minutes: int | None
    valid_days: int | None = strawberry.field(
        description="A package made from it expires this many days after it is granted or bought."
    )
    price: Money | None = strawberry.field(description="Null: granted only, not for sale.")
    archived: bool = strawberry.field(description="No longer offered.")

    @classmethod
    def from_row(cls, row: TemplateRow) -> PackageTemplate:
        return cls(
            pk=row.id,
            row=row,
            name=row.name,
            unit=PackageUnit(row.unit),
            total=row.total,
            session_duration_minutes=row.session_duration_minutes,
            valid_days=row.valid_days,
            price=Money(amount_minor=row.price_amount_minor, currency=row.price_currency)
            if row.price_amount_minor is not None and row.price_currency
            else None,
            archived=row.archived_at is not None,
        )

    @strawberry.field
    async def tutor(self, info: Info[Context, None]) -> Tutor:
        return await tutor_of(info, self.row.tutor_id)


@strawberry.input
class CreatePackageTemplateInput:
    name: str
    unit: PackageUnit
    total: int
    session_duration_minutes: int | None = None
    valid_days: int | None = None
    price: MoneyInput | None = strawberry.field(
        default=None, description="Students can buy it by card when it has a price."
    )


@strawberry.type
class PackageTemplateSaved:
    template: PackageTemplate


SavePackageTemplateResult = Annotated[
    PackageTemplateSaved | InvalidInput | NotFound, strawberry.union("SavePackageTemplateResult")
]


@strawberry.input
class GrantPackageFromTemplateInput:
    template_id: strawberry.ID
    student_id: strawberry.ID
    notes: str | None = None


@strawberry.input
class BuyPackageInput:
    template_id: strawberry.ID


@strawberry.type(
    description="Pay at checkoutUrl; the package is granted when the payment completes."
)
class PackageCheckoutStarted:
    checkout_url: str
    expires_at: dt.datetime
    template: PackageTemplate


BuyPackageResult = Annotated[
    PackageCheckoutStarted | InvalidInput | NotFound | PolicyViolation,
    strawberry.union("BuyPackageResult"),
]
