"""The booking transaction: the only code that writes bookings.

Every change that takes time locks the tutor row, then the student row (always in that order,
so two changes never wait on each other in a cycle), re-checks the time with the same slot engine
that lists slots, checks the student is not booked elsewhere then, writes the booking and its
history, and commits. Row locks in PostgreSQL make "never over capacity, never a student in two
places" hold across any number of server processes.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import calendar_sync, events, meetings, notifications, packages
from domain import slots as engine
from domain.errors import (
    Forbidden,
    InvalidInput,
    NotEligible,
    NotEligibleReason,
    NotFound,
    Policy,
    PolicyViolation,
    SlotUnavailable,
    StudentBusy,
)
from domain.people import clean_email, clean_name, student_of_user
from domain.services import ServiceInfo, services_info
from domain.slot_search import choose_duration, load_busy, offer_of, tutor_hours
from domain.stripe import CardError, Cards, LineItem, checkout_expiry
from infra.auth import Identity
from infra.crypto import Cipher
from infra.db import Database, UnitOfWork, present
from models import (
    Booking,
    BookingHistory,
    IdempotencyKey,
    Package,
    Payment,
    PaymentRefund,
    Service,
    ServiceDuration,
    Student,
    Tutor,
)
from models.bookings import BookingAction, BookingStatus

MAX_SLOTS = 20
MAX_TEXT = 2000
ALTERNATIVES = 5
ACTIVE = ("PENDING_PAYMENT", "CONFIRMED")


# ---------------------------------------------------------------- requests and results


@dataclass(frozen=True)
class Guest:
    name: str
    email: str
    phone: str | None = None


@dataclass(frozen=True)
class SlotChoice:
    start: datetime
    duration_minutes: int | None = None


@dataclass(frozen=True)
class BookingRequest:
    service_id: uuid.UUID
    tutor_id: uuid.UUID
    slots: Sequence[SlotChoice]
    time_zone: str
    notes: str | None = None
    guest: Guest | None = None
    student_id: uuid.UUID | None = None
    package_id: uuid.UUID | None = None
    idempotency_key: str | None = None
    reminders_enabled: bool = True
    # createBooking names its fields input.start; createBookings input.slots.N.start.
    single: bool = True

    def field(self, index: int, name: str) -> str:
        return f"input.{name}" if self.single else f"input.slots.{index}.{name}"

    def fingerprint(self) -> str:
        body = {
            "service": str(self.service_id),
            "tutor": str(self.tutor_id),
            "slots": [[s.start.isoformat(), s.duration_minutes] for s in self.slots],
            "zone": self.time_zone,
            "notes": self.notes,
            "guest": [self.guest.name, self.guest.email, self.guest.phone] if self.guest else None,
            "student": str(self.student_id) if self.student_id else None,
            "package": str(self.package_id) if self.package_id else None,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass
class Booked:
    bookings: list[Booking]
    manage_token: str | None = None


@dataclass(frozen=True)
class Cancelled:
    booking: Booking
    refund_kind: str
    refund_amount: int


@dataclass(frozen=True)
class Caller:
    """Who asks: a signed-in user, or a guest holding a booking's manage token."""

    identity: Identity | None = None
    token: str | None = None

    @property
    def actor(self) -> str | None:
        return self.identity.sub if self.identity else None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _text(value: str | None, field_name: str) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value) > MAX_TEXT:
        raise InvalidInput(f"At most {MAX_TEXT} characters", field_name)
    return value.strip()


def _clip(value: str | None) -> str | None:
    """For results with no InvalidInput member (cancel, attendance): keep the first part."""
    return value.strip()[:MAX_TEXT] or None if value else None


def _record(
    session: UnitOfWork,
    booking: Booking,
    action: BookingAction,
    at: datetime,
    actor: str | None,
    reason: str | None = None,
    moved_from: datetime | None = None,
) -> None:
    """Every change is a history entry, news for the tutor's dashboard, and the background
    work it sets in motion, all once committed."""
    session.add(
        BookingHistory(booking_id=booking.id, action=action, at=at, actor_id=actor, reason=reason)
    )
    events.booking_changed(session, booking, action, at)
    notifications.booking_changed(session, booking, action, at, moved_from)
    calendar_sync.booking_changed(session, booking, action, at)
    meetings.booking_changed(session, booking, action, at)


async def _lock(session: AsyncSession, model: type[Any], pk: uuid.UUID) -> Any:
    # FOR NO KEY UPDATE: serializes writers without blocking inserts that reference the row.
    query = select(model).where(model.id == pk).with_for_update(key_share=True)
    return (await session.exec(query)).first()


