"""Outgoing webhooks: endpoints (made, deleted, pinged, listed by their owner), and the events
that reach them, written in the transaction that causes them.

An endpoint belongs to the tutor who made it. Without an organization it hears that tutor's
events; with one (its owners and admins make such endpoints) every member's. `emit` is how any
area sends an event: it finds the endpoints subscribed to it (one indexed query, once per
tutor per transaction) and writes one delivery each (domain.webhook_delivery sends them).

Payload: {"type": "booking.created", "timestamp": ISO UTC, "data": {...}}; `type` is the
event's name, lowercase, its noun and the rest split by a dot (`schedule_request.created`).
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import organizations, webhook_delivery, webhook_targets
from domain.errors import Forbidden, InvalidInput, NotFound
from domain.people import tutor_of_user
from infra.auth import Identity
from infra.crypto import Cipher
from infra.db import Database, UnitOfWork, present
from infra.ids import encode_id
from models import (
    Booking,
    FormQuestion,
    OrganizationMember,
    ScheduleRequest,
    Service,
    Student,
    Tutor,
    WebhookDelivery,
    WebhookEndpoint,
)
from models.bookings import BookingAction, BookingStatus
from models.organizations import MANAGERS
from models.webhooks import WebhookEventType

MAX_ENDPOINTS = 10  # per owner, and per organization: what one event fans out to stays small
MAX_DELIVERIES_SHOWN = 100
SECRET_BYTES = 32
NOUNS = ("SCHEDULE_REQUEST", "BOOKING", "FORM", "PACKAGE", "WAITLIST", "REVIEW")

BOOKING_EVENTS = {
    BookingAction.CREATED: WebhookEventType.BOOKING_CREATED,
    BookingAction.CONFIRMED: WebhookEventType.BOOKING_CONFIRMED,
    BookingAction.RESCHEDULED: WebhookEventType.BOOKING_RESCHEDULED,
    BookingAction.CANCELLED: WebhookEventType.BOOKING_CANCELLED,
    BookingAction.COMPLETED: WebhookEventType.BOOKING_COMPLETED,
    BookingAction.NO_SHOW: WebhookEventType.BOOKING_NO_SHOW,
    BookingAction.EXPIRED: WebhookEventType.BOOKING_EXPIRED,
}


def type_name(event: WebhookEventType) -> str:
    """BOOKING_NO_SHOW is booking.no_show, SCHEDULE_REQUEST_CREATED schedule_request.created."""
    for noun in NOUNS:
        if event.startswith(f"{noun}_"):
            return f"{noun.lower()}.{event.removeprefix(f'{noun}_').lower()}"
    return event.lower()


def utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def new_secret() -> str:
    """Standard Webhooks' form: whsec_ and the base64 of the key's bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


# ---------------------------------------------------------------- endpoints


def _checked_events(events: Sequence[WebhookEventType]) -> list[WebhookEventType]:
    if not events:
        raise InvalidInput("Subscribe to at least one event", "input.events")
    if len(events) > len(WebhookEventType):
        raise InvalidInput(f"At most {len(WebhookEventType)} events", "input.events")
    seen: set[WebhookEventType] = set()
    for n, event in enumerate(events):
        if event == WebhookEventType.PING:
            raise InvalidInput("PING is sent by pingWebhookEndpoint only", f"input.events[{n}]")
        if event in seen:
            raise InvalidInput(f"{event} is listed twice", f"input.events[{n}]")
        seen.add(event)
    return list(events)


async def _room_for_one_more(session: AsyncSession, column: Any, value: uuid.UUID) -> None:
    """At most MAX_ENDPOINTS per owner (or organization), counted under a lock of that key so
    two creations at once cannot both take the last place."""
    await session.exec(select(func.pg_advisory_xact_lock(func.hashtext(f"webhooks:{value}"))))
    count = (await session.exec(select(func.count()).where(column == value))).one()
    if count >= MAX_ENDPOINTS:
        raise InvalidInput(f"At most {MAX_ENDPOINTS} webhook endpoints: delete one first")


