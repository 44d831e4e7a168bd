"""createBooking and createBookings: one or more sessions, booked together or not at all."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import (
    events,
    forms,
    funnel,
    notifications,
    package_notices,
    packages,
    review_requests,
    schedule_requests,
    waitlist_offers,
)
from domain import slots as engine
from domain.bookings import idempotency, round_robin
from domain.bookings.access import token_hash
from domain.bookings.check_in import save_answers
from domain.bookings.free_time import FreeTime, choose_duration, load_free_time
from domain.bookings.requests import MAX_SLOTS, Booked, BookingRequest, checked_text
from domain.bookings.settlement import hold_for_payment, open_checkout
from domain.bookings.students import student_for
from domain.bookings.writes import lock, record
from domain.errors import (
    InvalidInput,
    NotEligible,
    NotEligibleReason,
    NotFound,
    Policy,
    PolicyViolation,
    UserError,
)
from domain.services import ServiceInfo, services_info
from domain.stripe import Cards
from infra.auth import Identity
from infra.crypto import Cipher
from infra.db import Database, UnitOfWork, present
from infra.settings import MeetingProvider
from models import Booking, Package, Payment, ServiceDuration, Student, Tutor
from models.bookings import BookingAction, BookingStatus


async def create_bookings(
    db: Database,
    identity: Identity | None,
    request: BookingRequest,
    now: datetime,
    cipher: Cipher,
    cards: Cards | None = None,
    *,
    meeting_provider: MeetingProvider | None,
) -> Booked:
    """The bookings; with a funnel visit, its outcome too: BOOKING_SUCCEEDED in the booking's
    transaction, or BOOKING_FAILED with the result type once the booking has rolled back."""
    visit = request.visit
    if visit is not None:
        funnel.check_visit_id(visit.id, "input.visitId")
    try:
        return await _book(db, identity, request, now, cipher, cards, meeting_provider)
    except UserError as error:
        if visit is not None:
            failure = type(error).__name__  # the result type the caller gets
            await funnel.booking_failed(
                db, visit, request.tutor_id, request.service_id, failure, now
            )
        raise


async def _book(
    db: Database,
    identity: Identity | None,
    request: BookingRequest,
    now: datetime,
    cipher: Cipher,
    cards: Cards | None,
    meeting_provider: MeetingProvider | None,
) -> Booked:
    if not 1 <= len(request.slots) <= MAX_SLOTS:
        raise InvalidInput(f"Choose 1 to {MAX_SLOTS} slots", "input.slots")
    notes = checked_text(request.notes, "input.notes")
    owner = identity.sub if identity else f"guest:{_guest_email(request)}"
    async with db.transaction() as session:
        replay = await idempotency.replay(session, owner, request, now)
        if replay is not None:
            return replay
        info = await _service(session, request)
        answers = await forms.at_booking(session, info.row.id, request.answers)
        lengths = _lengths(info, request)
        tutor = await _tutor(session, identity, info, request, lengths, now)
        student, as_tutor = await student_for(session, identity, tutor, request, now)
        await packages.check_enrolled(session, info, student, as_tutor)
        package = await _package_for(session, info, request, student, tutor, as_tutor)
        # A priced length is paid by card unless a package pays, or a tutor books it (and
        # settles payment with the student themselves).
        by_card = package is None and not as_tutor
        _check_cards(request, lengths, by_card, cards)
        credits = _credits(package, request, lengths)
        starts = [choice.start for choice in request.slots]
        span = (min(starts), max(starts) + timedelta(hours=12))
        # Whether the schedule-later and waitlist steps below have anything to do is asked in
        # the same statement as the re-check's reads.
        flags = (
            schedule_requests.pending_exists(student.id, info.row.id),
            waitlist_offers.may_change(student.id, info.row.id, tutor.id),
        )
        free = await load_free_time(
            session, info, tutor, student.id, as_tutor, span, now, request.time_zone, flags=flags
        )
        made = _place(free, student, request, lengths, notes, package)
        if package is None and info.row.monthly_free_allowance > 0 and not as_tutor:
            await _within_allowance(session, free, student.id, made)
        payment: Payment | None = None
        if by_card and cards is not None and any(b.price_amount_minor is not None for b in made):
            payment = await hold_for_payment(session, made, student, tutor, now + cards.hold, now)
        token = _manage_token(session, cipher, request, made, now)
        actor = identity.sub if identity else None
        await _write(session, made, package, credits, now, actor, meeting_provider)
        await save_answers(session, made, answers, now)
        await funnel.booking_succeeded(session, request.visit, made, now)
        requested, waitlisted = free.flags
        if requested:
            await schedule_requests.fulfil_request(session, made)
        if waitlisted:
            await waitlist_offers.booking_written(session, made, now)
        await idempotency.remember(session, owner, request, made)
    if payment is not None:  # only made with cards (checked above)
        await open_checkout(
            db, present(cards, "card payments"), payment, made, info.row.title, student.email, now
        )
    return Booked(made, token)


def _guest_email(request: BookingRequest) -> str:
    return request.guest.email.strip().lower() if request.guest else ""


async def _service(session: AsyncSession, request: BookingRequest) -> ServiceInfo:
    info = (await services_info(session, [request.service_id])).get(request.service_id)
    if info is None:
        raise NotFound("No such service (input.serviceId)")
    return info


async def _tutor(
    session: AsyncSession,
    identity: Identity | None,
    info: ServiceInfo,
    request: BookingRequest,
    lengths: list[ServiceDuration],
    now: datetime,
) -> Tutor:
    """The tutor, locked first (see the package docstring): the one asked for, or the one
    round robin assigns when none is (the only one, on a service with one tutor)."""
    tutor_id = request.tutor_id
    if tutor_id is None and request.package_id is not None:
        # Package credit is spent with the package's tutor: round robin has no choice to make.
        query = select(Package.tutor_id).where(Package.id == request.package_id)
        tutor_id = (await session.exec(query)).first()
    if tutor_id is None:
        wanted = round_robin.Wanted(
            [
                (choice.start, option, request.field(i, "start"))
                for i, (choice, option) in enumerate(zip(request.slots, lengths, strict=True))
            ],
            request.time_zone,
            now,
        )
        return await round_robin.assign(session, identity, info, wanted)
    tutor: Tutor | None = await lock(session, Tutor, tutor_id)
    if tutor is None:
        raise NotFound("No such tutor (input.tutorId)")
    if tutor.id not in info.tutor_ids:
        raise NotEligible(
            "This tutor does not offer this service", NotEligibleReason.NOT_OFFERED_BY_TUTOR
        )
    return tutor


async def _package_for(
    session: AsyncSession,
    info: ServiceInfo,
    request: BookingRequest,
    student: Student,
    tutor: Tutor,
    as_tutor: bool,
) -> Package | None:
    """The package that pays, locked (after the student), when one is given or required."""
    package = (
        await packages.lock_for(session, request.package_id, student.id, tutor.id)
        if request.package_id is not None
        else None
    )
    if info.row.requires_package and package is None and not as_tutor:
        raise PolicyViolation("This service is paid with package credit", Policy.PACKAGE_REQUIRED)
    return package


def _lengths(info: ServiceInfo, request: BookingRequest) -> list[ServiceDuration]:
    return [
        choose_duration(info, choice.duration_minutes, request.field(i, "durationMinutes"))
        for i, choice in enumerate(request.slots)
    ]


def _check_cards(
    request: BookingRequest, lengths: list[ServiceDuration], by_card: bool, cards: Cards | None
) -> None:
    priced = [i for i, option in enumerate(lengths) if option.price_amount_minor is not None]
    if by_card and priced and cards is None:
        raise InvalidInput(
            "Card payments are not configured on this server: this length has a price",
            request.field(priced[0], "durationMinutes"),
        )


def _credits(
    package: Package | None, request: BookingRequest, lengths: list[ServiceDuration]
) -> list[int]:
    """What each session takes from the package, once it is known to cover them all."""
    if package is None:
        return []
    credits = [
        packages.cost(package, option.minutes, choice.start)
        for choice, option in zip(request.slots, lengths, strict=True)
    ]
    packages.spend(package, sum(credits))
    return credits


def _place(
    free: FreeTime,
    student: Student,
    request: BookingRequest,
    lengths: list[ServiceDuration],
    notes: str | None,
    package: Package | None,
) -> list[Booking]:
    """The bookings, each checked against the tutor's time and the ones placed before it."""
    made: list[Booking] = []
    for i, (choice, option) in enumerate(zip(request.slots, lengths, strict=True)):
        end = free.check(choice.start, option, request.field(i, "start"))
        booking = _booking(free, student, choice.start, end, option, request, notes)
        if package is None and option.price_amount_minor is not None:
            booking.price_amount_minor = option.price_amount_minor
            booking.price_currency = option.price_currency
        free.place(booking)
        made.append(booking)
    return made


