"""Daily summaries: tomorrow's sessions for each tutor, and for owners who opted in, the whole
organization's."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, Integer, String, cast, exists, func, literal
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import notifications, outbox
from domain.outbox import JobContext
from infra.db import present
from models import (
    Booking,
    Organization,
    OrganizationMember,
    OrganizationRole,
    Service,
    Student,
    Tutor,
)
from models.bookings import BookingStatus


async def schedule_summaries(session: AsyncSession, now: datetime, hour: int) -> None:
    """Each tutor with an email gets tomorrow's sessions once a day, from `hour` in their zone."""
    local = func.timezone(Tutor.time_zone, literal(now, DateTime(timezone=True)))
    local_date = cast(func.date(local), String)
    await notifications.insert_new(
        session,
        TUTOR_SUMMARY,
        literal("tutor-summary:") + cast(Tutor.id, String) + literal(":") + local_date,
        func.jsonb_build_object("tutor", cast(Tutor.id, String), "date", local_date),
        now,
        col(Tutor.email).is_not(None),
        cast(func.extract("hour", local), Integer) >= hour,
    )
    # Owners who opted in also get the whole organization's, at the same hour of their zone.
    owner = col(OrganizationMember.tutor_id) == Tutor.id
    await notifications.insert_new(
        session,
        ORGANIZATION_SUMMARY,
        literal("organization-summary:") + cast(Tutor.id, String) + literal(":") + local_date,
        func.jsonb_build_object("tutor", cast(Tutor.id, String), "date", local_date),
        now,
        col(Tutor.email).is_not(None),
        cast(func.extract("hour", local), Integer) >= hour,
        exists().where(
            owner,
            col(OrganizationMember.role) == OrganizationRole.OWNER,
            col(OrganizationMember.organization_summary),
        ),
    )


async def _sessions_tomorrow(
    session: AsyncSession, tutor_ids: Any, day: date, zone: ZoneInfo
) -> list[tuple[Booking, Service, Student, Tutor]]:
    """Confirmed sessions of these tutors on `day` in `zone`, by start."""
    start = datetime.combine(day, time(), zone)
    end = datetime.combine(day + timedelta(days=1), time(), zone)
    return list(
        await session.exec(
            select(Booking, Service, Student, Tutor)
            .join(Service, col(Service.id) == Booking.service_id)
            .join(Student, col(Student.id) == Booking.student_id)
            .join(Tutor, col(Tutor.id) == Booking.tutor_id)
            .where(
                col(Booking.tutor_id).in_(tutor_ids),
                Booking.status == BookingStatus.CONFIRMED,
                col(Booking.start_at) >= start,
                col(Booking.start_at) < end,
            )
            .order_by(col(Booking.start_at), col(Tutor.display_name))
        )
    )


def _session_line(booking: Booking, service: Service, student: Student, zone: ZoneInfo) -> str:
    return (
        f"{booking.start_at.astimezone(zone):%H:%M}–{booking.end_at.astimezone(zone):%H:%M}  "
        f"{service.title} with {student.display_name}"
    )


async def send_tutor_summary(ctx: JobContext, session: AsyncSession, job: dict[str, Any]) -> None:
    tutor = await session.get(Tutor, uuid.UUID(job["tutor"]))
    if tutor is None or tutor.email is None or ctx.mailer is None:
        return
    zone = ZoneInfo(tutor.time_zone)
    tomorrow = date.fromisoformat(job["date"]) + timedelta(days=1)
    rows = await _sessions_tomorrow(session, [tutor.id], tomorrow, zone)
    if not rows:
        return  # nothing tomorrow: no email
    lines = [_session_line(b, service, student, zone) for b, service, student, _ in rows]
    paragraphs: list[str | tuple[str, str]] = [
        f"Your sessions on {tomorrow:%A %-d %B} ({tutor.time_zone}):",
        "\n".join(lines),
    ]
    subject = f"Tomorrow: {len(rows)} session{'s' if len(rows) != 1 else ''}"
    await ctx.mailer.send(notifications.compose(ctx, tutor.email, subject, paragraphs))


TUTOR_SUMMARY = outbox.register("email.tutor_summary", send_tutor_summary)


async def send_organization_summary(
    ctx: JobContext, session: AsyncSession, job: dict[str, Any]
) -> None:
    """Tomorrow's sessions of every member, by tutor, to an owner who opted in (still an owner
    and still opted in when it is sent)."""
    owner = await session.get(Tutor, uuid.UUID(job["tutor"]))
    membership = await session.get(OrganizationMember, uuid.UUID(job["tutor"]))
    if (
        owner is None
        or owner.email is None
        or ctx.mailer is None
        or membership is None
        or membership.role != OrganizationRole.OWNER
        or not membership.organization_summary
    ):
        return
    organization = present(
        await session.get(Organization, membership.organization_id), "organization"
    )
    zone = ZoneInfo(owner.time_zone)
    tomorrow = date.fromisoformat(job["date"]) + timedelta(days=1)
    members = select(OrganizationMember.tutor_id).where(
        OrganizationMember.organization_id == organization.id
    )
    rows = await _sessions_tomorrow(session, members, tomorrow, zone)
    if not rows:
        return
    by_tutor: dict[str, list[str]] = {}
    for booking, service, student, tutor in rows:
        by_tutor.setdefault(tutor.display_name, []).append(
            _session_line(booking, service, student, zone)
        )
    paragraphs: list[str | tuple[str, str]] = [
        f"{organization.name}: sessions on {tomorrow:%A %-d %B} ({owner.time_zone}):",
        *(f"{name}\n" + "\n".join(lines) for name, lines in sorted(by_tutor.items())),
    ]
    subject = f"{organization.name} tomorrow: {len(rows)} session{'s' if len(rows) != 1 else ''}"
    await ctx.mailer.send(notifications.compose(ctx, owner.email, subject, paragraphs))


ORGANIZATION_SUMMARY = outbox.register("email.organization_summary", send_organization_summary)
