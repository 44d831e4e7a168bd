"""Card payments: buying a package template, and the Stripe webhook that settles payments.

Each webhook event is stored once, keyed by its Stripe id, in the same transaction as what it
changes: a replay finds the row and changes nothing, and a failure leaves no trace for Stripe's
retry to trip over. Events may come in any order: a payment row moves OPEN -> PAID, EXPIRED or
FAILED once, and a late or stale event finds it settled already.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import bookings, packages
from domain.errors import InvalidInput, NotFound, Policy, PolicyViolation
from domain.people import student_of_user
from domain.stripe import CHECKOUT_MINIMUM, CardError, Cards, Event, LineItem
from infra.auth import Identity
from infra.db import Database, UnitOfWork, present
from infra.settings import MeetingProvider
from models import PackageTemplate, Payment, StripeEvent

log = logging.getLogger("booking_api.payments")

PAID = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
UNPAID = ("checkout.session.expired", "checkout.session.async_payment_failed")


@dataclass
class Handled:
    """What a webhook event did, and the refunds to send to Stripe once it has committed."""

    outcome: str
    refund_ids: list[uuid.UUID] = field(default_factory=list)


async def handle_event(
    db: Database, event: Event, now: datetime, *, meeting_provider: MeetingProvider | None
) -> Handled:
    """Apply one verified webhook event (stripe.parse_event has checked its shape), once."""
    async with db.transaction() as session:
        claimed = await session.exec(
            insert(StripeEvent)
            .values(id=event.id, type=event.type, outcome="", received_at=now)
            .on_conflict_do_nothing()
            .returning(col(StripeEvent.id))
        )
        if claimed.first() is None:
            return Handled("duplicate: already handled")
        handled, payment_id = await _apply(session, event, now, meeting_provider)
        row = present(await session.get(StripeEvent, event.id), "claimed event")
        row.outcome, row.payment_id = handled.outcome[:200], payment_id
        session.add(row)
    log.info("stripe event %s %s: %s", event.id, event.type, handled.outcome)
    return handled


async def _apply(
    session: UnitOfWork, event: Event, now: datetime, meeting_provider: MeetingProvider | None
) -> tuple[Handled, uuid.UUID | None]:
    checkout = event.checkout
    if event.type not in PAID + UNPAID or checkout is None:
        return Handled(f"ignored: {event.type}"), None
    try:
        payment_id = uuid.UUID((checkout.metadata or {}).get("payment_id", ""))
    except ValueError:
        return Handled("ignored: not one of our checkouts"), None
    payment = await bookings.lock_payment(session, payment_id)
    if payment is None:
        return Handled("ignored: unknown payment"), None
    if event.type in UNPAID:
        if payment.status != "OPEN":
            return Handled(f"nothing to do: payment is {payment.status}"), payment.id
        await bookings.expire_unpaid(session, payment, "EXPIRED", now, "checkout expired")
        return Handled("expired"), payment.id
    if checkout.payment_status not in ("paid", "no_payment_required"):
        return Handled("waiting: not paid yet"), payment.id
    if payment.status == "PAID":
        return Handled("nothing to do: paid already"), payment.id
    payment.status, payment.paid_at = "PAID", now
    payment.payment_intent_id = checkout.payment_intent
    payment.checkout_session_id = payment.checkout_session_id or checkout.id
    session.add(payment)
    if payment.purpose == "PACKAGE":
        package = await _grant_bought(session, payment, now)
        return Handled(f"paid: package {package.id} granted"), payment.id
    refunds = await bookings.confirm_paid(session, payment, now, meeting_provider=meeting_provider)
    outcome = f"paid: {len(refunds)} refund(s) owed" if refunds else "paid: confirmed"
    return Handled(outcome, [r.id for r in refunds]), payment.id


async def _grant_bought(session: AsyncSession, payment: Payment, now: datetime) -> Any:
    bought = payment.package_grant or {}
    valid_days = bought.get("valid_days")
    grant = packages.Grant(
        student_id=payment.student_id,
        unit=bought["unit"],
        total=bought["total"],
        session_duration_minutes=bought.get("session_duration_minutes"),
        expires_at=now + timedelta(days=valid_days) if valid_days else None,
        notes=f"bought: {bought.get('name', '')}",
    )
    package = await packages.add_package(
        session, payment.tutor_id, grant, now, None, payment.template_id
    )
    payment.package_id = package.id
    return package


# ---------------------------------------------------------------- buying a package


async def buy_package(
    db: Database, cards: Cards | None, identity: Identity, template_id: uuid.UUID, now: datetime
) -> tuple[Payment, PackageTemplate]:
    """A Checkout Session for a priced template; the package is granted when payment completes."""
    if cards is None:
        raise InvalidInput("Card payments are not configured on this server", "input.templateId")
    async with db.transaction() as session:
        template = await session.get(PackageTemplate, template_id)
        if template is None or template.archived_at is not None:
            raise NotFound("No such package template (input.templateId)")
        if template.price_amount_minor is None or template.price_currency is None:
            raise InvalidInput("This package is not for sale", "input.templateId")
        student = await student_of_user(session, identity, now)
        payment = Payment(
            id=uuid.uuid4(),
            purpose="PACKAGE",
            status="OPEN",
            student_id=student.id,
            tutor_id=template.tutor_id,
            created_at=now,
            amount_minor=template.price_amount_minor,
            currency=template.price_currency,
            template_id=template.id,
            # What is bought is the template as it is now, whatever becomes of it later.
            package_grant={
                "name": template.name,
                "unit": template.unit,
                "total": template.total,
                "session_duration_minutes": template.session_duration_minutes,
                "valid_days": template.valid_days,
            },
            checkout_expires_at=now + CHECKOUT_MINIMUM,
        )
        session.add(payment)
    item = LineItem(template.name, payment.amount_minor, payment.currency)
    try:
        await cards.open_checkout(db, payment, [item], student.email)
    except CardError:
        async with db.transaction() as session:
            locked = present(await bookings.lock_payment(session, payment.id), "payment")
            await bookings.expire_unpaid(session, locked, "FAILED", now, "could not start")
        raise PolicyViolation(
            "Card payments are unavailable right now: try again shortly", Policy.PAYMENT_UNAVAILABLE
        ) from None
    return payment, template


async def payments_by_id(db: Database, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Payment]:
    async with db.session() as session:
        return {
            p.id: p for p in await session.exec(select(Payment).where(col(Payment.id).in_(ids)))
        }
