"""Package notices: low balance after a redemption, and the sweep's expiry notices (30 and 7
days before), each to the student and to the package's tutor.

One outbox row per recipient, under a key of its own, so each notice goes once however often
the redemptions or the sweep come round and whatever a job's retries. The job re-checks the
package when it runs (renewed above the threshold, used up, expired: nothing), then emits the
recipient's webhook (PACKAGE_LOW_BALANCE, PACKAGE_EXPIRING: so a platform can push it) and
sends the email, in the recipient's zone (the student's profile zone, else the tutor's; the
tutor's own). A tutor without an email still gets the webhook; email off, the webhooks still go.
Jobs written before the tutor's notices existed (no `to`) are the student's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, cast, func, literal
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import outbox, webhooks
from domain.notifications import compose, insert_new
from domain.outbox import JobContext
from infra.db import UnitOfWork, present
from infra.ids import encode_id
from models import Package, Student, Tutor
from models.webhooks import WebhookEventType

EXPIRY_NOTICE_DAYS = (30, 7)


class To(StrEnum):
    """Who a notice is for (the job's `to`)."""

    STUDENT = "student"
    TUTOR = "tutor"


# ---------------------------------------------------------------- what sets them in motion


async def package_spent(session: UnitOfWork, package: Package, at: datetime) -> None:
    """Low-balance notices once the balance is at or below the tutor's threshold: one per
    recipient for each total the package has had (credit added by hand opens a new round;
    a refund then a redemption does not)."""
    tutor = present(await session.get(Tutor, package.tutor_id), "package's tutor")
    if package.remaining > tutor.low_balance_threshold:
        return
    for to in To:
        key = f"package-low:{to}:{package.id}:{package.total}"
        payload = {"package": str(package.id), "to": to.value}
        await outbox.add_once(session, PACKAGE_LOW, key, payload, at)
    session.wake_relay_on_commit()


async def schedule_expiry_notices(session: AsyncSession, now: datetime) -> None:
    """One notice per package, threshold and recipient: 30 days before expiry, then 7 (only
    the nearest when it is granted late). The student's keys are those of the notices written
    before tutors had theirs, so no student hears the same one twice."""
    bounds = [*EXPIRY_NOTICE_DAYS[1:], 0]
    for days, nearer in zip(EXPIRY_NOTICE_DAYS, bounds, strict=True):
        for to in To:
            tag = "" if to == To.STUDENT else f"{to}:"
            await insert_new(
                session,
                PACKAGE_EXPIRING,
                literal(f"package-expiring:{days}:{tag}") + cast(Package.id, String),
                func.jsonb_build_object(
                    "package", cast(Package.id, String), "days", days, "to", to.value
                ),
                now,
                col(Package.remaining) > 0,
                col(Package.expires_at) > now + timedelta(days=nearer),
                col(Package.expires_at) <= now + timedelta(days=days),
            )


# ---------------------------------------------------------------- the jobs


@dataclass(frozen=True)
class Notice:
    """A package, its people and the one the notice is for."""

    package: Package
    tutor: Tutor
    student: Student
    to: To

    @property
    def zone(self) -> str:
        if self.to == To.TUTOR:
            return self.tutor.time_zone
        return self.student.time_zone or self.tutor.time_zone

    @property
    def address(self) -> str | None:
        return self.tutor.email if self.to == To.TUTOR else self.student.email

    def shown(self, at: datetime) -> str:
        """A time on the recipient's wall clock, with their zone."""
        local = at.astimezone(ZoneInfo(self.zone))
        return f"{local:%A %-d %B %Y, %H:%M} ({self.zone})"

    def data(self) -> dict[str, Any]:
        """The webhook's `data` (without `daysBefore`): ids as the API gives them, UTC."""
        package, tutor, student = self.package, self.tutor, self.student
        expires = package.expires_at
        recipient = (
            {"role": "TUTOR", "id": encode_id("Tutor", tutor.id)}
            if self.to == To.TUTOR
            else {"role": "STUDENT", "id": encode_id("Student", student.id)}
        )
        return {
            "package": {
                "id": encode_id("Package", package.id),
                "unit": package.unit,
                "remaining": package.remaining,
                "expiresAt": webhooks.utc(expires) if expires is not None else None,
                "tutor": {"id": encode_id("Tutor", tutor.id), "name": tutor.display_name},
                "student": {"id": encode_id("Student", student.id), "name": student.display_name},
            },
            "recipient": recipient,
        }


async def _notice(session: AsyncSession, job: dict[str, Any]) -> Notice | None:
    package = await session.get(Package, uuid.UUID(job["package"]))
    if package is None:
        return None
    tutor = present(await session.get(Tutor, package.tutor_id), "package's tutor")
    student = present(await session.get(Student, package.student_id), "package's student")
    return Notice(package, tutor, student, To(job.get("to", To.STUDENT)))


async def _deliver(
    ctx: JobContext,
    session: UnitOfWork,
    notice: Notice,
    event: WebhookEventType,
    data: dict[str, Any],
    email: tuple[str, list[str | tuple[str, str]]],
) -> None:
    """The recipient's webhook, then their email (subject, paragraphs) when they have an
    address and email is on: a failure of the first sends nothing, and a retry sends both."""
    await webhooks.emit(
        session, [notice.tutor.id], event, data, ctx.now, subject_id=notice.package.id
    )
    if ctx.mailer is not None and notice.address is not None:
        subject, paragraphs = email
        await ctx.mailer.send(compose(ctx, notice.address, subject, paragraphs))


async def send_package_low(ctx: JobContext, session: UnitOfWork, job: dict[str, Any]) -> None:
    notice = await _notice(session, job)
    if notice is None or notice.package.remaining > notice.tutor.low_balance_threshold:
        return  # gone, or renewed above the threshold since
    package, tutor, student = notice.package, notice.tutor, notice.student
    left, expiry = _count(package.remaining, package.unit), package.expires_at
    expires = f" It expires on {notice.shown(expiry)}." if expiry is not None else ""
    if notice.to == To.TUTOR:
        subject = f"{student.display_name} has {left} left"
        paragraphs: list[str | tuple[str, str]] = [
            f"{student.display_name} has {left} left of the package of "
            f"{_count(package.total, package.unit)} with you.{expires}",
            "Grant a new package or add credit before it runs out.",
        ]
    else:
        subject = f"{left} left with {tutor.display_name}"
        paragraphs = [
            f"Your package with {tutor.display_name} has {left} left.{expires}",
            "Ask your tutor for a new package before it runs out.",
        ]
    event = WebhookEventType.PACKAGE_LOW_BALANCE
    await _deliver(ctx, session, notice, event, notice.data(), (subject, paragraphs))


PACKAGE_LOW = outbox.register("email.package_low", send_package_low)


async def send_package_expiring(ctx: JobContext, session: UnitOfWork, job: dict[str, Any]) -> None:
    notice = await _notice(session, job)
    if notice is None:
        return
    package, tutor, student = notice.package, notice.tutor, notice.student
    if package.remaining <= 0 or package.expires_at is None or package.expires_at <= ctx.now:
        return  # used up, or expired already
    left, days = _count(package.remaining, package.unit), job["days"]
    expiry = notice.shown(package.expires_at)
    if notice.to == To.TUTOR:
        subject = f"{student.display_name}'s package expires in {days} days or less"
        paragraphs: list[str | tuple[str, str]] = [
            f"{student.display_name}'s package of {_count(package.total, package.unit)} "
            f"with you expires on {expiry}.",
            f"{student.display_name} still has {left} to book before then.",
        ]
    else:
        subject = f"Your package with {tutor.display_name} expires in {days} days or less"
        paragraphs = [
            f"Your package with {tutor.display_name} expires on {expiry}.",
            f"It still has {left}: book them before then.",
        ]
    data = {**notice.data(), "daysBefore": days}
    event = WebhookEventType.PACKAGE_EXPIRING
    await _deliver(ctx, session, notice, event, data, (subject, paragraphs))


PACKAGE_EXPIRING = outbox.register("email.package_expiring", send_package_expiring)


def _count(amount: int, unit: str) -> str:
    """3 sessions, 1 minute."""
    noun = "session" if unit == "SESSIONS" else "minute"
    return f"{amount} {noun}{'s' if amount != 1 else ''}"
