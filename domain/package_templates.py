"""Package templates: what a tutor offers for sale or to grant (a number of sessions or
minutes, a validity, a price), and packages granted from them. Buying one by card is
`domain/payments.py`; the package it makes lives by the ledger in `domain/packages.py`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.errors import InvalidInput, NotFound
from domain.packages import MAX_TEXT, Grant, add_package, check_credit, my_tutor_id
from domain.service_rules import check_price
from infra.auth import Identity
from infra.db import Database
from models import Package, PackageTemplate, Student

MAX_VALID_DAYS = 3660


@dataclass(frozen=True)
class TemplateInput:
    name: str
    unit: str
    total: int
    session_duration_minutes: int | None = None
    valid_days: int | None = None
    price_amount_minor: int | None = None
    price_currency: str | None = None


async def create_template(
    db: Database, identity: Identity, template: TemplateInput, now: datetime
) -> PackageTemplate:
    name = template.name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInput("A name is 1 to 200 characters", "input.name")
    check_credit(template.unit, template.total, template.session_duration_minutes)
    if template.valid_days is not None and not 1 <= template.valid_days <= MAX_VALID_DAYS:
        raise InvalidInput(f"validDays is 1 to {MAX_VALID_DAYS}", "input.validDays")
    currency = (
        check_price(template.price_amount_minor, template.price_currency, "input.price")
        if template.price_amount_minor is not None
        else None
    )
    async with db.transaction() as session:
        row = PackageTemplate(
            tutor_id=await my_tutor_id(session, identity),
            name=name,
            unit=template.unit,
            total=template.total,
            session_duration_minutes=template.session_duration_minutes,
            valid_days=template.valid_days,
            price_amount_minor=template.price_amount_minor,
            price_currency=currency,
            created_at=now,
        )
        session.add(row)
    return row


async def _my_template(
    session: AsyncSession, identity: Identity, template_id: uuid.UUID
) -> PackageTemplate:
    tutor_id = await my_tutor_id(session, identity)
    template = await session.get(PackageTemplate, template_id)
    if template is None or template.tutor_id != tutor_id:
        raise NotFound("No such package template")
    return template


async def archive_template(
    db: Database, identity: Identity, template_id: uuid.UUID, now: datetime
) -> PackageTemplate:
    """No longer offered; packages granted or bought from it are kept as they are."""
    async with db.transaction() as session:
        template = await _my_template(session, identity, template_id)
        template.archived_at = template.archived_at or now
        session.add(template)
    return template


async def grant_from_template(
    db: Database,
    identity: Identity,
    template_id: uuid.UUID,
    student_id: uuid.UUID,
    notes: str | None,
    now: datetime,
) -> Package:
    if notes is not None and len(notes) > MAX_TEXT:
        raise InvalidInput(f"At most {MAX_TEXT} characters", "input.notes")
    async with db.transaction() as session:
        template = await _my_template(session, identity, template_id)
        if template.archived_at is not None:
            raise NotFound("This package template is archived")
        if await session.get(Student, student_id) is None:
            raise NotFound("No such student (input.studentId)")
        grant = Grant(
            student_id=student_id,
            unit=template.unit,
            total=template.total,
            session_duration_minutes=template.session_duration_minutes,
            expires_at=now + timedelta(days=template.valid_days) if template.valid_days else None,
            notes=notes or template.name,
        )
        return await add_package(session, template.tutor_id, grant, now, identity.sub, template.id)


async def templates_of_tutors(
    db: Database, tutor_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[PackageTemplate]]:
    """The templates each tutor offers now, oldest first."""
    async with db.session() as session:
        rows = await session.exec(
            select(PackageTemplate)
            .where(
                col(PackageTemplate.tutor_id).in_(tutor_ids),
                col(PackageTemplate.archived_at).is_(None),
            )
            .order_by(col(PackageTemplate.created_at), col(PackageTemplate.id))
        )
        found: dict[uuid.UUID, list[PackageTemplate]] = {t: [] for t in tutor_ids}
        for row in rows:
            found[row.tutor_id].append(row)
    return found
