"""Running one outbox job: the only code that marks a job done, whoever delivered it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from asgi_correlation_id import correlation_id
from sqlmodel.ext.asyncio.session import AsyncSession

# Importing the modules that write jobs registers their kinds (outbox.register).
from domain import (  # noqa: F401
    bookings,
    calendar_sync,
    form_notices,
    funnel,
    funnel_counts,
    invitations,
    meetings,
    notifications,
    outbox,
    package_notices,
    reminders,
    review_requests,
    schedule_requests,
    summaries,
    waitlist,
    webhook_delivery,
)
from domain.outbox import JOBS, Job, JobContext
from domain.stripe import Cards
from infra.db import Database, UnitOfWork
from infra.mailer import Mailer
from infra.settings import JobSettings, Settings
from models.base import Clock

log = logging.getLogger("booking_api.jobs")

Handler = Callable[[JobContext, UnitOfWork, dict[str, Any]], Awaitable[None]]


async def _sweep_holds(ctx: JobContext, session: AsyncSession, job: dict[str, Any]) -> None:
    await bookings.expire_lapsed_holds(ctx.db, ctx.now)
    await notifications.drop_stale_tokens(session, ctx.now)
    await review_requests.drop_stale_tokens(session, ctx.now)


async def _sweep_packages(ctx: JobContext, session: AsyncSession, job: dict[str, Any]) -> None:
    await package_notices.schedule_expiry_notices(session, ctx.now)


async def _sweep_summaries(ctx: JobContext, session: AsyncSession, job: dict[str, Any]) -> None:
    await summaries.schedule_summaries(session, ctx.now, ctx.settings.jobs.daily_summary_hour)


async def _sweep_forms(ctx: JobContext, session: AsyncSession, job: dict[str, Any]) -> None:
    await form_notices.schedule_reminders(session, ctx.now)


async def _sweep_waitlist(ctx: JobContext, session: UnitOfWork, job: dict[str, Any]) -> None:
    """Waitlist windows that ended expire; offers left unbooked go on to the next waiter."""
    await waitlist.sweep(session, ctx.now)


async def _prune(ctx: JobContext, session: AsyncSession, job: dict[str, Any]) -> None:
    await outbox.prune(session, ctx.now)


async def _prune_funnel(ctx: JobContext, session: AsyncSession, job: dict[str, Any]) -> None:
    """Funnel events past FUNNEL_RETENTION_DAYS, in short transactions of their own."""
    await funnel_counts.prune(ctx.db, ctx.now, ctx.settings.funnel.retention_days)


async def _sweep_refunds(ctx: JobContext, session: AsyncSession, job: dict[str, Any]) -> None:
    """Card refunds Stripe could not take at the time (it was down): sent now."""
    if ctx.cards is not None:
        await ctx.cards.settle_pending(ctx.db)


SWEEP_HOLDS = outbox.register("sweep.holds", _sweep_holds)
SWEEP_PACKAGES = outbox.register("sweep.packages", _sweep_packages)
SWEEP_SUMMARIES = outbox.register("sweep.summaries", _sweep_summaries)
SWEEP_REFUNDS = outbox.register("sweep.refunds", _sweep_refunds)
SWEEP_FORMS = outbox.register("sweep.forms", _sweep_forms)
SWEEP_WAITLIST = outbox.register("sweep.waitlist", _sweep_waitlist)
SWEEP_OUTBOX = outbox.register("sweep.outbox", _prune)
SWEEP_FUNNEL = outbox.register("sweep.funnel", _prune_funnel)


def periodic(jobs: JobSettings) -> list[tuple[Job, int]]:
    """(job, period in seconds) of the jobs the relay schedules once per period."""
    return [
        (SWEEP_HOLDS, jobs.hold_sweep_seconds),
        (SWEEP_PACKAGES, jobs.sweep_seconds),
        (SWEEP_SUMMARIES, jobs.sweep_seconds),
        (SWEEP_REFUNDS, jobs.sweep_seconds),
        (SWEEP_FORMS, jobs.sweep_seconds),
        (SWEEP_WAITLIST, jobs.sweep_seconds),
        (SWEEP_OUTBOX, jobs.sweep_seconds),
        (SWEEP_FUNNEL, jobs.sweep_seconds),
    ]


class Runner:
    """Runs jobs by id. The row stays locked while its work runs, so a second delivery waits
    and then finds it done; work and the done mark commit together."""

    def __init__(self, settings: Settings, db: Database, clock: Clock) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.mailer = Mailer(settings.smtp) if settings.smtp else None
        self.cipher = settings.cipher()
        stripe = settings.stripe
        self.cards = Cards(stripe, settings.payment_hold_minutes) if stripe else None

    async def run(self, job_id: uuid.UUID) -> str:
        now = self.clock()
        ctx = JobContext(self.settings, self.db, self.mailer, now, self.cipher, self.cards, job_id)
        async with self.db.transaction() as session:
            job = await outbox.lock_job(session, job_id)
            if job is None:
                return "missing"
            if job.done_at is not None or job.failed_at is not None:
                return "already done"
            if job.due_at is None:
                return "parked"
            kind, payload, attempts = job.kind, dict(job.payload), job.attempts
            registered = JOBS.get(kind)
            handler = registered.handler if registered is not None else None
            # The job's log lines carry the id of the request that wrote it (None: a sweep).
            correlation_id.set(job.request_id)
            try:
                if handler is None:
                    raise LookupError(f"no handler for job kind {kind!r}")
                # A savepoint: a failing job's own writes go, its attempt count stays.
                async with session.begin_nested():
                    await handler(ctx, session, payload)
            except Exception as error:
                log.warning("job %s (%s) failed: %s", job_id, kind, error, exc_info=True)
                await outbox.failed(
                    session, job_id, attempts, error, now, self.settings.jobs.max_attempts
                )
                return "failed"
            await outbox.finish(session, job_id, now)
        return "done"
