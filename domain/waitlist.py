"""The waitlist: joining and leaving it, who sees which entries, and the sweep that ends them.

A signed-in student waits for a service (one tutor, or any of its tutors) inside a window of at
most 31 days, for one of the service's lengths; the service's enrollment rule applies as it does
to booking (`packages.check_enrolled`). A student has at most MAX_ACTIVE active entries (WAITING
or OFFERED), and one per service and overlapping window: checked under the student's row lock
(the booking transaction's), since PostgreSQL here has no btree_gist for an exclusion
constraint; a second one is InvalidInput on `input.from`. Offers: `domain/waitlist_offers.py`.

Who sees an entry: its student, and whoever manages (the role rule) its tutor, or, for an entry
open to any tutor, one of the service's tutors.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, or_, update
from sqlmodel import col, select

from domain import organizations, waitlist_offers
from domain.bookings.free_time import choose_duration
from domain.errors import (
    InvalidInput,
    NotEligible,
    NotEligibleReason,
    NotFound,
    Policy,
    PolicyViolation,
)
from domain.packages import check_enrolled
from domain.people import student_of_user
from domain.services import services_info
from infra.auth import Identity
from infra.db import Database, UnitOfWork
from models import ServiceTutor, Student, Tutor
from models.waitlist import WaitlistEntry, WaitlistStatus

MAX_WINDOW = timedelta(days=31)
MAX_ACTIVE = 20
# Tutor.waitlist: the active entries, oldest first.
MAX_SHOWN = 200

ACTIVE = waitlist_offers.ACTIVE


@dataclass(frozen=True)
class JoinRequest:
    service_id: uuid.UUID
    tutor_id: uuid.UUID | None
    start: datetime
    end: datetime
    duration_minutes: int | None


def _check_window(request: JoinRequest, now: datetime) -> None:
    if request.end <= request.start:
        raise InvalidInput("to must be after from", "input.to")
    if request.end - request.start > MAX_WINDOW:
        raise InvalidInput("A window covers at most 31 days", "input.to")
    if request.end <= now:
        raise InvalidInput("The window has already passed", "input.to")


async def join(
    db: Database, identity: Identity, request: JoinRequest, now: datetime
) -> WaitlistEntry:
    _check_window(request, now)
    async with db.transaction() as session:
        info = (await services_info(session, [request.service_id])).get(request.service_id)
        if info is None:
            raise NotFound("No such service (input.serviceId)")
        if request.tutor_id is not None:
            if await session.get(Tutor, request.tutor_id) is None:
                raise NotFound("No such tutor (input.tutorId)")
            if request.tutor_id not in info.tutor_ids:
                raise NotEligible(
                    "This tutor does not offer this service",
                    NotEligibleReason.NOT_OFFERED_BY_TUTOR,
                )
        option = choose_duration(info, request.duration_minutes, "input.durationMinutes")
        # Locked: one student's joins run one at a time, so the checks below hold.
        student = await student_of_user(session, identity, now, lock=True)
        await check_enrolled(session, info, student, as_tutor=False)
        active = list(
            await session.exec(
                select(WaitlistEntry).where(
                    WaitlistEntry.student_id == student.id, col(WaitlistEntry.status).in_(ACTIVE)
                )
            )
        )
        if len(active) >= MAX_ACTIVE:
            raise InvalidInput(f"At most {MAX_ACTIVE} waitlist entries at a time", "input")
        if any(
            e.service_id == info.row.id and e.from_at < request.end and e.to_at > request.start
            for e in active
        ):
            raise InvalidInput(
                "You are already waiting for this service in an overlapping window", "input.from"
            )
        entry = WaitlistEntry(
            service_id=info.row.id,
            tutor_id=request.tutor_id,
            student_id=student.id,
            from_at=request.start,
            to_at=request.end,
            duration_minutes=option.minutes,
            status=WaitlistStatus.WAITING,
            created_at=now,
        )
        session.add(entry)
        await session.flush()
    return entry


async def leave(
    db: Database, identity: Identity, entry_id: uuid.UUID, now: datetime
) -> WaitlistEntry:
    """WITHDRAWN, by its student only (anyone else: NotFound); an offer it held goes on to the
    next waiter."""
    async with db.transaction() as session:
        entry = (
            await session.exec(
                select(WaitlistEntry)
                .join(Student, col(Student.id) == WaitlistEntry.student_id)
                .where(WaitlistEntry.id == entry_id, Student.user_id == identity.sub)
                .with_for_update(of=WaitlistEntry)
            )
        ).first()
        if entry is None:
            raise NotFound("No such waitlist entry")
        if entry.status not in ACTIVE:
            raise PolicyViolation(
                f"A {entry.status.lower()} entry cannot be left", Policy.INVALID_TRANSITION
            )
        _offer_goes_on(session, entry, now)
        entry.status = WaitlistStatus.WITHDRAWN
        session.add(entry)
    return entry


def _offer_goes_on(session: UnitOfWork, entry: WaitlistEntry, now: datetime) -> None:
    if (
        entry.status == WaitlistStatus.OFFERED
        and entry.offered_tutor_id is not None
        and entry.offered_start is not None
        and entry.offered_end is not None
    ):
        span = (entry.offered_start, entry.offered_end)
        waitlist_offers.offer_lapsed(session, entry.offered_tutor_id, span, now)


# ---------------------------------------------------------------- the sweep


async def sweep(session: UnitOfWork, now: datetime) -> None:
    """Windows that ended: EXPIRED. Offers unused past their time: WAITING again, and their
    slot goes on to the next waiter (who was never told of it)."""
    await session.exec(
        update(WaitlistEntry)
        .where(col(WaitlistEntry.status).in_(ACTIVE), col(WaitlistEntry.to_at) <= now)
        .values(status=WaitlistStatus.EXPIRED)
        .execution_options(synchronize_session=False)
    )
    lapsed = await session.exec(
        update(WaitlistEntry)
        .where(
            col(WaitlistEntry.status) == WaitlistStatus.OFFERED,
            col(WaitlistEntry.offer_expires_at) <= now,
        )
        .values(status=WaitlistStatus.WAITING)
        .returning(
            col(WaitlistEntry.offered_tutor_id),
            col(WaitlistEntry.offered_start),
            col(WaitlistEntry.offered_end),
        )
        .execution_options(synchronize_session=False)
    )
    for tutor_id, start, end in list(lapsed):
        if tutor_id is not None and start is not None and end is not None:
            waitlist_offers.offer_lapsed(session, tutor_id, (start, end), now)


# ---------------------------------------------------------------- reads


def _managed_by(tutor_ids: set[uuid.UUID]) -> ColumnElement[bool]:
    """Entries of these tutors: their own, and any-tutor ones of a service one of them offers."""
    offers = exists().where(
        col(ServiceTutor.service_id) == WaitlistEntry.service_id,
        col(ServiceTutor.tutor_id).in_(tutor_ids),
    )
    return or_(
        col(WaitlistEntry.tutor_id).in_(tutor_ids),
        and_(col(WaitlistEntry.tutor_id).is_(None), offers),
    )


async def visible_entries(
    db: Database, identity: Identity | None, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, WaitlistEntry]:
    """The entries among `ids` the caller may see (node, nodes)."""
    if identity is None:
        return {}
    async with db.session() as session:
        managed = await organizations.managed_tutors(session, identity)
        own = select(Student.id).where(Student.user_id == identity.sub)
        rows = await session.exec(
            select(WaitlistEntry).where(
                col(WaitlistEntry.id).in_(ids),
                or_(
                    col(WaitlistEntry.student_id).in_(own.scalar_subquery()),
                    _managed_by(managed),
                ),
            )
        )
        return {e.id: e for e in rows}


async def waitlists_of_tutors(
    db: Database, identity: Identity | None, tutor_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[WaitlistEntry]]:
    """Tutor.waitlist of each tutor the caller manages (the tutor, their organization's owners
    and admins; nobody else gets any): the active entries that could take the tutor's time,
    oldest first, at most MAX_SHOWN each. Three statements for any number of tutors."""
    async with db.session() as session:
        wanted = await organizations.managed_tutors(session, identity) & set(tutor_ids)
        if not wanted:
            return {}
        offered = await session.exec(
            select(ServiceTutor.service_id, ServiceTutor.tutor_id).where(
                col(ServiceTutor.tutor_id).in_(wanted)
            )
        )
        tutors_of: dict[uuid.UUID, list[uuid.UUID]] = {}
        for service_id, tutor_id in offered:
            tutors_of.setdefault(service_id, []).append(tutor_id)
        rows = await session.exec(
            select(WaitlistEntry)
            .where(col(WaitlistEntry.status).in_(ACTIVE), _managed_by(wanted))
            .order_by(col(WaitlistEntry.seq))
            .limit(MAX_SHOWN * len(wanted))
        )
        found: dict[uuid.UUID, list[WaitlistEntry]] = {t: [] for t in wanted}
        for entry in rows:
            owners = (
                [entry.tutor_id]
                if entry.tutor_id is not None
                else tutors_of.get(entry.service_id, [])
            )
            for tutor_id in owners:
                if tutor_id in found and len(found[tutor_id]) < MAX_SHOWN:
                    found[tutor_id].append(entry)
        return found


async def student_waitlist(db: Database, identity: Identity | None) -> list[WaitlistEntry]:
    """Viewer.waitlist: the signed-in student's WAITING and OFFERED entries, oldest first."""
    if identity is None:
        return []
    async with db.session() as session:
        rows = await session.exec(
            select(WaitlistEntry)
            .join(Student, col(Student.id) == WaitlistEntry.student_id)
            .where(Student.user_id == identity.sub, col(WaitlistEntry.status).in_(ACTIVE))
            .order_by(col(WaitlistEntry.seq))
            .limit(MAX_ACTIVE)
        )
        return list(rows)