# ---------------------------------------------------------------- the check every write makes


@dataclass
class _Desk:
    """One tutor's time as a booking transaction sees it, once the locks are held."""

    tutor: Tutor
    info: ServiceInfo
    hours: engine.Hours | None
    busy: list[engine.Busy]
    student_busy: list[tuple[datetime, datetime]]
    as_tutor: bool
    now: datetime
    zone: str  # the student's: alternatives are written in it
    placed: list[tuple[datetime, datetime]] = field(default_factory=list)

    def check(self, start: datetime, option: ServiceDuration, start_field: str) -> datetime:
        """The end of a session that may start then; otherwise raises why it may not.

        Students and guests get what availableSlots offers them (hours, grid, notice, window);
        a tutor booking for a student skips hours, notice and window, never capacity."""
        row = self.info.row
        offer = offer_of(self.info, option.minutes)
        end = start + timedelta(minutes=option.minutes)
        if self.as_tutor:
            free = engine.fits(self.busy, offer, start, self.now) is not None
        else:
            if start < self.now + timedelta(minutes=row.minimum_notice_minutes):
                raise PolicyViolation(
                    f"Bookings need {row.minimum_notice_minutes} minutes' notice",
                    Policy.MINIMUM_NOTICE,
                )
            if start > self.now + timedelta(days=row.booking_window_days):
                raise PolicyViolation(
                    f"Bookings open at most {row.booking_window_days} days ahead",
                    Policy.BOOKING_WINDOW,
                )
            offered = engine.free_slots(
                self.hours or engine.Hours("UTC", []),
                self.busy,
                offer,
                start=start,
                end=start + timedelta(seconds=1),
                now=self.now,
            )
            free = bool(offered) and offered[0].start == start
        if not free:
            raise SlotUnavailable(
                f"{start.isoformat()} is not available ({start_field})",
                self._alternatives(start, option),
            )
        for other_start, other_end in self.student_busy + self.placed:
            if other_start < end and other_end > start:
                raise StudentBusy("The student has another booking at that time")
        return end

    def _alternatives(self, start: datetime, option: ServiceDuration) -> list[Any]:
        """Up to five free slots closest to the time asked for, within a day and a half."""
        if self.hours is None:
            return []
        nearby = engine.free_slots(
            self.hours,
            self.busy,
            offer_of(self.info, option.minutes),
            start=start - timedelta(hours=12),
            end=start + timedelta(hours=36),
            now=self.now,
        )
        closest = sorted(nearby, key=lambda s: abs((s.start - start).total_seconds()))
        chosen = sorted(closest[:ALTERNATIVES], key=lambda s: s.start)
        # Copies: the error outlives the transaction, whose rollback expires its rows.
        tutor = Tutor(**self.tutor.model_dump())
        length = ServiceDuration(**option.model_dump())
        return [(tutor, length, slot, self.zone) for slot in chosen]

    def place(self, booking: Booking) -> None:
        """A booking made earlier in this transaction counts against the next one."""
        self.busy.append(
            engine.Busy(booking.block_start, booking.block_end, booking.service_id, booking.status)
        )
        self.placed.append((booking.start_at, booking.end_at))


async def _student_busy(
    session: AsyncSession,
    student_id: uuid.UUID | None,
    start: datetime,
    end: datetime,
    now: datetime,
    exclude: uuid.UUID | None,
) -> list[tuple[datetime, datetime]]:
    if student_id is None:
        return []
    rows = await session.exec(
        select(Booking).where(
            Booking.student_id == student_id,
            col(Booking.status).in_(engine.BLOCKING),
            Booking.start_at < end,
            Booking.end_at > start,
        )
    )
    return [
        (b.start_at, b.end_at)
        for b in rows
        if b.id != exclude and engine.is_blocking(b.status, b.hold_expires_at, now)
    ]


async def _desk(
    session: AsyncSession,
    info: ServiceInfo,
    tutor: Tutor,
    student_id: uuid.UUID | None,
    as_tutor: bool,
    span: tuple[datetime, datetime],
    now: datetime,
    zone: str,
    exclude: uuid.UUID | None = None,
) -> _Desk:
    first, last = span
    hours = await tutor_hours(session, info, tutor.id, first, last)
    busy = (await load_busy(session, [tutor.id], first, last, exclude))[tutor.id]
    student_busy = await _student_busy(
        session, student_id, first - timedelta(days=1), last + timedelta(days=1), now, exclude
    )
    return _Desk(tutor, info, hours, busy, student_busy, as_tutor, now, zone)