def _booking(
    free: FreeTime,
    student: Student,
    start: datetime,
    end: datetime,
    option: ServiceDuration,
    request: BookingRequest,
    notes: str | None,
) -> Booking:
    row = free.info.row
    block_start, block_end = engine.occupied(
        start, end, row.buffer_before_minutes, row.buffer_after_minutes
    )
    return Booking(
        id=uuid.uuid4(),
        service_id=row.id,
        tutor_id=free.tutor.id,
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
        # The guest's phone, or the student's profile phone: kept as it was when booked.
        contact_phone=student.phone,
        created_at=free.now,
    )


async def _within_allowance(
    session: AsyncSession, free: FreeTime, student_id: uuid.UUID, made: list[Booking]
) -> None:
    """Free bookings per calendar month of the session's start, in the schedule's zone."""
    row = free.info.row
    zone = free.hours.time_zone if free.hours else free.tutor.time_zone
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


def _manage_token(
    session: UnitOfWork, cipher: Cipher, request: BookingRequest, made: list[Booking], now: datetime
) -> str | None:
    """A guest's single booking gets a manage token: shown once, kept only as its hash."""
    if request.guest is None or not request.single:
        return None
    token = secrets.token_urlsafe(32)
    made[0].manage_token_hash = token_hash(token)
    notifications.park_manage_token(session, cipher, made[0], token, now)
    review_requests.park_token(session, cipher, made[0], token, now)  # for the review's link
    return token


async def _write(
    session: UnitOfWork,
    made: list[Booking],
    package: Package | None,
    credits: list[int],
    now: datetime,
    actor: str | None,
    meeting_provider: MeetingProvider | None,
) -> None:
    """The bookings, their history and news, and the package's ledger lines."""
    if package is not None:
        for booking, credit in zip(made, credits, strict=True):
            booking.package_id, booking.package_credit = package.id, credit
    session.add_all(made)
    await session.flush()
    for booking in made:
        # One change, one entry and one event: CREATED, already CONFIRMED unless it waits for
        # its card payment (then CONFIRMED follows when it is paid).
        await record(
            session, booking, BookingAction.CREATED, now, actor, meeting_provider=meeting_provider
        )
        events.slot_changed(session, "TAKEN", booking, now)
        if package is not None and booking.package_credit:
            line = packages.ledger_line(
                package, "REDEMPTION", -booking.package_credit, now, actor, "booked", booking.id
            )
            session.add(line)
    if package is not None:
        session.add(package)
        await package_notices.package_spent(session, package, now)
