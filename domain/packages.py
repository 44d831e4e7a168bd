"""Session credit that can't be over-spent.

A package's `remaining` only ever changes together with a ledger line, in one transaction, with
the package row locked: grants, redemptions (in the booking transaction), refunds and manual
adjustments. So `remaining` always equals the sum of the ledger, and two bookings can never
spend the last credit twice. (What a tutor offers to sell or grant: `package_templates.py`.)
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.errors import (
    Forbidden,
    InvalidInput,
    NotEligible,
    NotEligibleReason,
    NotFound,
    PackageUnusable,
    PackageUnusableReason,
)
from domain.people import tutor_of_user
from domain.services import ServiceInfo
from infra.auth import Identity
from infra.db import Database
from models import (
    Booking,
    Enrollment,
    Package,
    PackageAdjustment,
    Service,
    ServiceTutor,
    Student,
)

UNITS = ("SESSIONS", "MINUTES")
MAX_TOTAL = 100_000
MAX_TEXT = 2000


@dataclass(frozen=True)
class Grant:
    student_id: uuid.UUID
    unit: str
    total: int
    session_duration_minutes: int | None = None
    expires_at: datetime | None = None
    notes: str | None = None


def check_credit(unit: str, total: int, minutes: int | None) -> None:
    if unit not in UNITS:
        raise InvalidInput("unit is SESSIONS or MINUTES", "input.unit")
    if not 1 <= total <= MAX_TOTAL:
        raise InvalidInput(f"total is 1 to {MAX_TOTAL}", "input.total")
    if minutes is not None:
        if unit != "SESSIONS":
            raise InvalidInput(
                "Only SESSIONS packages have a session length", "input.sessionDurationMinutes"
            )
        if not 5 <= minutes <= 720 or minutes % 5:
            raise InvalidInput(
                "A session length is 5 to 720 minutes, on a 5-minute grid",
                "input.sessionDurationMinutes",
            )


def _check_grant(grant: Grant, now: datetime) -> None:
    check_credit(grant.unit, grant.total, grant.session_duration_minutes)
    if grant.expires_at is not None and grant.expires_at <= now:
        raise InvalidInput("expiresAt must be in the future", "input.expiresAt")
    if grant.notes is not None and len(grant.notes) > MAX_TEXT:
        raise InvalidInput(f"At most {MAX_TEXT} characters", "input.notes")


def ledger_line(
    package: Package,
    kind: str,
    delta: int,
    now: datetime,
    actor: str | None,
    reason: str | None = None,
    booking_id: uuid.UUID | None = None,
) -> PackageAdjustment:
    """Move the balance and write the line that says why: the only way `remaining` changes."""
    package.remaining += delta
    return PackageAdjustment(
        package_id=package.id,
        kind=kind,
        delta=delta,
        reason=reason,
        booking_id=booking_id,
        actor_id=actor,
        at=now,
    )


async def add_package(
    session: AsyncSession,
    tutor_id: uuid.UUID,
    grant: Grant,
    now: datetime,
    actor: str | None,
    template_id: uuid.UUID | None = None,
) -> Package:
    package = Package(
        student_id=grant.student_id,
        tutor_id=tutor_id,
        unit=grant.unit,
        total=grant.total,
        remaining=0,
        session_duration_minutes=grant.session_duration_minutes,
        expires_at=grant.expires_at,
        notes=grant.notes,
        template_id=template_id,
        created_at=now,
    )
    session.add(package)
    await session.flush()
    session.add(ledger_line(package, "GRANT", grant.total, now, actor, "granted"))
    return package


async def my_tutor_id(session: AsyncSession, identity: Identity) -> uuid.UUID:
    tutor = await tutor_of_user(session, identity.sub)
    if tutor is None:
        raise Forbidden("Only tutors grant and adjust packages")
    return tutor.id


async def grant_package(db: Database, identity: Identity, grant: Grant, now: datetime) -> Package:
    _check_grant(grant, now)
    async with db.transaction() as session:
        tutor_id = await my_tutor_id(session, identity)
        if await session.get(Student, grant.student_id) is None:
            raise NotFound("No such student (input.studentId)")
        return await add_package(session, tutor_id, grant, now, identity.sub)


async def adjust_package(
    db: Database,
    identity: Identity,
    package_id: uuid.UUID,
    delta: int,
    reason: str | None,
    now: datetime,
) -> Package:
    if delta == 0 or abs(delta) > MAX_TOTAL:
        raise InvalidInput(
            f"delta is a non-zero number up to {MAX_TOTAL} either way", "input.delta"
        )
    if reason is not None and len(reason) > MAX_TEXT:
        raise InvalidInput(f"At most {MAX_TEXT} characters", "input.reason")
    async with db.transaction() as session:
        tutor_id = await my_tutor_id(session, identity)
        package = await lock(session, package_id)
        if package is None or package.tutor_id != tutor_id:
            raise NotFound("No such package")
        if package.remaining + delta < 0:
            raise InvalidInput(
                f"Only {package.remaining} left: a balance never goes below zero", "input.delta"
            )
        package.total += delta
        session.add(ledger_line(package, "MANUAL", delta, now, identity.sub, reason))
        session.add(package)
    return package


async def lock(session: AsyncSession, package_id: uuid.UUID) -> Package | None:
    query = select(Package).where(Package.id == package_id).with_for_update(key_share=True)
    return (await session.exec(query)).first()


# ---------------------------------------------------------------- redemption


async def lock_for(
    session: AsyncSession, package_id: uuid.UUID, student_id: uuid.UUID, tutor_id: uuid.UUID
) -> Package:
    """The package locked for spending by this student with this tutor."""
    package = await lock(session, package_id)
    if package is None or package.student_id != student_id:
        raise PackageUnusable("This package is not the student's", PackageUnusableReason.NOT_OWNER)
    if package.tutor_id != tutor_id:
        raise PackageUnusable(
            "This package is for another tutor", PackageUnusableReason.WRONG_TUTOR
        )
    return package


def cost(package: Package, minutes: int, start: datetime) -> int:
    """What one session of `minutes` at `start` takes from the package."""
    if package.expires_at is not None and package.expires_at < start:
        raise PackageUnusable(
            f"The package expires at {package.expires_at.isoformat()}, before the session",
            PackageUnusableReason.EXPIRED,
        )
    if package.unit == "MINUTES":
        return minutes
    if package.session_duration_minutes is not None and package.session_duration_minutes != minutes:
        raise PackageUnusable(
            f"A credit buys a {package.session_duration_minutes}-minute session",
            PackageUnusableReason.WRONG_DURATION,
        )
    return 1


def spend(package: Package, total: int) -> None:
    if total > package.remaining:
        raise PackageUnusable(
            f"The package has {package.remaining} left and this takes {total}",
            PackageUnusableReason.INSUFFICIENT_BALANCE,
        )


# ---------------------------------------------------------------- enrollment


async def enroll(
    db: Database, identity: Identity, service_id: uuid.UUID, student_id: uuid.UUID, now: datetime
) -> tuple[Service, Student]:
    async with db.transaction() as session:
        service = await session.get(Service, service_id)
        if service is None:
            raise NotFound("No such service")
        tutor = await tutor_of_user(session, identity.sub)
        offers = (
            tutor is not None
            and (
                await session.exec(
                    select(ServiceTutor).where(
                        ServiceTutor.service_id == service_id, ServiceTutor.tutor_id == tutor.id
                    )
                )
            ).first()
            is not None
        )
        if not offers:
            raise Forbidden("Only the service's tutors enroll students")
        student = await session.get(Student, student_id)
        if student is None:
            raise NotFound("No such student")
        if await session.get(Enrollment, (service_id, student_id)) is None:
            session.add(Enrollment(service_id=service_id, student_id=student_id, created_at=now))
    return service, student


async def is_enrolled(session: AsyncSession, service_id: uuid.UUID, student_id: uuid.UUID) -> bool:
    return await session.get(Enrollment, (service_id, student_id)) is not None


async def check_enrolled(
    session: AsyncSession, info: ServiceInfo, student: Student, as_tutor: bool
) -> None:
    """May this student book the service (or ask to schedule it later)? Its tutors book
    anyone in."""
    row = info.row
    enrolled = not row.enrollment_required or as_tutor
    if not enrolled and not await is_enrolled(session, row.id, student.id):
        raise NotEligible(
            "Only students enrolled in this service may book it", NotEligibleReason.NOT_ENROLLED
        )


# ---------------------------------------------------------------- reads


async def packages_by_id(db: Database, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Package]:
    async with db.session() as session:
        return {
            p.id: p for p in await session.exec(select(Package).where(col(Package.id).in_(ids)))
        }


async def visible_package(
    db: Database, identity: Identity | None, package_id: uuid.UUID
) -> Package | None:
    """A package as the viewer may see it: its student's or its tutor's."""
    if identity is None:
        return None
    async with db.session() as session:
        package = await session.get(Package, package_id)
        if package is None:
            return None
        student = await session.get(Student, package.student_id)
        tutor = await tutor_of_user(session, identity.sub)
    mine = student is not None and student.user_id == identity.sub
    return package if mine or (tutor is not None and tutor.id == package.tutor_id) else None


async def packages_of_user(db: Database, identity: Identity) -> list[Package]:
    async with db.session() as session:
        rows = await session.exec(
            select(Package)
            .join(Student, col(Student.id) == col(Package.student_id))
            .where(Student.user_id == identity.sub)
            .order_by(col(Package.created_at))
        )
        return list(rows)


async def ledgers(
    db: Database, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[PackageAdjustment]]:
    async with db.session() as session:
        rows = await session.exec(
            select(PackageAdjustment)
            .where(col(PackageAdjustment.package_id).in_(ids))
            .order_by(col(PackageAdjustment.at), col(PackageAdjustment.id))
        )
        found: dict[uuid.UUID, list[PackageAdjustment]] = defaultdict(list)
        for row in rows:
            found[row.package_id].append(row)
    # The grant first when several lines share an instant.
    for lines in found.values():
        lines.sort(key=lambda line: (line.at, line.kind != "GRANT"))
    return found


def month_bounds(start: datetime, zone: str) -> tuple[datetime, datetime]:
    """The calendar month `start` falls in, in `zone`, as instants."""
    from zoneinfo import ZoneInfo

    local = start.astimezone(ZoneInfo(zone))
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following


async def free_bookings_in_month(
    session: AsyncSession, service_id: uuid.UUID, student_id: uuid.UUID, start: datetime, zone: str
) -> int:
    """Bookings of the service the student did not pay for, in the month of `start`."""
    return (await free_bookings_in_months(session, student_id, [(service_id, start, zone)]))[0]


async def free_bookings_in_months(
    session: AsyncSession,
    student_id: uuid.UUID,
    wanted: Sequence[tuple[uuid.UUID, datetime, str]],
) -> list[int]:
    """For each (service, instant, zone): the student's bookings of the service they did not
    pay for, in the month of that instant in that zone; one statement for them all."""
    months = [(service_id, *month_bounds(start, zone)) for service_id, start, zone in wanted]
    if not months:
        return []
    rows = list(
        await session.exec(
            select(Booking.service_id, Booking.start_at).where(
                Booking.student_id == student_id,
                col(Booking.status).not_in(("CANCELLED", "EXPIRED")),
                col(Booking.package_id).is_(None),
                col(Booking.price_amount_minor).is_(None),
                or_(
                    *(
                        (col(Booking.service_id) == service_id)
                        & (col(Booking.start_at) >= first)
                        & (col(Booking.start_at) < following)
                        for service_id, first, following in months
                    )
                ),
            )
        )
    )
    return [
        sum(1 for row_service, at in rows if row_service == service_id and first <= at < following)
        for service_id, first, following in months
    ]