def _make(
    desk: _Desk,
    student: Student,
    start: datetime,
    end: datetime,
    option: ServiceDuration,
    request: BookingRequest,
    notes: str | None,
) -> Booking:
    row = desk.info.row
    block_start, block_end = engine.occupied(
        start, end, row.buffer_before_minutes, row.buffer_after_minutes
    )
    return Booking(
        id=uuid.uuid4(),
        service_id=row.id,
        tutor_id=desk.tutor.id,
        student_id=student.id,
        status=BookingStatus.CONFIRMED,
        start_at=start,
        end_at=end,
        block_start=block_start,
        block_end=block_end,
        duration_minutes=option.minutes,
        student_time_zone=request.time_zone,
        notes=notes,
        reminders_enabled=request.reminders_enabled,
    )


# ---------------------------------------------------------------- create


def _check_guest(guest: Guest) -> Guest:
    name = clean_name(guest.name, "input.guest.name")
    email = clean_email(guest.email, "input.guest.email")
    phone = (guest.phone or "").strip() or None
    if phone is not None and len(phone) > 40:
        raise InvalidInput("At most 40 characters", "input.guest.phone")
    return Guest(name, email, phone)


async def _replay(session: AsyncSession, owner: str, request: BookingRequest) -> Booked | None:
    """Claim the idempotency key; when it was used already, the first answer."""
    key = request.idempotency_key
    if key is None:
        return None
    if not 1 <= len(key) <= 200:
        raise InvalidInput("An idempotency key is 1 to 200 characters", "input.idempotencyKey")
    # A concurrent request with the same key waits here until the first one commits or fails.
    claimed = await session.exec(
        insert(IdempotencyKey)
        .values(owner=owner, key=key, request_hash=request.fingerprint(), booking_ids=[])
        .on_conflict_do_nothing()
        .returning(col(IdempotencyKey.owner))
    )
    if claimed.first() is not None:
        return None
    first = present(await session.get(IdempotencyKey, (owner, key)), "idempotency key")
    if first.request_hash != request.fingerprint():
        raise InvalidInput(
            "This idempotency key was used with different input", "input.idempotencyKey"
        )
    ids = [uuid.UUID(i) for i in first.booking_ids]
    rows = {b.id: b for b in await session.exec(select(Booking).where(col(Booking.id).in_(ids)))}
    # A guest's manage token was shown once and is not kept: a replay cannot show it again.
    return Booked([rows[i] for i in ids])


async def _student_for(
    session: AsyncSession, identity: Identity | None, tutor: Tutor, request: BookingRequest
) -> tuple[Student, bool]:
    """The student the booking is for, and whether the caller books as that student's tutor."""
    # The tutor row is already held: the caller books as the tutor when it is theirs.
    as_tutor = identity is not None and tutor.user_id == identity.sub
    if request.student_id is not None:
        if not as_tutor:
            raise Forbidden("Only the booking's tutor may book for a student (studentId)")
        student = await _lock(session, Student, request.student_id)
        if student is None:
            raise NotFound("No such student (input.studentId)")
        return student, True
    if request.guest is not None:
        if identity is not None and not as_tutor:
            raise InvalidInput(
                "Signed-in students book as themselves: leave guest out", "input.guest"
            )
        guest = _check_guest(request.guest)
        student = Student(
            display_name=guest.name,
            email=guest.email,
            phone=guest.phone,
            time_zone=request.time_zone,
        )
        session.add(student)
        await session.flush()
        return student, as_tutor
    if identity is None:
        raise InvalidInput("Sign in, or give the guest's name and email", "input.guest")
    return await student_of_user(session, identity, lock=True), False