async def create_endpoint(
    db: Database,
    cipher: Cipher,
    identity: Identity,
    url: str,
    events: Sequence[WebhookEventType],
    organization_id: uuid.UUID | None,
    now: datetime,
    allow_private: bool,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (shown once, kept encrypted). For an
    organization: its owners and admins only (a member: Forbidden; outsiders: NotFound)."""
    webhook_targets.check_url(url, allow_private)
    subscribed = _checked_events(events)
    async with db.transaction() as session:
        me = await tutor_of_user(session, identity.sub)
        if me is None:
            raise NotFound("You have no tutor profile: create one first")
        if organization_id is not None:
            _, role = await organizations.caller_role(session, identity, organization_id)
            if role not in MANAGERS:
                raise Forbidden("Only the organization's owners and admins add its webhooks")
            await _room_for_one_more(session, WebhookEndpoint.organization_id, organization_id)
        await _room_for_one_more(session, WebhookEndpoint.tutor_id, me.id)
        secret = new_secret()
        endpoint = WebhookEndpoint(
            tutor_id=me.id,
            organization_id=organization_id,
            url=url,
            events=list(subscribed),
            secret=cipher.encrypt(secret),
            created_at=now,
        )
        session.add(endpoint)
    return endpoint, secret


async def _own_endpoint(
    session: AsyncSession, identity: Identity, endpoint_id: uuid.UUID | None
) -> WebhookEndpoint:
    """The caller's endpoint, locked; NotFound for anyone else's."""
    me = await tutor_of_user(session, identity.sub)
    endpoint = (
        await session.get(WebhookEndpoint, endpoint_id, with_for_update=True)
        if me is not None and endpoint_id is not None
        else None
    )
    if endpoint is None or me is None or endpoint.tutor_id != me.id:
        raise NotFound("No such webhook endpoint")
    return endpoint


async def delete_endpoint(
    db: Database, identity: Identity, endpoint_id: uuid.UUID | None
) -> uuid.UUID:
    """The endpoint and its deliveries go; jobs of deliveries on their way then do nothing."""
    async with db.transaction() as session:
        endpoint = await _own_endpoint(session, identity, endpoint_id)
        await session.delete(endpoint)
    return endpoint.id


async def ping(
    db: Database, identity: Identity, endpoint_id: uuid.UUID | None, now: datetime
) -> WebhookDelivery:
    """A PING delivery, sent now through the outbox; to a deactivated endpoint too (a
    delivered ping turns it back on)."""
    async with db.transaction() as session:
        endpoint = await _own_endpoint(session, identity, endpoint_id)
        data = {"endpoint": {"id": encode_id("WebhookEndpoint", endpoint.id)}}
        body = _body(WebhookEventType.PING, data, now)
        [delivery_id] = await webhook_delivery.queue(
            session, [endpoint.id], WebhookEventType.PING, None, body, now
        )
        return present(await session.get(WebhookDelivery, delivery_id), "the ping's delivery")


async def rotate_secrets(session: AsyncSession, cipher: Cipher) -> int:
    """Every endpoint's secret re-encrypted under the first key (after a key is added in
    front)."""
    endpoints = list(await session.exec(select(WebhookEndpoint).with_for_update()))
    for endpoint in endpoints:
        endpoint.secret = cipher.rotate(endpoint.secret)
        session.add(endpoint)
    return len(endpoints)


# ---------------------------------------------------------------- events


def _body(event: WebhookEventType, data: dict[str, Any], at: datetime) -> str:
    return json.dumps({"type": type_name(event), "timestamp": utc(at), "data": data})


async def _subscribed(
    session: UnitOfWork, tutor_id: uuid.UUID
) -> list[tuple[uuid.UUID, list[str]]]:
    """(id, events) of the active endpoints hearing this tutor's events: the tutor's own and
    their organization's. Read once per tutor and transaction (a createBookings of many
    bookings asks once); endpoints made meanwhile by others hear from the next transaction."""
    cache: dict[uuid.UUID, list[tuple[uuid.UUID, list[str]]]]
    cache = session.info.setdefault("webhook_endpoints", {})
    if tutor_id not in cache:
        organization = select(OrganizationMember.organization_id).where(
            OrganizationMember.tutor_id == tutor_id
        )
        # Without flushing first: nothing pending can change the answer, and the rows this
        # change writes still go out together at commit.
        with session.no_autoflush:
            rows = await session.exec(
                select(WebhookEndpoint.id, WebhookEndpoint.events)
                .where(
                    col(WebhookEndpoint.active),
                    or_(
                        (col(WebhookEndpoint.tutor_id) == tutor_id)
                        & col(WebhookEndpoint.organization_id).is_(None),
                        col(WebhookEndpoint.organization_id).in_(organization.scalar_subquery()),
                    ),
                )
                .order_by(col(WebhookEndpoint.created_at))
            )
        cache[tutor_id] = [(endpoint_id, list(events)) for endpoint_id, events in rows]
    return cache[tutor_id]


async def emit(
    session: UnitOfWork,
    tutor_ids: Sequence[uuid.UUID],
    event: WebhookEventType,
    data: dict[str, Any],
    at: datetime,
    subject_id: uuid.UUID | None = None,
) -> None:
    """An event of these tutors' (one delivery per endpoint, however many of them it hears),
    for every endpoint subscribed to it, committed with the caller's change. `data` is the
    payload's `data` (JSON); `subject_id` (a booking) keeps one subject's deliveries in the
    order they were emitted."""
    endpoints: dict[uuid.UUID, None] = {}
    for tutor_id in tutor_ids:
        for endpoint, events in await _subscribed(session, tutor_id):
            if event in events:
                endpoints[endpoint] = None
    if endpoints:
        body = _body(event, data, at)
        await webhook_delivery.queue(session, list(endpoints), event, subject_id, body, at)


async def form_submitted(
    session: UnitOfWork, booking: Booking, answers: dict[uuid.UUID, list[str]], at: datetime
) -> None:
    """FORM_SUBMITTED: the booking and its answers, in the form's order of questions."""
    if not any(
        WebhookEventType.FORM_SUBMITTED in events
        for _, events in await _subscribed(session, booking.tutor_id)
    ):
        return
    data = await booking_data(session, booking)
    asked = await session.exec(select(FormQuestion).where(col(FormQuestion.id).in_(list(answers))))
    data["answers"] = [
        {
            "questionId": encode_id("FormQuestion", question.id),
            "prompt": question.prompt,
            "values": answers[question.id],
        }
        for question in sorted(asked, key=lambda q: q.position)
    ]
    await emit(session, [booking.tutor_id], WebhookEventType.FORM_SUBMITTED, data, at, booking.id)


