"""The coach's package list: every package of the students of the tutors the caller manages,
filtered and a page at a time. (One student's free allowance left, for the coach, is
`bookings.allowances_for_student`, beside the viewer's own.)

Who sees what is the role rule (`organizations.managed_tutors`), as for the roster: the list of a
tutor the caller manages holds the packages of every tutor the caller manages (an OWNER or ADMIN:
the whole organization's, whichever member's list they ask for; a member: their own); the list of
any other tutor is empty.

Order: soonest expiry first, packages that never expire last, then by id, so a page boundary is
one (expires_at, id) key and the cursor is that key. A page costs the same statements whatever
its size: who the caller manages (two), the count and the page.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_
from sqlmodel import col, select

from domain import organizations
from domain.errors import InvalidInput
from infra.auth import Identity
from infra.db import Database
from models import Package, Tutor

MAX_PAGE = 50

Key = tuple[datetime | None, uuid.UUID]  # (expires_at, id)


@dataclass(frozen=True)
class Filter:
    student_id: uuid.UUID | None = None
    low_balance: bool | None = None
    expiring_before: datetime | None = None
    include_inactive: bool = False


@dataclass(frozen=True)
class PackagePage:
    packages: list[Package]
    total: int
    has_next: bool
    has_previous: bool


def encode_cursor(package: Package) -> str:
    expires = package.expires_at.isoformat() if package.expires_at is not None else None
    raw = json.dumps([expires, str(package.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> Key:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        expires, key = json.loads(raw)
        at = datetime.fromisoformat(expires) if expires is not None else None
        if at is not None and at.tzinfo is None:
            raise ValueError(expires)
        return at, uuid.UUID(key)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidInput("Not a cursor from this list", "after") from None


def _after(key: Key) -> ColumnElement[bool]:
    """Packages after `key` in the list's order (expiry ascending, nulls last, then id)."""
    expires, package_id = key
    expiry, pk = col(Package.expires_at), col(Package.id)
    if expires is None:
        return and_(expiry.is_(None), pk > package_id)
    return or_(expiry > expires, and_(expiry == expires, pk > package_id), expiry.is_(None))


def _conditions(tutors: set[uuid.UUID], wanted: Filter, now: datetime) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [col(Package.tutor_id).in_(tutors)]
    if wanted.student_id is not None:
        conditions.append(col(Package.student_id) == wanted.student_id)
    if wanted.low_balance:
        # Each package against its own tutor's threshold (an organization's differ).
        conditions.append(col(Package.remaining) <= col(Tutor.low_balance_threshold))
    if wanted.expiring_before is not None:
        conditions.append(col(Package.expires_at) < wanted.expiring_before)
    if not wanted.include_inactive:
        # Active: credit left and not expired at `now` (what booking with it asks).
        conditions.append(col(Package.remaining) > 0)
        conditions.append(or_(col(Package.expires_at).is_(None), col(Package.expires_at) > now))
    return conditions


async def tutor_packages(
    db: Database,
    identity: Identity | None,
    tutor_id: uuid.UUID,
    wanted: Filter,
    first: int,
    after: str | None,
    now: datetime,
) -> PackagePage:
    """`first` packages after the cursor, soonest expiry first: those of every tutor the caller
    manages, when the caller manages this tutor; none else."""
    if not 1 <= first <= MAX_PAGE:
        raise InvalidInput(f"first is 1 to {MAX_PAGE}", "first")
    cursor = _decode_cursor(after) if after else None
    async with db.session() as session:
        tutors = await organizations.managed_tutors(session, identity)
        if tutor_id not in tutors:
            return PackagePage([], 0, False, False)
        conditions = _conditions(tutors, wanted, now)
        joined = col(Tutor.id) == col(Package.tutor_id)
        total = (
            await session.exec(
                select(func.count()).select_from(Package).join(Tutor, joined).where(*conditions)
            )
        ).one()
        page = select(Package).join(Tutor, joined).where(*conditions)
        if cursor is not None:
            page = page.where(_after(cursor))
        order = (col(Package.expires_at).asc().nulls_last(), col(Package.id))
        rows = list(await session.exec(page.order_by(*order).limit(first + 1)))
    return PackagePage(rows[:first], total, len(rows) > first, cursor is not None)