async def create_bookings(
    db: Database,
    identity: Identity | None,
    request: BookingRequest,
    now: datetime,
    cipher: Cipher,
    cards: Cards | None = None,
) -> Booked:
    if not 1 <= len(request.slots) <= MAX_SLOTS:
        raise InvalidInput(f"Choose 1 to {MAX_SLOTS} slots", "input.slots")
    notes = _text(request.notes, "input.notes")
    owner = (
        identity.sub
        if identity
        else f"guest:{request.guest.email.strip().lower() if request.guest else ''}"
    )
    async with db.transaction() as session:
        replay = await _replay(session, owner, request)
        if replay is not None:
            return replay
        tutor = await _lock(session, Tutor, request.tutor_id)
        if tutor is None:
            raise NotFound("No such tutor (input.tutorId)")
        info = (await services_info(session, [request.service_id])).get(request.service_id)
        if info is None:
            raise NotFound("No such service (input.serviceId)")
        if tutor.id not in info.tutor_ids:
            raise NotEligible(
                "This tutor does not offer this service", NotEligibleReason.NOT_OFFERED_BY_TUTOR
            )
        student, as_tutor = await _student_for(session, identity, tutor, request)
        row = info.row
        enrolled = not row.enrollment_required or as_tutor
        if not enrolled and not await packages.is_enrolled(session, row.id, student.id):
            raise NotEligible(
                "Only students enrolled in this service may book it", NotEligibleReason.NOT_ENROLLED
            )
        package = (
            await packages.lock_for(session, request.package_id, student.id, tutor.id)
            if request.package_id is not None
            else None
        )
        if row.requires_package and package is None and not as_tutor:
            raise PolicyViolation(
                "This service is paid with package credit", Policy.PACKAGE_REQUIRED
            )

        options = [
            choose_duration(info, choice.duration_minutes, request.field(i, "durationMinutes"))
            for i, choice in enumerate(request.slots)
        ]
        # A priced length is paid by card unless a package pays, or a tutor books it (and
        # settles payment with the student themselves).
        by_card = package is None and not as_tutor
        priced = [i for i, option in enumerate(options) if option.price_amount_minor is not None]
        if by_card and priced and cards is None:
            raise InvalidInput(
                "Card payments are not configured on this server: this length has a price",
                request.field(priced[0], "durationMinutes"),
            )
        costs = (
            [
                packages.cost(package, option.minutes, choice.start)
                for choice, option in zip(request.slots, options, strict=True)
            ]
            if package is not None
            else []
        )
        if package is not None:
            packages.spend(package, sum(costs))
        starts = [choice.start for choice in request.slots]
        desk = await _desk(
            session,
            info,
            tutor,
            student.id,
            as_tutor,
            (min(starts), max(starts) + timedelta(hours=12)),
            now,
            request.time_zone,
        )
        made: list[Booking] = []
        for i, (choice, option) in enumerate(zip(request.slots, options, strict=True)):
            end = desk.check(choice.start, option, request.field(i, "start"))
            booking = _make(desk, student, choice.start, end, option, request, notes)
            if package is None and option.price_amount_minor is not None:
                booking.price_amount_minor = option.price_amount_minor
                booking.price_currency = option.price_currency
            desk.place(booking)
            made.append(booking)
        if package is None and row.monthly_free_allowance > 0 and not as_tutor:
            await _within_allowance(session, desk, student.id, made)
        payment = None
        if by_card and priced and cards is not None:
            payment = await _hold_for_payment(session, made, student, tutor, now + cards.hold, now)

        token = secrets.token_urlsafe(32) if request.guest is not None and request.single else None
        if token is not None:
            made[0].manage_token_hash = token_hash(token)
            notifications.park_manage_token(session, cipher, made[0], token, now)
        actor = identity.sub if identity else None
        if package is not None:
            for booking, credit in zip(made, costs, strict=True):
                booking.package_id, booking.package_credit = package.id, credit
        session.add_all(made)
        await session.flush()
        for booking in made:
            _record(session, booking, BookingAction.CREATED, now, actor)
            events.slot_changed(session, "TAKEN", booking)
            if booking.status == "CONFIRMED":
                _record(session, booking, BookingAction.CONFIRMED, now, actor)
            if package is not None and booking.package_credit:
                line = packages.ledger_line(
                    package, "REDEMPTION", -booking.package_credit, now, actor, "booked", booking.id
                )
                session.add(line)
        if package is not None:
            session.add(package)
            notifications.package_spent(session, package, now)
        if request.idempotency_key is not None:
            claimed = present(
                await session.get(IdempotencyKey, (owner, request.idempotency_key)),
                "idempotency key",
            )
            claimed.booking_ids = [str(b.id) for b in made]
            session.add(claimed)
    if payment is not None:  # only made with cards (checked above)
        await _open_checkout(
            db, present(cards, "card payments"), payment, made, info.row.title, student.email, now
        )
    return Booked(made, token)


