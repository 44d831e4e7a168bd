"""Waitlist offers: when time frees up, the earliest WAITING entries are told of it in join order.

Nothing here works out what a change freed. A change that may free a tutor's time (a
cancellation, a reschedule's old time, an expired hold, extra hours) writes one `waitlist.offer`
job for (tutor, span) with `time_freed`, when a WAITING entry could want it (one indexed EXISTS).
The job locks the tutor row, as the booking transaction does, so it never runs beside a booking
or another offer job of that tutor, and asks the slot engine (`free_time`) for the free slots near
the span; each goes to the earliest WAITING entry it fits that was never told of it. A piece of
time is offered to one entry at a time; an offer does not hold it: whoever books first gets it.

A booking (`booking_written`, in its own transaction) marks the student's matching entries
BOOKED, and sends offers whose slot it overlaps back to WAITING, with a new job for that slot:
if seats are left there (the engine decides), the next waiter is told. An offer left unused for
WAITLIST_OFFER_HOURS falls back the same way (the sweep, `domain/waitlist.py`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Interval,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    update,
)
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import outbox, webhooks
from domain import slots as engine
from domain.bookings.free_time import free_slots_of_tutors, load_calendar, offer_of
from domain.bookings.writes import lock
from domain.notifications import compose
from domain.outbox import JobContext
from domain.services import services_info
from infra.db import UnitOfWork, present
from infra.ids import encode_id
from models import Booking, Service, ServiceTutor, Student, Tutor, WebhookEventType
from models.waitlist import WaitlistEntry, WaitlistOffer, WaitlistStatus

# The work of one job is bounded: the entries it considers, the slots each search returns.
MAX_ENTRIES = 200
MAX_SLOTS = 500

ACTIVE = (WaitlistStatus.WAITING, WaitlistStatus.OFFERED)

Span = tuple[datetime, datetime]


def _could_take(tutor_id: uuid.UUID) -> Any:
    """WAITING entries for this tutor, or for any tutor of a service this tutor offers."""
    offered = select(ServiceTutor.service_id).where(ServiceTutor.tutor_id == tutor_id)
    return and_(
        col(WaitlistEntry.status) == WaitlistStatus.WAITING,
        or_(
            col(WaitlistEntry.tutor_id) == tutor_id,
            col(WaitlistEntry.tutor_id).is_(None)
            & col(WaitlistEntry.service_id).in_(offered.scalar_subquery()),
        ),
    )


def _minutes(column: Any) -> Any:
    return func.make_interval(0, 0, 0, 0, 0, column, type_=Interval)


def _near(span: Span, now: datetime) -> Any:
    """Entries whose window could hold a slot the span blocked (a slot's own buffers reach
    into it) and has not ended."""
    start, end = (literal(at, DateTime(timezone=True)) for at in span)
    return and_(
        col(WaitlistEntry.service_id) == Service.id,
        col(WaitlistEntry.from_at) < end + _minutes(col(Service.buffer_before_minutes)),
        col(WaitlistEntry.to_at) > start - _minutes(col(Service.buffer_after_minutes)),
        col(WaitlistEntry.to_at) > now,
    )


def _job(session: UnitOfWork, tutor_id: uuid.UUID, span: Span, now: datetime) -> None:
    payload = {"tutor": str(tutor_id), "from": span[0].isoformat(), "to": span[1].isoformat()}
    outbox.add(session, OFFER, payload, now, now=now)


async def time_freed(
    session: UnitOfWork, tutor_id: uuid.UUID, start: datetime, end: datetime, now: datetime
) -> None:
    """A change may have freed [start, end) of the tutor's time: an offer job, when a WAITING
    entry could want it (one statement otherwise)."""
    query = select(literal(1)).where(_could_take(tutor_id), _near((start, end), now)).limit(1)
    if (await session.exec(query)).first() is not None:
        _job(session, tutor_id, (start, end), now)


def may_change(
    student_id: uuid.UUID, service_id: uuid.UUID, tutor_id: uuid.UUID
) -> ColumnElement[bool]:
    """Could `booking_written` change anything: an active entry of the student for the service,
    or an offer of this tutor's time. Asked in the booking's re-check statement, under the
    tutor's and the student's locks, which entries are made (the student's) and offered (the
    tutor's) under; a booking for which it is false skips `booking_written`."""
    return exists().where(
        col(WaitlistEntry.status).in_(ACTIVE),
        or_(
            and_(
                col(WaitlistEntry.student_id) == student_id,
                col(WaitlistEntry.service_id) == service_id,
            ),
            and_(
                col(WaitlistEntry.status) == WaitlistStatus.OFFERED,
                col(WaitlistEntry.offered_tutor_id) == tutor_id,
            ),
        ),
    )


async def booking_written(session: UnitOfWork, made: Sequence[Booking], now: datetime) -> None:
    """In the booking's transaction, one statement: the student's active entries of the service
    whose window holds a booked start become BOOKED; other offers whose slot a booking overlaps
    fall back to WAITING (and a job looks for whom else the slot may go to)."""
    first = made[0]
    mine = and_(
        col(WaitlistEntry.student_id) == first.student_id,
        col(WaitlistEntry.service_id) == first.service_id,
        or_(
            *(
                and_(
                    col(WaitlistEntry.from_at) <= b.start_at, col(WaitlistEntry.to_at) > b.start_at
                )
                for b in made
            )
        ),
    )
    taken = and_(
        col(WaitlistEntry.status) == WaitlistStatus.OFFERED,
        col(WaitlistEntry.offered_tutor_id) == first.tutor_id,
        or_(
            *(
                and_(
                    col(WaitlistEntry.offered_start) < b.block_end,
                    col(WaitlistEntry.offered_end) > b.block_start,
                )
                for b in made
            )
        ),
    )
    rows = await session.exec(
        update(WaitlistEntry)
        .where(col(WaitlistEntry.status).in_(ACTIVE), or_(mine, taken))
        .execution_options(synchronize_session=False)
        .values(
            status=case(
                (mine, literal(WaitlistStatus.BOOKED.value)),
                else_=literal(WaitlistStatus.WAITING.value),
            )
        )
        .returning(
            col(WaitlistEntry.status),
            col(WaitlistEntry.offered_start),
            col(WaitlistEntry.offered_end),
        )
    )
    for status, start, end in rows:
        if status == WaitlistStatus.WAITING and start is not None and end is not None:
            _job(session, first.tutor_id, (start, end), now)


def offer_lapsed(session: UnitOfWork, tutor_id: uuid.UUID, span: Span, now: datetime) -> None:
    """An offer nobody took (it lapsed, or its entry left): its slot, for the next waiter."""
    _job(session, tutor_id, span, now)


# ---------------------------------------------------------------- the job


async def offer_freed(
    session: UnitOfWork, tutor_id: uuid.UUID, span: Span, now: datetime, hours: int
) -> list[WaitlistEntry]:
    """The entries told of a slot near `span` now, under the tutor's lock."""
    tutor: Tutor | None = await lock(session, Tutor, tutor_id)
    if tutor is None:
        return []
    entries = list(
        await session.exec(
            select(WaitlistEntry)
            .where(_could_take(tutor_id), _near(span, now))
            .order_by(col(WaitlistEntry.seq))
            .limit(MAX_ENTRIES)
            .with_for_update(of=WaitlistEntry)  # an entry leaving meanwhile is not offered
        )
    )
    if not entries:
        return []
    infos = await services_info(session, list({e.service_id for e in entries}))
    offered = await session.exec(
        select(WaitlistEntry.offered_start, WaitlistEntry.offered_end).where(
            col(WaitlistEntry.status) == WaitlistStatus.OFFERED,
            col(WaitlistEntry.offered_tutor_id) == tutor_id,
            col(WaitlistEntry.offered_start) < max(e.to_at for e in entries),
            col(WaitlistEntry.offered_end) > min(e.from_at for e in entries),
        )
    )
    taken: list[Span] = [(s, e) for s, e in offered if s is not None and e is not None]
    told = set(
        await session.exec(
            select(WaitlistOffer.entry_id, WaitlistOffer.start_at).where(
                col(WaitlistOffer.entry_id).in_([e.id for e in entries]),
                WaitlistOffer.tutor_id == tutor_id,
            )
        )
    )
    free: dict[tuple[uuid.UUID, int], list[engine.Slot]] = {}
    made: list[WaitlistEntry] = []
    for entry in entries:
        info = infos.get(entry.service_id)
        if info is None or tutor_id not in info.tutor_ids:
            continue
        key = (entry.service_id, entry.duration_minutes)
        if key not in free:
            row = info.row
            reach = timedelta(
                minutes=entry.duration_minutes
                + row.buffer_before_minutes
                + row.buffer_after_minutes
            )
            calendar = await load_calendar(session, info, [tutor_id])
            found = await free_slots_of_tutors(
                session,
                calendar,
                offer_of(info, entry.duration_minutes),
                [tutor_id],
                span[0] - reach,
                span[1] + reach,
                now,
                MAX_SLOTS,
            )
            free[key] = [slot for _, slot in found]
        for slot in free[key]:
            if (
                entry.from_at <= slot.start
                and slot.end <= entry.to_at
                and (entry.id, slot.start) not in told
                and not any(s < slot.end and e > slot.start for s, e in taken)
            ):
                await _offer(session, entry, tutor, slot, now, hours)
                taken.append((slot.start, slot.end))
                made.append(entry)
                break
    return made


async def _offer(
    session: UnitOfWork,
    entry: WaitlistEntry,
    tutor: Tutor,
    slot: engine.Slot,
    now: datetime,
    hours: int,
) -> None:
    entry.status = WaitlistStatus.OFFERED
    entry.offered_tutor_id = tutor.id
    entry.offered_start, entry.offered_end = slot.start, slot.end
    entry.offer_expires_at = now + timedelta(hours=hours)
    session.add(entry)
    session.add(
        WaitlistOffer(entry_id=entry.id, tutor_id=tutor.id, start_at=slot.start, offered_at=now)
    )
    outbox.add(
        session,
        OFFER_EMAIL,
        {"entry": str(entry.id), "start": slot.start.isoformat()},
        now,
        now=now,
    )
    data = await offer_data(session, entry, tutor)
    await webhooks.emit(
        session, [tutor.id], WebhookEventType.WAITLIST_OFFERED, data, now, subject_id=entry.id
    )


async def offer_data(session: AsyncSession, entry: WaitlistEntry, tutor: Tutor) -> dict[str, Any]:
    """What webhook receivers get of an offer (ids as the API gives them, times in UTC)."""
    service = present(await session.get(Service, entry.service_id), "entry's service")
    student = present(await session.get(Student, entry.student_id), "entry's student")
    start, end = present(entry.offered_start, "offer"), present(entry.offered_end, "offer")
    return {
        "waitlistEntry": {
            "id": encode_id("WaitlistEntry", entry.id),
            "status": entry.status.value,
            "from": webhooks.utc(entry.from_at),
            "to": webhooks.utc(entry.to_at),
            "durationMinutes": entry.duration_minutes,
            "service": {"id": encode_id("Service", service.id), "title": service.title},
            "student": {
                "id": encode_id("Student", student.id),
                "name": student.display_name,
                "email": student.email,
            },
            "offeredSlot": {
                "start": webhooks.utc(start),
                "end": webhooks.utc(end),
                "tutor": {"id": encode_id("Tutor", tutor.id), "name": tutor.display_name},
            },
        }
    }


async def _run_offer(ctx: JobContext, session: UnitOfWork, job: dict[str, Any]) -> None:
    span = (datetime.fromisoformat(job["from"]), datetime.fromisoformat(job["to"]))
    hours = ctx.settings.jobs.waitlist_offer_hours
    await offer_freed(session, uuid.UUID(job["tutor"]), span, ctx.now, hours)


OFFER = outbox.register("waitlist.offer", _run_offer)


async def send_offer_email(ctx: JobContext, session: AsyncSession, job: dict[str, Any]) -> None:
    """Sent while the entry is still OFFERED that slot: a stale offer says nothing."""
    entry = await session.get(WaitlistEntry, uuid.UUID(job["entry"]))
    if (
        ctx.mailer is None
        or entry is None
        or entry.status != WaitlistStatus.OFFERED
        or entry.offered_start != datetime.fromisoformat(job["start"])
    ):
        return
    tutor = present(await session.get(Tutor, entry.offered_tutor_id), "offer's tutor")
    service = present(await session.get(Service, entry.service_id), "entry's service")
    student = present(await session.get(Student, entry.student_id), "entry's student")
    zone = student.time_zone or tutor.time_zone
    tz = ZoneInfo(zone)
    start = present(entry.offered_start, "offer").astimezone(tz)
    end = present(entry.offered_end, "offer").astimezone(tz)
    title = f"{service.title} with {tutor.display_name}"
    paragraphs: list[str | tuple[str, str]] = [
        "Time came free inside the window you are waiting for.",
        f"{title}\n{start:%A %-d %B %Y}, {start:%H:%M}–{end:%H:%M} ({zone}, {start:%Z})",
        "It is not held for you: the first to book it gets it.",
    ]
    message = compose(ctx, student.email, f"Time came free: {title}", paragraphs)
    await ctx.mailer.send(message)


OFFER_EMAIL = outbox.register("email.waitlist_offer", send_offer_email)
