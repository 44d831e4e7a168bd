"""Schedule later: a student asks to take a service before choosing a tutor or a time.

The service's tutors see the open requests; one of them takes one (or an organization's owner
or admin gives it to a member who teaches the service), and the student is emailed a link to
book that tutor. The student's next booking of the service fulfils the request, in the
booking's own transaction (`fulfil_request`, called by `bookings.create`).

    OPEN ──assign──▶ ASSIGNED ──assign──▶ ASSIGNED (another tutor)
      │  ╲                 │
      │   booking (any     │ booking with the assigned tutor
      │   tutor)  ╲        ▼
      │            ───▶ BOOKED
      └─withdraw──▶ WITHDRAWN ◀──withdraw── ASSIGNED

One access rule, `RequestAccess`, asked as an SQL condition by lists, loaders and `node`, and of
one locked request by every change: the student sees (and withdraws) their own; a tutor sees
OPEN requests of the services they teach and those whose tutor they are (asked for, assigned,
booked), and assigns them; an OWNER or ADMIN of an organization has each member's rights (the
role rule, `organizations.managed_tutors`). Anyone else is told a request does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, func, or_, tuple_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import notifications, organizations, outbox, packages, webhooks
from domain.errors import (
    Forbidden,
    InvalidInput,
    NotEligible,
    NotEligibleReason,
    NotFound,
    Policy,
    PolicyViolation,
)
from domain.outbox import JobContext
from domain.people import student_of_user
from domain.services import ServiceInfo, services_info
from infra.auth import Identity
from infra.db import Database, UnitOfWork, present
from infra.ids import encode_id
from models import (
    Booking,
    ScheduleRequest,
    ScheduleRequestStatus,
    Service,
    ServiceTutor,
    Student,
    Tutor,
)
from models.schedule_requests import PENDING

MAX_PAGE = 100
MAX_NOTE = 2000
MAX_PENDING = 100  # Viewer.scheduleRequests: a student's open requests, one per service

ALREADY_PENDING = (
    "You already asked to schedule this service later: withdraw that request to make another"
)


# ---------------------------------------------------------------- who may see and act


@dataclass(frozen=True)
class RequestAccess:
    """The caller as far as requests are concerned: their student profile, and the tutors they
    act for (their own profile and, as an OWNER or ADMIN, every member)."""

    student_id: uuid.UUID | None
    tutor_ids: frozenset[uuid.UUID]

    def condition(self) -> ColumnElement[bool]:
        mine: list[ColumnElement[bool]] = []
        if self.student_id is not None:
            mine.append(col(ScheduleRequest.student_id) == self.student_id)
        if self.tutor_ids:
            taught = select(ServiceTutor.service_id).where(
                col(ServiceTutor.tutor_id).in_(self.tutor_ids)
            )
            mine.append(col(ScheduleRequest.tutor_id).in_(self.tutor_ids))
            mine.append(
                and_(
                    col(ScheduleRequest.status) == ScheduleRequestStatus.OPEN,
                    col(ScheduleRequest.service_id).in_(taught),
                )
            )
        return or_(*mine) if mine else false()

    def is_student(self, row: ScheduleRequest) -> bool:
        return self.student_id is not None and row.student_id == self.student_id

    def acts_as_tutor(self, row: ScheduleRequest, service_tutor_ids: Collection[uuid.UUID]) -> bool:
        """The tutor part of `condition`, of one request whose service has these tutors."""
        if row.tutor_id is not None and row.tutor_id in self.tutor_ids:
            return True
        open_to_mine = not self.tutor_ids.isdisjoint(service_tutor_ids)
        return row.status == ScheduleRequestStatus.OPEN and open_to_mine


async def access_of(session: AsyncSession, identity: Identity | None) -> RequestAccess:
    if identity is None:
        return RequestAccess(None, frozenset())
    tutors = await organizations.managed_tutors(session, identity)
    student = (
        await session.exec(select(Student.id).where(Student.user_id == identity.sub))
    ).first()
    return RequestAccess(student, frozenset(tutors))


async def _locked(
    session: AsyncSession, access: RequestAccess, request_id: uuid.UUID
) -> tuple[ScheduleRequest, ServiceInfo]:
    """The request, locked, with its service; NotFound for a caller who may not see it."""
    query = select(ScheduleRequest).where(ScheduleRequest.id == request_id).with_for_update()
    row = (await session.exec(query)).first()
    if row is None:
        raise NotFound("No such request")
    infos = await services_info(session, [row.service_id])
    info = present(infos.get(row.service_id), "request's service")
    if not (access.is_student(row) or access.acts_as_tutor(row, info.tutor_ids)):
        raise NotFound("No such request")
    return row, info


# ---------------------------------------------------------------- changes


def _checked_note(note: str | None) -> str | None:
    if note is None or not note.strip():
        return None
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"At most {MAX_NOTE} characters", "input.note")
    return note.strip()


async def _check_tutor(session: AsyncSession, tutor_id: uuid.UUID) -> None:
    if await session.get(Tutor, tutor_id) is None:
        raise NotFound("No such tutor (input.tutorId)")


def _check_offers(info: ServiceInfo, tutor_id: uuid.UUID) -> None:
    """The tutor teaches the service, as booking them requires."""
    if tutor_id not in info.tutor_ids:
        raise NotEligible(
            "This tutor does not offer this service", NotEligibleReason.NOT_OFFERED_BY_TUTOR
        )


def _check_pending(row: ScheduleRequest, change: str) -> None:
    if row.status not in PENDING:
        raise PolicyViolation(
            f"This request is {row.status.lower()}: it cannot be {change}",
            Policy.INVALID_TRANSITION,
        )


async def request_schedule_later(
    db: Database,
    identity: Identity,
    service_id: uuid.UUID,
    tutor_id: uuid.UUID | None,
    note: str | None,
    now: datetime,
) -> ScheduleRequest:
    """A signed-in student's request, under the enrollment rule booking the service applies.
    A second pending request for the same service is refused by the database's unique index,
    however many are made at once."""
    text = _checked_note(note)
    try:
        async with db.transaction() as session:
            info = (await services_info(session, [service_id])).get(service_id)
            if info is None:
                raise NotFound("No such service (input.serviceId)")
            if tutor_id is not None:
                await _check_tutor(session, tutor_id)
                _check_offers(info, tutor_id)
            # Locked, as a booking locks it: the student's requests and bookings take turns.
            student = await student_of_user(session, identity, now, lock=True)
            await packages.check_enrolled(session, info, student, as_tutor=False)
            row = ScheduleRequest(
                service_id=service_id,
                student_id=student.id,
                tutor_id=tutor_id,
                status=ScheduleRequestStatus.OPEN,
                note=text,
                created_at=now,
            )
            session.add(row)
            await session.flush()
            tutors = [tutor_id] if tutor_id is not None else info.tutor_ids
            await webhooks.schedule_request_created(session, row, tutors, now)
    except IntegrityError:
        raise InvalidInput(ALREADY_PENDING, "input.serviceId") from None
    return row


async def assign_request(
    db: Database, identity: Identity, request_id: uuid.UUID, tutor_id: uuid.UUID, now: datetime
) -> ScheduleRequest:
    """A tutor of the service takes the request (or an owner or admin gives it to a member who
    teaches the service); the student is emailed a link to book them. An assigned request may
    be given to another tutor."""
    async with db.transaction() as session:
        access = await access_of(session, identity)
        row, info = await _locked(session, access, request_id)
        if not access.acts_as_tutor(row, info.tutor_ids):
            raise Forbidden("Only the service's tutors (or their organization's owners and admins)")
        _check_pending(row, "assigned")
        await _check_tutor(session, tutor_id)
        if tutor_id not in access.tutor_ids:
            raise Forbidden(
                "Assign yourself; only an organization's owners and admins assign a member"
            )
        _check_offers(info, tutor_id)
        row.status, row.tutor_id = ScheduleRequestStatus.ASSIGNED, tutor_id
        session.add(row)
        outbox.add(
            session, ASSIGNED_EMAIL, {"request": str(row.id), "tutor": str(tutor_id)}, now, now=now
        )
    return row


async def withdraw_request(
    db: Database, identity: Identity, request_id: uuid.UUID
) -> ScheduleRequest:
    """The student withdraws their request; its tutors may see it but not withdraw it."""
    async with db.transaction() as session:
        access = await access_of(session, identity)
        row, _ = await _locked(session, access, request_id)
        if not access.is_student(row):
            raise Forbidden("Only the student withdraws their request")
        _check_pending(row, "withdrawn")
        row.status = ScheduleRequestStatus.WITHDRAWN
        session.add(row)
    return row


def pending_exists(student_id: uuid.UUID, service_id: uuid.UUID) -> ColumnElement[bool]:
    """Asked in a booking's re-check statement, under the student's lock (requests are made
    under it; nothing makes one pending again): with none, the booking skips `fulfil_request`."""
    return exists().where(
        col(ScheduleRequest.student_id) == student_id,
        col(ScheduleRequest.service_id) == service_id,
        col(ScheduleRequest.status).in_(PENDING),
    )


async def fulfil_request(session: UnitOfWork, made: Sequence[Booking]) -> None:
    """Called by the booking transaction once the student's row is locked and the bookings
    written: the student's pending request for the service becomes BOOKED with the first of
    them, when it is OPEN (any tutor) or ASSIGNED to the booking's tutor.

    The request row is locked: of two bookings at once, the one that gets it second re-reads
    it (FOR UPDATE re-checks the status) and leaves it as the first marked it. A guest's
    booking is for a new student row, so it never matches."""
    booking = min(made, key=lambda b: b.start_at)
    query = (
        select(ScheduleRequest)
        .where(
            ScheduleRequest.student_id == booking.student_id,
            ScheduleRequest.service_id == booking.service_id,
            col(ScheduleRequest.status).in_(PENDING),
        )
        .with_for_update()
    )
    row = (await session.exec(query)).first()
    if row is None:
        return
    if row.status == ScheduleRequestStatus.ASSIGNED and row.tutor_id != booking.tutor_id:
        return
    row.status, row.tutor_id, row.booking_id = (
        ScheduleRequestStatus.BOOKED,
        booking.tutor_id,
        booking.id,
    )
    session.add(row)


# ---------------------------------------------------------------- reads


@dataclass(frozen=True)
class RequestFilter:
    service_id: uuid.UUID | None = None
    statuses: Sequence[ScheduleRequestStatus] | None = None


@dataclass(frozen=True)
class RequestPage:
    rows: list[ScheduleRequest]
    total: int
    has_next: bool
    has_previous: bool


def cursor_of(row: ScheduleRequest) -> str:
    """A page's cursor: the request's key (the list is ordered by creation, then key)."""
    return str(row.id)


async def list_requests(
    db: Database, identity: Identity, where: RequestFilter, first: int, after: str | None
) -> RequestPage:
    """The requests the caller may see that the filter matches, oldest first (the longest
    waiting at the top of a tutor's list)."""
    if not 1 <= first <= MAX_PAGE:
        raise InvalidInput(f"first is 1 to {MAX_PAGE}", "first")
    async with db.session() as session:
        conditions = [(await access_of(session, identity)).condition()]
        if where.service_id is not None:
            conditions.append(col(ScheduleRequest.service_id) == where.service_id)
        if where.statuses:
            conditions.append(col(ScheduleRequest.status).in_(where.statuses))
        total = (
            await session.exec(select(func.count()).select_from(ScheduleRequest).where(*conditions))
        ).one()
        page = select(ScheduleRequest).where(*conditions)
        if after is not None:
            anchor = await _anchor(session, after)
            key = tuple_(col(ScheduleRequest.created_at), col(ScheduleRequest.id))
            page = page.where(key > tuple_(anchor.created_at, anchor.id))
        order = (col(ScheduleRequest.created_at), col(ScheduleRequest.id))
        rows = list(await session.exec(page.order_by(*order).limit(first + 1)))
    return RequestPage(rows[:first], total, len(rows) > first, after is not None)


async def _anchor(session: AsyncSession, cursor: str) -> ScheduleRequest:
    try:
        row = await session.get(ScheduleRequest, uuid.UUID(cursor))
    except ValueError:
        row = None
    if row is None:
        raise InvalidInput("Not a cursor from this list", "after")
    return row


async def pending_of_user(db: Database, identity: Identity) -> list[ScheduleRequest]:
    """The signed-in user's OPEN and ASSIGNED requests, as a student, oldest first."""
    async with db.session() as session:
        rows = await session.exec(
            select(ScheduleRequest)
            .join(Student, col(Student.id) == col(ScheduleRequest.student_id))
            .where(Student.user_id == identity.sub, col(ScheduleRequest.status).in_(PENDING))
            .order_by(col(ScheduleRequest.created_at), col(ScheduleRequest.id))
            .limit(MAX_PENDING)
        )
        return list(rows)


async def visible_requests(
    db: Database, identity: Identity | None, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, ScheduleRequest]:
    async with db.session() as session:
        access = await access_of(session, identity)
        rows = await session.exec(
            select(ScheduleRequest).where(col(ScheduleRequest.id).in_(ids), access.condition())
        )
        return {row.id: row for row in rows}


# ---------------------------------------------------------------- the email


def book_link(base_url: str, service_id: uuid.UUID, tutor_id: uuid.UUID) -> str:
    """Where the student books the service with that tutor (the ids are the API's)."""
    service, tutor = encode_id("Service", service_id), encode_id("Tutor", tutor_id)
    return f"{base_url}/book/{service}?tutor={tutor}"


async def send_assigned(ctx: JobContext, session: AsyncSession, job: dict[str, Any]) -> None:
    row = await session.get(ScheduleRequest, uuid.UUID(job["request"]))
    if ctx.mailer is None or row is None or row.status != ScheduleRequestStatus.ASSIGNED:
        return  # withdrawn or booked meanwhile
    if str(row.tutor_id) != job["tutor"]:
        return  # given to another tutor since: their email is on its way
    service = present(await session.get(Service, row.service_id), "request's service")
    tutor = present(await session.get(Tutor, row.tutor_id), "request's tutor")
    student = present(await session.get(Student, row.student_id), "request's student")
    if not student.email:
        return
    title = f"{service.title} with {tutor.display_name}"
    paragraphs: list[str | tuple[str, str]] = [
        f"You asked to schedule {service.title} later: {tutor.display_name} will take it.",
        "Choose a time that suits you.",
        (f"Book {title}", book_link(ctx.settings.public_base_url, service.id, tutor.id)),
    ]
    subject = f"Book {title}"
    await ctx.mailer.send(notifications.compose(ctx, student.email, subject, paragraphs))


ASSIGNED_EMAIL = outbox.register("email.schedule_request", send_assigned)