async def _hold_for_payment(
    session: AsyncSession,
    made: list[Booking],
    student: Student,
    tutor: Tutor,
    hold_until: datetime,
    now: datetime,
) -> Payment:
    """The priced bookings wait for one card payment, holding their time until `hold_until`."""
    owed = [b for b in made if b.price_amount_minor is not None]
    payment = Payment(
        id=uuid.uuid4(),
        purpose="BOOKING",
        status="OPEN",
        student_id=student.id,
        tutor_id=tutor.id,
        amount_minor=sum(b.price_amount_minor or 0 for b in owed),
        currency=owed[0].price_currency or "",
        booking_amounts={str(b.id): b.price_amount_minor or 0 for b in owed},
        checkout_expires_at=checkout_expiry(hold_until, now),
    )
    session.add(payment)
    await session.flush()  # the bookings refer to it
    for booking in owed:
        booking.status = BookingStatus.PENDING_PAYMENT
        booking.hold_expires_at = hold_until
        booking.payment_id = payment.id
    return payment


async def _open_checkout(
    db: Database,
    cards: Cards,
    payment: Payment,
    made: list[Booking],
    title: str,
    email: str | None,
    now: datetime,
) -> None:
    """After commit: the Checkout Session. If Stripe can't be reached, the holds are let go."""
    items = [
        LineItem(
            f"{title} ({b.duration_minutes} min)",
            b.price_amount_minor or 0,
            payment.currency,
            b.start_at.astimezone(ZoneInfo(b.student_time_zone)).strftime("%A %d %B %Y, %H:%M %Z"),
        )
        for b in made
        if b.payment_id == payment.id
    ]
    try:
        await cards.open_checkout(db, payment, items, email)
    except CardError:
        async with db.transaction() as session:
            locked = present(await lock_payment(session, payment.id), "payment")
            await expire_unpaid(session, locked, "FAILED", now, "card payment could not start")
            # A retry with the same idempotency key books afresh.
            await session.exec(
                delete(IdempotencyKey).where(
                    col(IdempotencyKey.booking_ids).contains([str(made[0].id)])
                )
            )
        raise PolicyViolation(
            "Card payments are unavailable right now, so nothing was booked: try again shortly",
            Policy.PAYMENT_UNAVAILABLE,
        ) from None


async def _within_allowance(
    session: AsyncSession, desk: _Desk, student_id: uuid.UUID, made: list[Booking]
) -> None:
    """Free bookings per calendar month of the session's start, in the schedule's zone."""
    row = desk.info.row
    zone = desk.hours.time_zone if desk.hours else desk.tutor.time_zone
    by_month: dict[datetime, int] = {}
    for booking in made:
        first, _ = packages.month_bounds(booking.start_at, zone)
        by_month[first] = by_month.get(first, 0) + 1
    for first, new in by_month.items():
        used = await packages.free_bookings_in_month(session, row.id, student_id, first, zone)
        if used + new > row.monthly_free_allowance:
            raise PolicyViolation(
                f"{row.monthly_free_allowance} free booking(s) a month: this month's are used",
                Policy.MONTHLY_ALLOWANCE_USED,
            )


# ---------------------------------------------------------------- change


@dataclass
class _Held:
    booking: Booking
    as_tutor: bool


async def _find(session: AsyncSession, caller: Caller, booking_id: uuid.UUID | None) -> Booking:
    if booking_id is not None:
        booking = await session.get(Booking, booking_id)
    elif caller.token:
        booking = (
            await session.exec(
                select(Booking).where(Booking.manage_token_hash == token_hash(caller.token))
            )
        ).first()
    else:
        raise NotFound("Give bookingId, or the guest's token")
    if booking is None:
        raise NotFound("No such booking")
    return booking


async def _hold(
    session: AsyncSession, caller: Caller, booking_id: uuid.UUID | None, *, lock_tutor: bool
) -> _Held:
    """The booking locked for a change, with whether the caller acts as its tutor.

    A caller who may not see the booking gets NotFound, as if it did not exist."""
    found = await _find(session, caller, booking_id)
    if lock_tutor:
        await _lock(session, Tutor, found.tutor_id)
        await _lock(session, Student, found.student_id)
    booking = await _lock(session, Booking, found.id)
    if (
        caller.token
        and booking.manage_token_hash == token_hash(caller.token)
        and booking_id is None
    ):
        return _Held(booking, False)
    if caller.identity is None:
        raise NotFound("No such booking")
    tutor = await session.get(Tutor, booking.tutor_id)
    if tutor is not None and tutor.user_id == caller.identity.sub:
        return _Held(booking, True)
    student = await session.get(Student, booking.student_id)
    if student is not None and student.user_id == caller.identity.sub:
        return _Held(booking, False)
    raise NotFound("No such booking")


