"""The booking funnel: page events recorded by visit, and the booking's own outcome.

Who an event counts for is settled when it is recorded, from the ids it carries: its tutor
(given, or the only tutor of its service) and the organization that tutor belongs to then
(else the service's). An organization service's page, before a tutor is picked, counts for
the organization alone. `funnel_counts.funnel` then reads one owner's index range in
one aggregate statement, after the role rule (`domain/organizations.py`) said who may.

Clients send the page's steps (`record_events`); a booking's outcome is recorded by the
booking itself (`booking_succeeded` in its transaction, `booking_failed` after it rolled back),
so callers cannot send BOOKING_SUCCEEDED or BOOKING_FAILED. With PostHog configured, each
recording also writes an outbox job that forwards its events (`distinct_id` the visit id).
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from posthog.request import batch_post
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import outbox
from domain.errors import InvalidInput
from domain.outbox import JobContext
from infra.db import Database, UnitOfWork
from infra.text import unstorable
from models import (
    Booking,
    FunnelEvent,
    FunnelStep,
    OrganizationMember,
    Service,
    ServiceTutor,
    Tutor,
)

MAX_EVENTS = 50
MAX_PROPERTIES_BYTES = 2048
MAX_PROPERTIES_DEPTH = 8
# Clients' clocks run a little fast or slow: an `at` this far ahead of ours is still taken.
CLOCK_SKEW = timedelta(minutes=5)
MAX_AGE = timedelta(hours=24)
POSTHOG_TIMEOUT_SECONDS = 10
SERVER_STEPS = frozenset({FunnelStep.BOOKING_SUCCEEDED, FunnelStep.BOOKING_FAILED})
_VISIT_ID = re.compile(r"[!-~]{1,64}")  # printable ASCII, no spaces


@dataclass(frozen=True)
class EventInput:
    step: FunnelStep
    visit_id: str
    tutor_id: uuid.UUID | None = None
    service_id: uuid.UUID | None = None
    at: datetime | None = None
    properties: str | None = None  # a JSON object's text


@dataclass(frozen=True)
class Visit:
    """The funnel visit a booking completes (createBooking's visitId), and whether its events
    are forwarded to PostHog."""

    id: str
    forward: bool = False


# ---------------------------------------------------------------- what callers may send


def check_visit_id(value: str, field_name: str) -> str:
    if not _VISIT_ID.fullmatch(value):
        raise InvalidInput(
            "A visit id is 1 to 64 printable ASCII characters, without spaces", field_name
        )
    return value


def check_at(at: datetime | None, now: datetime, field_name: str) -> datetime:
    if at is None:
        return now
    if at > now + CLOCK_SKEW:
        raise InvalidInput("An event cannot be in the future", field_name)
    if at < now - MAX_AGE:
        raise InvalidInput("An event can be at most 24 hours old", field_name)
    return at


def _depth(text: str) -> int:
    """How deeply the JSON text nests, read before parsing it (the parser recurses)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("a number too large")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _storable(value: Any) -> bool:
    """JSONB refuses NUL and lone surrogates, which JSON's \\u escapes can still spell."""
    if isinstance(value, str):
        return unstorable(value) is None
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    return True


def parse_properties(text: str | None, field_name: str) -> dict[str, Any] | None:
    """A JSON object of at most 2 KB (of UTF-8), nested at most 8 deep."""
    if text is None:
        return None
    if len(text.encode("utf-8", "surrogatepass")) > MAX_PROPERTIES_BYTES:
        raise InvalidInput(f"At most {MAX_PROPERTIES_BYTES} bytes of JSON", field_name)
    if _depth(text) > MAX_PROPERTIES_DEPTH:
        raise InvalidInput(f"JSON nested at most {MAX_PROPERTIES_DEPTH} deep", field_name)
    try:
        value = json.loads(text, parse_float=_finite, parse_constant=_refuse_constant)
    except ValueError:
        raise InvalidInput("Not JSON", field_name) from None
    if not isinstance(value, dict):
        raise InvalidInput("A JSON object ({...}), not an array or a single value", field_name)
    if not _storable(value):
        raise InvalidInput("JSON text cannot contain \\u0000 or a lone surrogate", field_name)
    return value


# ---------------------------------------------------------------- who an event counts for


@dataclass
class _Known:
    """The tutors and services a batch of events names: each tutor's organization, and each
    service's organization and tutors (with theirs)."""

    tutors: dict[uuid.UUID, uuid.UUID | None] = field(default_factory=dict)
    service_organizations: dict[uuid.UUID, uuid.UUID | None] = field(default_factory=dict)
    service_tutors: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)


