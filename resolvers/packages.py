"""Packages: granted and adjusted by tutors, spent by bookings, seen by their student and tutor."""

from __future__ import annotations

import uuid

import strawberry
from strawberry.types import Info

from domain import bookings, package_templates, packages, payments, services
from domain.errors import NotFound
from domain.services import ServiceInfo
from infra.db import present
from models import Booking as BookingRow
from models import Package as PackageRow
from models import PackageTemplate as TemplateRow
from models import Payment as PaymentRow
from models import Student as StudentRow
from resolvers.common import mutate, parse_id
from schema.bookings import Booking
from schema.context import Context
from schema.node import decode_id_of
from schema.packages import (
    AdjustPackageInput,
    AdjustPackageResult,
    BuyPackageInput,
    BuyPackageResult,
    CreatePackageTemplateInput,
    EnrollStudentInput,
    EnrollStudentResult,
    GrantPackageFromTemplateInput,
    GrantPackageInput,
    GrantPackageResult,
    Package,
    PackageAdjusted,
    PackageCheckoutStarted,
    PackageGranted,
    PackageRedeemed,
    PackageTemplate,
    PackageTemplateSaved,
    RedeemPackageInput,
    RedeemPackageResult,
    SavePackageTemplateResult,
    StudentEnrolled,
)
from schema.people import Student
from schema.services import Service


async def package_by_pk(info: Info[Context, None], pk: uuid.UUID) -> Package | None:
    row = await packages.visible_package(info.context.db, info.context.identity, pk)
    return Package.from_row(row) if row else None


async def template_by_pk(info: Info[Context, None], pk: uuid.UUID) -> PackageTemplate | None:
    """Templates on offer are public, like the tutor's services."""
    async with info.context.db.session() as session:
        row = await session.get(TemplateRow, pk)
    return PackageTemplate.from_row(row) if row and row.archived_at is None else None


def _template_saved(row: TemplateRow) -> PackageTemplateSaved:
    return PackageTemplateSaved(template=PackageTemplate.from_row(row))


def _granted(row: PackageRow) -> PackageGranted:
    return PackageGranted(package=Package.from_row(row))


def _known(value: str, type_name: str) -> uuid.UUID:
    """For results with no InvalidInput member: an id that is not one is NotFound."""
    pk = decode_id_of(value, type_name)
    if pk is None:
        raise NotFound(f"No such {type_name.lower()}")
    return pk


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def grant_package(
        self, info: Info[Context, None], input: GrantPackageInput
    ) -> GrantPackageResult:
        identity = info.context.require_identity()

        async def work() -> PackageRow:
            grant = packages.Grant(
                student_id=parse_id(input.student_id, "Student", "input.studentId"),
                unit=input.unit.value,
                total=input.total,
                session_duration_minutes=input.session_duration_minutes,
                expires_at=input.expires_at,
                notes=input.notes,
            )
            return await packages.grant_package(
                info.context.db, identity, grant, info.context.now()
            )

        return await mutate(work(), _granted)

    @strawberry.mutation
    async def adjust_package(
        self, info: Info[Context, None], input: AdjustPackageInput
    ) -> AdjustPackageResult:
        identity = info.context.require_identity()

        async def work() -> PackageRow:
            package_id = parse_id(input.package_id, "Package", "input.packageId")
            return await packages.adjust_package(
                info.context.db, identity, package_id, input.delta, input.reason, info.context.now()
            )

        return await mutate(work(), lambda row: PackageAdjusted(package=Package.from_row(row)))

    @strawberry.mutation
    async def redeem_package(
        self, info: Info[Context, None], input: RedeemPackageInput
    ) -> RedeemPackageResult:
        identity = info.context.require_identity()

        async def work() -> tuple[BookingRow, PackageRow]:
            return await bookings.redeem_package(
                info.context.db,
                identity,
                _known(input.booking_id, "Booking"),
                _known(input.package_id, "Package"),
                info.context.now(),
                info.context.cards,
                meeting_provider=info.context.settings.meeting_provider,
            )

        return await mutate(
            work(),
            lambda pair: PackageRedeemed(
                booking=Booking.from_row(pair[0]), package=Package.from_row(pair[1])
            ),
        )

    @strawberry.mutation
    async def enroll_student(
        self, info: Info[Context, None], input: EnrollStudentInput
    ) -> EnrollStudentResult:
        identity = info.context.require_identity()

        async def work() -> tuple[ServiceInfo, StudentRow]:
            service_id = _known(input.service_id, "Service")
            student_id = _known(input.student_id, "Student")
            _, student = await packages.enroll(
                info.context.db, identity, service_id, student_id, info.context.now()
            )
            found = await services.get_service(info.context.db, service_id)
            return present(found, "enrolled service"), student

        return await mutate(
            work(),
            lambda pair: StudentEnrolled(
                service=Service.from_info(pair[0]), student=Student.from_row(pair[1])
            ),
        )

    @strawberry.mutation
    async def create_package_template(
        self, info: Info[Context, None], input: CreatePackageTemplateInput
    ) -> SavePackageTemplateResult:
        identity = info.context.require_identity()
        template = package_templates.TemplateInput(
            name=input.name,
            unit=input.unit.value,
            total=input.total,
            session_duration_minutes=input.session_duration_minutes,
            valid_days=input.valid_days,
            price_amount_minor=input.price.amount_minor if input.price else None,
            price_currency=input.price.currency if input.price else None,
        )
        work = package_templates.create_template(
            info.context.db, identity, template, info.context.now()
        )
        return await mutate(work, _template_saved)

    @strawberry.mutation(description="Stop offering a template; packages made from it stay.")
    async def archive_package_template(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> SavePackageTemplateResult:
        identity = info.context.require_identity()

        async def work() -> TemplateRow:
            return await package_templates.archive_template(
                info.context.db, identity, _known(id, "PackageTemplate"), info.context.now()
            )

        return await mutate(work(), _template_saved)

    @strawberry.mutation
    async def grant_package_from_template(
        self, info: Info[Context, None], input: GrantPackageFromTemplateInput
    ) -> GrantPackageResult:
        identity = info.context.require_identity()

        async def work() -> PackageRow:
            return await package_templates.grant_from_template(
                info.context.db,
                identity,
                parse_id(input.template_id, "PackageTemplate", "input.templateId"),
                parse_id(input.student_id, "Student", "input.studentId"),
                input.notes,
                info.context.now(),
            )

        return await mutate(work(), _granted)

    @strawberry.mutation(
        description="Buy a priced package template by card: pay at the returned checkoutUrl."
    )
    async def buy_package(
        self, info: Info[Context, None], input: BuyPackageInput
    ) -> BuyPackageResult:
        identity = info.context.require_identity()

        async def work() -> tuple[PaymentRow, TemplateRow]:
            return await payments.buy_package(
                info.context.db,
                info.context.cards,
                identity,
                parse_id(input.template_id, "PackageTemplate", "input.templateId"),
                info.context.now(),
            )

        return await mutate(
            work(),
            lambda pair: PackageCheckoutStarted(
                checkout_url=pair[0].checkout_url or "",
                expires_at=pair[0].checkout_expires_at,
                template=PackageTemplate.from_row(pair[1]),
            ),
        )