async def reschedule_booking(
    db: Database,
    caller: Caller,
    booking_id: uuid.UUID | None,
    new_start: datetime,
    duration_minutes: int | None,
    now: datetime,
) -> Booking:
    async with db.transaction() as session:
        held = await _hold(session, caller, booking_id, lock_tutor=True)
        booking = held.booking
        if booking.status not in ACTIVE or not engine.is_blocking(
            booking.status, booking.hold_expires_at, now
        ):
            raise PolicyViolation(
                "This booking cannot be moved: it is "
                + ("no longer held" if booking.status in ACTIVE else booking.status.lower()),
                Policy.INVALID_TRANSITION,
            )
        info = (await services_info(session, [booking.service_id]))[booking.service_id]
        row = info.row
        if not held.as_tutor:
            if now > booking.start_at - timedelta(hours=row.reschedule_notice_hours):
                raise PolicyViolation(
                    f"Bookings can be moved up to {row.reschedule_notice_hours} hours "
                    "before they start",
                    Policy.RESCHEDULE_NOTICE,
                )
            if row.max_reschedules is not None and booking.reschedule_count >= row.max_reschedules:
                raise PolicyViolation(
                    f"This booking has been moved the most times allowed ({row.max_reschedules})",
                    Policy.MAX_RESCHEDULES,
                )
        option = choose_duration(
            info, duration_minutes or booking.duration_minutes, "input.durationMinutes"
        )
        if option.price_amount_minor is not None and option.minutes != booking.duration_minutes:
            raise InvalidInput(
                "A priced length is chosen when booking: cancel and book again to change it",
                "input.durationMinutes",
            )
        tutor = present(await session.get(Tutor, booking.tutor_id), "booking's tutor")
        desk = await _desk(
            session,
            info,
            tutor,
            booking.student_id,
            held.as_tutor,
            (new_start, new_start + timedelta(hours=12)),
            now,
            booking.student_time_zone,
            exclude=booking.id,
        )
        end = desk.check(new_start, option, "input.newStart")
        was, was_end = booking.start_at, booking.end_at
        booking.start_at, booking.end_at = new_start, end
        booking.block_start, booking.block_end = engine.occupied(
            new_start, end, row.buffer_before_minutes, row.buffer_after_minutes
        )
        booking.duration_minutes = option.minutes
        booking.reschedule_count += 1
        session.add(booking)
        reason = f"from {was.isoformat()} to {new_start.isoformat()}"
        _record(session, booking, BookingAction.RESCHEDULED, now, caller.actor, reason, was)
        events.slot_changed(session, "RELEASED", booking, was, was_end)
        events.slot_changed(session, "TAKEN", booking)
    return booking


async def cancel_booking(
    db: Database,
    caller: Caller,
    booking_id: uuid.UUID | None,
    reason: str | None,
    now: datetime,
    cards: Cards | None = None,
) -> Cancelled:
    reason = _clip(reason)
    refund: PaymentRefund | None = None
    credit = 0
    close_checkout: str | None = None
    async with db.transaction() as session:
        # Freeing time never over-books: the booking's own lock is enough.
        held = await _hold(session, caller, booking_id, lock_tutor=False)
        booking = held.booking
        if booking.status not in ACTIVE:
            raise PolicyViolation(
                f"A {booking.status.lower()} booking cannot be cancelled", Policy.INVALID_TRANSITION
            )
        if booking.start_at <= now:
            raise PolicyViolation(
                "A session that has started cannot be cancelled", Policy.INVALID_TRANSITION
            )
        was = booking.status
        booking.status = BookingStatus.CANCELLED
        booking.cancellation_reason = reason
        session.add(booking)
        _record(session, booking, BookingAction.CANCELLED, now, caller.actor, reason)
        events.slot_changed(session, "RELEASED", booking)
        service = present(await session.get(Service, booking.service_id), "booking's service")
        # The policy: a tutor's cancellation always refunds; a student's only with enough notice.
        notice = timedelta(hours=service.cancellation_notice_hours)
        refunds = held.as_tutor or now <= booking.start_at - notice
        # Read after the booking's lock: a payment settling now has committed, or will see
        # this cancellation and refund it itself.
        payment = await session.get(Payment, booking.payment_id) if booking.payment_id else None
        if was == "PENDING_PAYMENT" and payment is not None and payment.status == "OPEN":
            close_checkout = await _unpaid_checkout(session, payment)
        if refunds and booking.package_id is not None and booking.package_credit:
            package = present(await packages.lock(session, booking.package_id), "package")
            session.add(
                packages.ledger_line(
                    package,
                    "REFUND",
                    booking.package_credit,
                    now,
                    caller.actor,
                    "cancelled",
                    booking.id,
                )
            )
            session.add(package)
            credit = booking.package_credit
        elif refunds and was == "CONFIRMED" and payment is not None and payment.status == "PAID":
            refund = _refund(payment, booking, "cancelled")
            session.add(refund)
    # After the commit, whichever way it was refunded: no return inside the transaction skips
    # these.
    if cards is not None and close_checkout is not None:
        await cards.expire_checkout(close_checkout)
    if credit:
        return Cancelled(booking, "PACKAGE_CREDIT", credit)
    if refund is None:
        return Cancelled(booking, "NONE", 0)
    if cards is not None:
        await cards.settle_refunds(db, [refund.id])
    return Cancelled(booking, "CARD", refund.amount_minor)