async def schedule_request_created(
    session: UnitOfWork, request: ScheduleRequest, tutor_ids: Sequence[uuid.UUID], at: datetime
) -> None:
    """SCHEDULE_REQUEST_CREATED, to the tutor asked for, or else to every tutor of the
    service (and their organizations' endpoints, once each)."""
    student = present(await session.get(Student, request.student_id), "request's student")
    service = present(await session.get(Service, request.service_id), "request's service")
    data = {
        "scheduleRequest": {
            "id": encode_id("ScheduleRequest", request.id),
            "status": request.status.value,
            "note": request.note,
            "service": {"id": encode_id("Service", service.id), "title": service.title},
            "tutor": None
            if request.tutor_id is None
            else {"id": encode_id("Tutor", request.tutor_id)},
            "student": {
                "id": encode_id("Student", student.id),
                "name": student.display_name,
                "email": student.email,
            },
        }
    }
    await emit(session, tutor_ids, WebhookEventType.SCHEDULE_REQUEST_CREATED, data, at)


async def booking_data(session: AsyncSession, booking: Booking) -> dict[str, Any]:
    """What receivers get of a booking (ids as the API gives them, times in UTC)."""
    tutor = present(await session.get(Tutor, booking.tutor_id), "booking's tutor")
    service = present(await session.get(Service, booking.service_id), "booking's service")
    student = present(await session.get(Student, booking.student_id), "booking's student")
    return {
        "booking": {
            "id": encode_id("Booking", booking.id),
            "status": booking.status.value,
            "start": utc(booking.start_at),
            "end": utc(booking.end_at),
            "durationMinutes": booking.duration_minutes,
            "cancellationReason": booking.cancellation_reason,
            "tutor": {"id": encode_id("Tutor", tutor.id), "name": tutor.display_name},
            "service": {"id": encode_id("Service", service.id), "title": service.title},
            "student": {
                "id": encode_id("Student", student.id),
                "name": student.display_name,
                "email": student.email,
            },
        }
    }


async def booking_changed(
    session: UnitOfWork, booking: Booking, action: BookingAction, at: datetime
) -> None:
    """BOOKING_CREATED and the rest; a booking created CONFIRMED (nothing to pay) is also
    BOOKING_CONFIRMED, after it, so that event hears of every confirmed booking."""
    happened = [BOOKING_EVENTS[action]]
    if action == BookingAction.CREATED and booking.status == BookingStatus.CONFIRMED:
        happened.append(WebhookEventType.BOOKING_CONFIRMED)
    subscribed = {e for _, events in await _subscribed(session, booking.tutor_id) for e in events}
    if not subscribed.intersection(happened):
        return
    data = await booking_data(session, booking)
    for event in happened:
        await emit(session, [booking.tutor_id], event, data, at, booking.id)


# ---------------------------------------------------------------- reads


async def endpoints_of_tutors(
    db: Database, tutor_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[WebhookEndpoint]]:
    found: dict[uuid.UUID, list[WebhookEndpoint]] = {}
    async with db.session() as session:
        rows = await session.exec(
            select(WebhookEndpoint)
            .where(col(WebhookEndpoint.tutor_id).in_(tutor_ids))
            .order_by(col(WebhookEndpoint.created_at), col(WebhookEndpoint.id))
        )
        for row in rows:
            found.setdefault(row.tutor_id, []).append(row)
    return found


async def endpoints_by_id(
    db: Database, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, WebhookEndpoint]:
    async with db.session() as session:
        rows = await session.exec(select(WebhookEndpoint).where(col(WebhookEndpoint.id).in_(ids)))
        return {row.id: row for row in rows}


async def recent_deliveries(
    db: Database, endpoint_ids: Sequence[uuid.UUID], limit: int
) -> dict[uuid.UUID, list[WebhookDelivery]]:
    """Each endpoint's newest `limit` deliveries, newest first, in one query."""
    newest = (
        func.row_number()
        .over(
            partition_by=col(WebhookDelivery.endpoint_id), order_by=col(WebhookDelivery.seq).desc()
        )
        .label("n")
    )
    ranked = (
        select(WebhookDelivery.id, newest)
        .where(col(WebhookDelivery.endpoint_id).in_(endpoint_ids))
        .subquery()
    )
    query = (
        select(WebhookDelivery)
        .join(ranked, ranked.c.id == WebhookDelivery.id)
        .where(ranked.c.n <= limit)
        .order_by(col(WebhookDelivery.seq).desc())
    )
    found: dict[uuid.UUID, list[WebhookDelivery]] = {}
    async with db.session() as session:
        for row in await session.exec(query):
            found.setdefault(row.endpoint_id, []).append(row)
    return found
