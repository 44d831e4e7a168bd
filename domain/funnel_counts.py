"""The booking funnel's counts for one owner over a range, and how long events are kept.

`funnel` reads one owner's index range (`models/funnel.py`: (tutor_id, at) or
(organization_id, at), carrying what it aggregates) in ONE aggregate statement, after the role
rule (`domain/organizations.py`) said who may: three statements in all, whatever the range or
the number of events. What an event counts for was settled when it was recorded
(`domain/funnel.py`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, distinct, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from domain import organizations
from domain.errors import Forbidden, InvalidInput
from infra.auth import Identity
from infra.db import Database
from models import FunnelEvent, FunnelStep
from models.organizations import MANAGERS

MAX_RANGE = timedelta(days=366)
# Failures are recorded by the booking with its result type: a handful of kinds.
MAX_FAILURE_TYPES = 20
# Pruning deletes this many rows a transaction, so no lock is held long; a run stops after
# PRUNE_BATCHES (a million rows) and the next period goes on.
PRUNE_BATCH = 5000
PRUNE_BATCHES = 200


@dataclass(frozen=True)
class FunnelQuery:
    start: datetime
    end: datetime
    tutor_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None
    service_id: uuid.UUID | None = None


@dataclass(frozen=True)
class StepCount:
    step: FunnelStep
    visits: int
    events: int


@dataclass(frozen=True)
class Report:
    steps: list[StepCount]
    conversion_rate: float | None
    failures: list[tuple[str, int]]  # (result type, events), most first


def _check_query(ask: FunnelQuery) -> None:
    if (ask.tutor_id is None) == (ask.organization_id is None):
        raise InvalidInput("Give one of tutorId or organizationId", "input.tutorId")
    if ask.start >= ask.end:
        raise InvalidInput("from must be before to", "input.from")
    if ask.end - ask.start > MAX_RANGE:
        raise InvalidInput(f"A funnel covers at most {MAX_RANGE.days} days", "input.to")


async def _authorize(session: AsyncSession, identity: Identity, ask: FunnelQuery) -> None:
    """A tutor's funnel: the tutor, or an owner or admin of their organization (`manages`);
    an organization's: its owners and admins."""
    if ask.tutor_id is not None:
        if not await organizations.manages(session, identity, ask.tutor_id):
            raise Forbidden("Only the tutor and their organization's owners and admins see this")
        return
    assert ask.organization_id is not None
    roles = await organizations.roles_of_user(session, identity, [ask.organization_id])
    if roles.get(ask.organization_id) not in MANAGERS:
        raise Forbidden("Only the organization's owners and admins see its funnel")


def aggregate(ask: FunnelQuery) -> Select[FunnelStep, str | None, int, int]:
    """The one statement: per step (events, distinct visits) and per failure type (events),
    as two grouping sets over the owner's index range."""
    event = FunnelEvent
    owner = (
        col(event.tutor_id) == ask.tutor_id
        if ask.tutor_id is not None
        else col(event.organization_id) == ask.organization_id
    )
    conditions = [owner, col(event.at) >= ask.start, col(event.at) < ask.end]
    if ask.service_id is not None:
        conditions.append(col(event.service_id) == ask.service_id)
    return (
        select(
            col(event.step),
            col(event.error_type),
            func.count(),
            # Distinct visits by a 64-bit hash of their id: sorting integers, not text, halves
            # the time (bench/funnel.py); two ids share a hash about once in 10^19 pairs.
            func.count(distinct(func.hashtextextended(col(event.visit_id), 0))),
        )
        .where(*conditions)
        .group_by(func.grouping_sets(col(event.step), col(event.error_type)))
    )


async def funnel(db: Database, identity: Identity, ask: FunnelQuery) -> Report:
    """Every step (zeros too), the conversion rate and failures by type: the role check, then
    one aggregate statement."""
    _check_query(ask)
    async with db.session() as session:
        await _authorize(session, identity, ask)
        rows = list(await session.exec(aggregate(ask)))
    counts = {step: StepCount(step, 0, 0) for step in FunnelStep}
    failures: list[tuple[str, int]] = []
    for step, error_type, events, visits in rows:
        # A step is never null: a row without one is of the per-failure-type grouping set.
        if step is not None:
            counts[step] = StepCount(step, visits, events)
        elif error_type is not None:
            failures.append((error_type, events))
    failures.sort(key=lambda failure: (-failure[1], failure[0]))
    viewed = counts[FunnelStep.PAGE_VIEW].visits
    booked = counts[FunnelStep.BOOKING_SUCCEEDED].visits
    return Report(list(counts.values()), booked / viewed if viewed else None, failures)


# ---------------------------------------------------------------- retention


async def prune(db: Database, now: datetime, retention_days: int) -> int:
    """Events older than the retention, a batch per transaction: each holds its locks briefly."""
    cutoff = now - timedelta(days=retention_days)
    total = 0
    for _ in range(PRUNE_BATCHES):
        oldest = select(FunnelEvent.id).where(col(FunnelEvent.at) < cutoff).limit(PRUNE_BATCH)
        async with db.transaction() as session:
            result = await session.exec(
                delete(FunnelEvent).where(col(FunnelEvent.id).in_(oldest.scalar_subquery()))
            )
        total += result.rowcount
        if result.rowcount < PRUNE_BATCH:
            break
    return total