async def _known(
    session: AsyncSession, tutor_ids: set[uuid.UUID], service_ids: set[uuid.UUID]
) -> _Known:
    """Two statements, whatever the number of events."""
    known = _Known()
    if tutor_ids:
        tutors = await session.exec(
            select(Tutor.id, OrganizationMember.organization_id)
            .outerjoin(OrganizationMember, col(OrganizationMember.tutor_id) == col(Tutor.id))
            .where(col(Tutor.id).in_(tutor_ids))
        )
        known.tutors = dict(tutors.all())
    if service_ids:
        services = await session.exec(
            select(
                Service.id,
                Service.organization_id,
                ServiceTutor.tutor_id,
                OrganizationMember.organization_id,
            )
            .outerjoin(ServiceTutor, col(ServiceTutor.service_id) == col(Service.id))
            .outerjoin(
                OrganizationMember, col(OrganizationMember.tutor_id) == col(ServiceTutor.tutor_id)
            )
            .where(col(Service.id).in_(service_ids))
            .order_by(col(ServiceTutor.position))
        )
        for service_id, service_organization, tutor_id, tutor_organization in services:
            known.service_organizations[service_id] = service_organization
            offered = known.service_tutors.setdefault(service_id, [])
            if tutor_id is not None:
                offered.append(tutor_id)
                known.tutors[tutor_id] = tutor_organization
    return known


def _owner(
    known: _Known,
    tutor_id: uuid.UUID | None,
    service_id: uuid.UUID | None,
    prefix: str | None,
) -> tuple[uuid.UUID | None, uuid.UUID | None, uuid.UUID | None] | None:
    """(tutor, service, organization) an event counts for. With a `prefix` (a caller's event)
    an id that names nothing, or a tutor off the service, is InvalidInput on that field;
    without one (a failed booking, whose ids may be what failed) such ids are dropped. None:
    the event counts for nobody."""

    def refuse(message: str, name: str) -> None:
        if prefix is not None:
            raise InvalidInput(message, f"{prefix}.{name}")

    if tutor_id is not None and tutor_id not in known.tutors:
        refuse("No such tutor", "tutorId")
        tutor_id = None
    if service_id is not None and service_id not in known.service_organizations:
        refuse("No such service", "serviceId")
        service_id = None
    if tutor_id is None and service_id is None:
        refuse("Give the tutorId or the serviceId the page is for", "tutorId")
        return None
    offered = known.service_tutors.get(service_id, []) if service_id is not None else []
    if tutor_id is not None and service_id is not None and tutor_id not in offered:
        refuse("This tutor does not offer this service", "tutorId")
        tutor_id = None  # the page was the service's
    if tutor_id is None and len(offered) == 1:
        tutor_id = offered[0]
    organization_id = known.tutors.get(tutor_id) if tutor_id is not None else None
    if organization_id is None and service_id is not None:
        organization_id = known.service_organizations[service_id]
    if tutor_id is None and organization_id is None:
        refuse("Give the tutorId: this service has several tutors", "tutorId")
        return None
    return tutor_id, service_id, organization_id


def _row(
    step: FunnelStep,
    visit_id: str,
    owner: tuple[uuid.UUID | None, uuid.UUID | None, uuid.UUID | None],
    at: datetime,
    properties: dict[str, Any] | None = None,
    error_type: str | None = None,
) -> FunnelEvent:
    tutor_id, service_id, organization_id = owner
    return FunnelEvent(
        visit_id=visit_id,
        step=step,
        tutor_id=tutor_id,
        service_id=service_id,
        organization_id=organization_id,
        at=at,
        properties=properties,
        error_type=error_type,
    )


def _add(session: UnitOfWork, rows: list[FunnelEvent], forward: bool, now: datetime) -> None:
    session.add_all(rows)
    if forward and rows:
        outbox.add(session, FORWARD, {"events": [str(row.id) for row in rows]}, now, now=now)


# ---------------------------------------------------------------- recording


