"""Bookings paid by card: the payment hold on their time, and how the payment settles.

A priced booking waits for its card payment as PENDING_PAYMENT, holding its time until
`hold_expires_at`. The Stripe webhook (`domain/payments.py`) settles the payment: paid bookings
are confirmed (or refunded when their time was taken after the hold lapsed); unpaid ones expire.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import events, waitlist_offers
from domain import slots as engine
from domain.bookings import idempotency
from domain.bookings.free_time import load_free_time
from domain.bookings.writes import lock, record
from domain.errors import Policy, PolicyViolation, SlotUnavailable, StudentBusy
from domain.services import services_info
from domain.stripe import CardError, Cards, LineItem, checkout_expiry
from infra.db import Database, UnitOfWork, present
from infra.settings import MeetingProvider
from models import Booking, Payment, PaymentRefund, ServiceDuration, Student, Tutor
from models.bookings import BookingAction, BookingStatus

# ---------------------------------------------------------------- the hold, when booking


async def hold_for_payment(
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
        created_at=now,
    )
    session.add(payment)
    await session.flush()  # the bookings refer to it
    for booking in owed:
        booking.status = BookingStatus.PENDING_PAYMENT
        booking.hold_expires_at = hold_until
        booking.payment_id = payment.id
    return payment


async def open_checkout(
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
            await idempotency.forget(session, made[0])
        raise PolicyViolation(
            "Card payments are unavailable right now, so nothing was booked: try again shortly",
            Policy.PAYMENT_UNAVAILABLE,
        ) from None


# ---------------------------------------------------------------- when a booking stops waiting


def refund_for(payment: Payment, booking: Booking, reason: str, now: datetime) -> PaymentRefund:
    return PaymentRefund(
        id=uuid.uuid4(),
        payment_id=payment.id,
        booking_id=booking.id,
        amount_minor=payment.booking_amounts.get(str(booking.id), 0),
        reason=reason,
        status="PENDING",
        created_at=now,
    )


async def checkout_to_close(session: AsyncSession, payment: Payment) -> str | None:
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
    payment: Payment | None = await lock(session, Payment, payment_id)
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
        await record(session, booking, BookingAction.EXPIRED, now, None, reason)
        events.slot_changed(session, "RELEASED", booking, now)
        await waitlist_offers.time_freed(
            session, booking.tutor_id, booking.block_start, booking.block_end, now
        )


# Payments a hold sweep expires at most, the longest lapsed first; the next sweep takes the rest.
# Every change of a sweep carries the sweep's `now`: bounded, the last commits well within a
# resumed subscription's REPLAY_SLACK of it (domain/events.py), and the job within its lease.
SWEEP_BATCH = 200


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
            .group_by(col(Booking.payment_id))
            .order_by(func.min(Booking.hold_expires_at), col(Booking.payment_id))
            .limit(SWEEP_BATCH)
        )
        payment_ids = [pid for pid in lapsed if pid is not None]
    for payment_id in payment_ids:
        async with db.transaction() as session:
            payment = await lock_payment(session, payment_id)
            if payment is not None:
                await expire_unpaid(session, payment, "EXPIRED", now, "the hold lapsed unpaid")


async def confirm_paid(
    session: UnitOfWork,
    payment: Payment,
    now: datetime,
    *,
    meeting_provider: MeetingProvider | None,
) -> list[PaymentRefund]:
    """A booking payment has succeeded (the payment row is locked and now PAID).

    Bookings still holding their time are confirmed. One whose hold lapsed is confirmed if its
    time is still free (re-checked here under the tutor's lock, like any booking), otherwise
    it is EXPIRED and refunded; so is one cancelled or paid with a package meanwhile. Never
    double-booked: the same check as every other write."""
    # Held here: the session keeps a row only while it is referenced, and each booking's
    # record reads the tutor's (the calendar flag) from it.
    tutor = present(await lock(session, Tutor, payment.tutor_id), "payment's tutor")
    await lock(session, Student, payment.student_id)
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
            await _confirm(session, booking, now, "paid by card", meeting_provider)
        elif booking.status in ("PENDING_PAYMENT", "EXPIRED") and await _still_free(
            session, booking, tutor, now
        ):
            await _confirm(
                session, booking, now, "paid by card after the hold lapsed", meeting_provider
            )
            events.slot_changed(session, "TAKEN", booking, now)
        else:
            reason = "paid after the hold lapsed and the time was taken: refunded"
            if booking.status == "PENDING_PAYMENT":
                booking.status = BookingStatus.EXPIRED
                await record(session, booking, BookingAction.EXPIRED, now, None, reason)
            elif booking.status != "EXPIRED":
                reason = f"paid by card while {booking.status.lower()}: refunded"
            booking.hold_expires_at = None
            session.add(booking)
            refunds.append(refund_for(payment, booking, reason, now))
    session.add_all(refunds)
    return refunds


async def _confirm(
    session: UnitOfWork,
    booking: Booking,
    now: datetime,
    reason: str,
    meeting_provider: MeetingProvider | None,
) -> None:
    booking.status = BookingStatus.CONFIRMED
    booking.hold_expires_at = None
    session.add(booking)
    await record(
        session,
        booking,
        BookingAction.CONFIRMED,
        now,
        None,
        reason,
        meeting_provider=meeting_provider,
    )


async def _still_free(session: AsyncSession, booking: Booking, tutor: Tutor, now: datetime) -> bool:
    """Whether a lapsed hold's time could be booked again by its tutor (locked) now."""
    if booking.start_at <= now:
        return False
    info = (await services_info(session, [booking.service_id]))[booking.service_id]
    free = await load_free_time(
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
        free.check(booking.start_at, option, "start")
    except (SlotUnavailable, StudentBusy):
        return False
    return True
