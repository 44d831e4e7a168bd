"""Changes to a booking: reschedule, cancel, mark attendance, pay with package credit.

Each locks the booking (and, for a change that takes time, its tutor and student first) and asks
who the caller is to it (`access.lock_for_change`); a move re-checks the new time like a new
booking (`free_time`).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from domain import events, package_notices, packages, waitlist_offers
from domain import slots as engine
from domain.bookings.access import lock_for_change
from domain.bookings.free_time import choose_duration, load_free_time
from domain.bookings.requests import ACTIVE, Caller, Cancelled, clipped_text
from domain.bookings.settlement import checkout_to_close, refund_for
from domain.bookings.writes import record
from domain.errors import Forbidden, InvalidInput, Policy, PolicyViolation
from domain.services import services_info
from domain.stripe import Cards
from infra.auth import Identity
from infra.db import Database, present
from infra.settings import MeetingProvider
from models import Booking, Package, Payment, PaymentRefund, Service, Tutor
from models.bookings import BookingAction, BookingStatus


async def reschedule_booking(
    db: Database,
    caller: Caller,
    booking_id: uuid.UUID | None,
    new_start: datetime,
    duration_minutes: int | None,
    now: datetime,
    *,
    meeting_provider: MeetingProvider | None,
) -> Booking:
    async with db.transaction() as session:
        locked = await lock_for_change(session, caller, booking_id, lock_tutor=True)
        booking = locked.booking
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
        if not locked.as_tutor:
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
        free = await load_free_time(
            session,
            info,
            tutor,
            booking.student_id,
            locked.as_tutor,
            (new_start, new_start + timedelta(hours=12)),
            now,
            booking.student_time_zone,
            exclude=booking.id,
        )
        end = free.check(new_start, option, "input.newStart")
        was, was_end = booking.start_at, booking.end_at
        was_block = (booking.block_start, booking.block_end)
        booking.start_at, booking.end_at = new_start, end
        booking.block_start, booking.block_end = engine.occupied(
            new_start, end, row.buffer_before_minutes, row.buffer_after_minutes
        )
        booking.duration_minutes = option.minutes
        booking.reschedule_count += 1
        session.add(booking)
        reason = f"from {was.isoformat()} to {new_start.isoformat()}"
        await record(
            session,
            booking,
            BookingAction.RESCHEDULED,
            now,
            caller.actor,
            reason,
            was,
            meeting_provider,
        )
        events.slot_changed(session, "RELEASED", booking, now, was, was_end)
        events.slot_changed(session, "TAKEN", booking, now)
        await waitlist_offers.time_freed(session, booking.tutor_id, *was_block, now)
        await waitlist_offers.booking_written(session, [booking], now)
    return booking


async def cancel_booking(
    db: Database,
    caller: Caller,
    booking_id: uuid.UUID | None,
    reason: str | None,
    now: datetime,
    cards: Cards | None = None,
    *,
    meeting_provider: MeetingProvider | None,
) -> Cancelled:
    reason = clipped_text(reason)
    refund: PaymentRefund | None = None
    credit = 0
    close_checkout: str | None = None
    async with db.transaction() as session:
        # Freeing time never over-books: the booking's own lock is enough.
        locked = await lock_for_change(session, caller, booking_id, lock_tutor=False)
        booking = locked.booking
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
        service = present(await session.get(Service, booking.service_id), "booking's service")
        await record(
            session,
            booking,
            BookingAction.CANCELLED,
            now,
            caller.actor,
            reason,
            meeting_provider=meeting_provider,
        )
        events.slot_changed(session, "RELEASED", booking, now)
        await waitlist_offers.time_freed(
            session, booking.tutor_id, booking.block_start, booking.block_end, now
        )
        # The policy: a tutor's cancellation always refunds; a student's only with enough notice.
        notice = timedelta(hours=service.cancellation_notice_hours)
        refunds = locked.as_tutor or now <= booking.start_at - notice
        # Read after the booking's lock: a payment settling now has committed, or will see
        # this cancellation and refund it itself.
        payment = await session.get(Payment, booking.payment_id) if booking.payment_id else None
        if was == "PENDING_PAYMENT" and payment is not None and payment.status == "OPEN":
            close_checkout = await checkout_to_close(session, payment)
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
            refund = refund_for(payment, booking, "cancelled", now)
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


async def mark_attendance(
    db: Database,
    identity: Identity,
    booking_id: uuid.UUID,
    status: BookingStatus,
    notes: str | None,
    now: datetime,
) -> Booking:
    notes = clipped_text(notes)
    async with db.transaction() as session:
        locked = await lock_for_change(session, Caller(identity), booking_id, lock_tutor=False)
        if not locked.as_tutor:
            raise Forbidden("Only the booking's tutor marks attendance")
        booking = locked.booking
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
        await record(session, booking, BookingAction(status), now, identity.sub, notes)
    return booking


async def redeem_package(
    db: Database,
    identity: Identity,
    booking_id: uuid.UUID,
    package_id: uuid.UUID,
    now: datetime,
    cards: Cards | None = None,
    *,
    meeting_provider: MeetingProvider | None,
) -> tuple[Booking, Package]:
    """Pay for a booking that waits for payment with package credit, and confirm it."""
    close_checkout: str | None = None
    async with db.transaction() as session:
        locked = await lock_for_change(session, Caller(identity), booking_id, lock_tutor=False)
        booking = locked.booking
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
        await package_notices.package_spent(session, package, now)
        await record(
            session,
            booking,
            BookingAction.CONFIRMED,
            now,
            identity.sub,
            "paid with package credit",
            meeting_provider=meeting_provider,
        )
        payment = await session.get(Payment, booking.payment_id) if booking.payment_id else None
        if payment is not None:
            close_checkout = await checkout_to_close(session, payment)
    if cards is not None and close_checkout is not None:
        await cards.expire_checkout(close_checkout)
    return booking, package