async def record_events(
    db: Database, events: Sequence[EventInput], now: datetime, forward: bool
) -> int:
    """A page's events (anonymous callers too), all or none; each checked, named by its place
    (`events[3].at`)."""
    if not 1 <= len(events) <= MAX_EVENTS:
        raise InvalidInput(f"Send 1 to {MAX_EVENTS} events", "events")
    checked = []
    for i, event in enumerate(events):
        prefix = f"events[{i}]"
        if event.step in SERVER_STEPS:
            raise InvalidInput(
                "The booking records its own outcome: give createBooking the visitId",
                f"{prefix}.step",
            )
        visit_id = check_visit_id(event.visit_id, f"{prefix}.visitId")
        at = check_at(event.at, now, f"{prefix}.at")
        properties = parse_properties(event.properties, f"{prefix}.properties")
        checked.append((event, visit_id, at, properties))
    async with db.transaction() as session:
        known = await _known(
            session,
            {e.tutor_id for e in events if e.tutor_id is not None},
            {e.service_id for e in events if e.service_id is not None},
        )
        rows = []
        for i, (event, visit_id, at, properties) in enumerate(checked):
            owner = _owner(known, event.tutor_id, event.service_id, f"events[{i}]")
            assert owner is not None  # a caller's event without an owner was refused
            rows.append(_row(event.step, visit_id, owner, at, properties))
        _add(session, rows, forward, now)
    return len(rows)


async def booking_succeeded(
    session: UnitOfWork, visit: Visit | None, made: Sequence[Booking], now: datetime
) -> None:
    """In the booking's transaction: the visit booked (once for all of a createBookings)."""
    if visit is None or not made:
        return
    first = made[0]
    organization = await session.exec(
        select(func.coalesce(OrganizationMember.organization_id, Service.organization_id))
        .select_from(Service)
        .outerjoin(OrganizationMember, col(OrganizationMember.tutor_id) == first.tutor_id)
        .where(Service.id == first.service_id)
    )
    owner = (first.tutor_id, first.service_id, organization.first())
    properties = {"bookingIds": [str(b.id) for b in made]}
    row = _row(FunnelStep.BOOKING_SUCCEEDED, visit.id, owner, now, properties)
    _add(session, [row], visit.forward, now)


async def booking_failed(
    db: Database,
    visit: Visit,
    tutor_id: uuid.UUID | None,
    service_id: uuid.UUID,
    error_type: str,
    now: datetime,
) -> None:
    """After the booking rolled back: the visit's attempt failed with this result type."""
    async with db.transaction() as session:
        known = await _known(session, {tutor_id} if tutor_id else set(), {service_id})
        owner = _owner(known, tutor_id, service_id, None)
        if owner is not None:
            row = _row(FunnelStep.BOOKING_FAILED, visit.id, owner, now, error_type=error_type)
            _add(session, [row], visit.forward, now)


# ---------------------------------------------------------------- PostHog


def _message(row: FunnelEvent) -> dict[str, Any]:
    """One event as PostHog's capture API takes it; its id makes a resent event a duplicate
    PostHog drops."""
    ours = {
        "tutor_id": row.tutor_id,
        "service_id": row.service_id,
        "organization_id": row.organization_id,
        "error_type": row.error_type,
    }
    properties = {
        **(row.properties or {}),
        **{k: str(v) for k, v in ours.items() if v is not None},
        # Visitors are anonymous: no person profile for each visit.
        "$process_person_profile": False,
    }
    return {
        "event": f"funnel_{row.step.value.lower()}",
        "distinct_id": row.visit_id,
        "timestamp": row.at.isoformat(),
        "uuid": str(row.id),
        "properties": properties,
    }


async def _forward(ctx: JobContext, session: UnitOfWork, payload: dict[str, Any]) -> None:
    """Send the recorded events to PostHog in one batch; a failure raises, so the job retries."""
    posthog = ctx.settings.funnel.posthog
    if posthog is None:  # switched off since they were recorded
        return
    ids = [uuid.UUID(value) for value in payload["events"]]
    rows = await session.exec(
        select(FunnelEvent).where(col(FunnelEvent.id).in_(ids)).order_by(col(FunnelEvent.at))
    )
    batch = [_message(row) for row in rows]
    if batch:  # pruned meanwhile: nothing left to send
        await asyncio.to_thread(
            batch_post,
            posthog.api_key,
            posthog.host,
            timeout=POSTHOG_TIMEOUT_SECONDS,
            batch=batch,
        )


FORWARD = outbox.register("funnel.posthog", _forward)