def _refund(payment: Payment, booking: Booking, reason: str) -> PaymentRefund:
    return PaymentRefund(
        id=uuid.uuid4(),
        payment_id=payment.id,
        booking_id=booking.id,
        amount_minor=payment.booking_amounts.get(str(booking.id), 0),
        reason=reason,
        status="PENDING",
    )


async def _unpaid_checkout(session: AsyncSession, payment: Payment) -> str | None:
    """The Checkout Session to close once none of its bookings waits for it any more."""
    waiting = await session.exec(
        select(Booking.id).where(
            Booking.payment_id == payment.id, Booking.status == "PENDING_PAYMENT"
        )
    )
    return None if waiting.first() is not None else payment.checkout_session_id


# ---------------------------------------------------------------- card payments settle


async def lock_payment(session: AsyncSession, payment_id: uuid.UUID) -> Payment | None:
    """Payments are locked before their tutor and bookings, as the webhook settles them."""
    payment: Payment | None = await _lock(session, Payment, payment_id)
    return payment


async def expire_unpaid(
    session: UnitOfWork, payment: Payment, status: str, now: datetime, reason: str
) -> None:
    """An open payment that will not be paid: its bookings waiting for it let their time go."""
    if payment.status != "OPEN":
        return
    payment.status = status
    session.add(payment)
    rows = await session.exec(
        select(Booking)
        .where(Booking.payment_id == payment.id, Booking.status == "PENDING_PAYMENT")
        .with_for_update()
    )
    for booking in rows:
        booking.status = BookingStatus.EXPIRED
        booking.hold_expires_at = None
        session.add(booking)
        _record(session, booking, BookingAction.EXPIRED, now, None, reason)
        events.slot_changed(session, "RELEASED", booking)


async def expire_lapsed_holds(db: Database, now: datetime) -> None:
    """Bookings whose payment hold lapsed become EXPIRED, with their history and RELEASED event.

    Availability has ignored them since the moment they lapsed; this makes it official. The
    Checkout Session stays open until Stripe expires it: a late payment is still confirmed if
    the time is free, and refunded if not (confirm_paid)."""
    async with db.session() as session:
        lapsed = await session.exec(
            select(Booking.payment_id)
            .where(
                Booking.status == "PENDING_PAYMENT",
                col(Booking.hold_expires_at) <= now,
                col(Booking.payment_id).is_not(None),
            )
            .distinct()
        )
        payment_ids = [pid for pid in lapsed if pid is not None]
    for payment_id in payment_ids:
        async with db.transaction() as session:
            payment = await lock_payment(session, payment_id)
            if payment is not None:
                await expire_unpaid(session, payment, "EXPIRED", now, "the hold lapsed unpaid")


async def confirm_paid(session: UnitOfWork, payment: Payment, now: datetime) -> list[PaymentRefund]:
    """A booking payment has succeeded (the payment row is locked and now PAID).

    Bookings still holding their time are confirmed. One whose hold lapsed is confirmed if its
    time is still free (re-checked here under the tutor's lock, like any booking), otherwise
    it is EXPIRED and refunded; so is one cancelled or paid with a package meanwhile. Never
    double-booked: the same check as every other write."""
    await _lock(session, Tutor, payment.tutor_id)
    await _lock(session, Student, payment.student_id)
    rows = list(
        await session.exec(
            select(Booking)
            .where(Booking.payment_id == payment.id)
            .order_by(col(Booking.start_at))
            .with_for_update()
        )
    )
    refunds: list[PaymentRefund] = []
    for booking in rows:
        if booking.status == "PENDING_PAYMENT" and engine.is_blocking(
            booking.status, booking.hold_expires_at, now
        ):
            _confirm(session, booking, now, "paid by card")
        elif booking.status in ("PENDING_PAYMENT", "EXPIRED") and await _still_free(
            session, booking, now
        ):
            _confirm(session, booking, now, "paid by card after the hold lapsed")
            events.slot_changed(session, "TAKEN", booking)
        else:
            reason = "paid after the hold lapsed and the time was taken: refunded"
            if booking.status == "PENDING_PAYMENT":
                booking.status = BookingStatus.EXPIRED
                _record(session, booking, BookingAction.EXPIRED, now, None, reason)
            elif booking.status != "EXPIRED":
                reason = f"paid by card while {booking.status.lower()}: refunded"
            booking.hold_expires_at = None
            session.add(booking)
            refunds.append(_refund(payment, booking, reason))
    session.add_all(refunds)
    return refunds


def _confirm(session: UnitOfWork, booking: Booking, now: datetime, reason: str) -> None:
    booking.status = BookingStatus.CONFIRMED
    booking.hold_expires_at = None
    session.add(booking)
    _record(session, booking, BookingAction.CONFIRMED, now, None, reason)


async def _still_free(session: AsyncSession, booking: Booking, now: datetime) -> bool:
    """Whether a lapsed hold's time could be booked again by its tutor now."""
    if booking.start_at <= now:
        return False
    info = (await services_info(session, [booking.service_id]))[booking.service_id]
    tutor = present(await session.get(Tutor, booking.tutor_id), "booking's tutor")
    desk = await _desk(
        session,
        info,
        tutor,
        booking.student_id,
        True,
        (booking.start_at, booking.start_at + timedelta(hours=12)),
        now,
        booking.student_time_zone,
        exclude=booking.id,
    )
    # The length as booked, even if the service has stopped offering it since.
    option = ServiceDuration(
        service_id=booking.service_id, minutes=booking.duration_minutes, position=0
    )
    try:
        desk.check(booking.start_at, option, "start")
    except (SlotUnavailable, StudentBusy):
        return False
    return True


async def mark_attendance(
    db: Database,
    identity: Identity,
    booking_id: uuid.UUID,
    status: BookingStatus,
    notes: str | None,
    now: datetime,
) -> Booking:
    notes = _clip(notes)
    async with db.transaction() as session:
        held = await _hold(session, Caller(identity), booking_id, lock_tutor=False)
        if not held.as_tutor:
            raise Forbidden("Only the booking's tutor marks attendance")
        booking = held.booking
        if booking.status != "CONFIRMED":
            raise PolicyViolation(
                f"A {booking.status.lower()} booking cannot be marked", Policy.INVALID_TRANSITION
            )
        if booking.start_at > now:
            raise PolicyViolation(
                "Attendance is marked once the session has started", Policy.INVALID_TRANSITION
            )
        booking.status = status
        session.add(booking)
        _record(session, booking, BookingAction(status), now, identity.sub, notes)
    return booking


async def redeem_package(
    db: Database,
    identity: Identity,
    booking_id: uuid.UUID,
    package_id: uuid.UUID,
    now: datetime,
    cards: Cards | None = None,
) -> tuple[Booking, Package]:
    """Pay for a booking that waits for payment with package credit, and confirm it."""
    close_checkout: str | None = None
    async with db.transaction() as session:
        held = await _hold(session, Caller(identity), booking_id, lock_tutor=False)
        booking = held.booking
        if booking.status != "PENDING_PAYMENT" or not engine.is_blocking(
            booking.status, booking.hold_expires_at, now
        ):
            raise PolicyViolation(
                "Only a booking waiting for payment can be paid", Policy.INVALID_TRANSITION
            )
        package = await packages.lock_for(session, package_id, booking.student_id, booking.tutor_id)
        credit = packages.cost(package, booking.duration_minutes, booking.start_at)
        packages.spend(package, credit)
        booking.status = BookingStatus.CONFIRMED
        booking.hold_expires_at = None
        booking.price_amount_minor = booking.price_currency = None
        booking.package_id, booking.package_credit = package.id, credit
        session.add(
            packages.ledger_line(
                package, "REDEMPTION", -credit, now, identity.sub, "paid a booking", booking.id
            )
        )
        session.add_all([booking, package])
        notifications.package_spent(session, package, now)
        _record(
            session, booking, BookingAction.CONFIRMED, now, identity.sub, "paid with package credit"
        )
        payment = await session.get(Payment, booking.payment_id) if booking.payment_id else None
        if payment is not None:
            close_checkout = await _unpaid_checkout(session, payment)
    if cards is not None and close_checkout is not None:
        await cards.expire_checkout(close_checkout)
    return booking, package
