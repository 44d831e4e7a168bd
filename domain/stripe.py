"""Stripe, through the real `stripe` library: Checkout Sessions, refunds and webhook signatures.

Every call that moves money carries a fixed idempotency key made from our own row's id, so a
retried request (ours, or the library's own network retries) never pays or refunds twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

import stripe
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, field_validator
from sqlmodel import col, select, update

from infra.db import Database, present
from infra.settings import StripeSettings
from models import Payment, PaymentRefund

log = logging.getLogger("booking_api.stripe")

# Stripe refuses a Checkout Session that expires less than 30 minutes after it is made.
CHECKOUT_MINIMUM = timedelta(minutes=31)
SIGNATURE_TOLERANCE_SECONDS = 300


class CardError(Exception):
    """Stripe could not be reached, or refused the call."""


class BadSignature(Exception):
    """A webhook body that was not signed with our endpoint's secret, or signed too long ago."""


class MalformedEvent(Exception):
    """A correctly signed webhook body that is not an event of the shape we read."""


# Stripe's ids are at most 255 characters (our columns' size too): letters, digits, underscores.
StripeId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]+$", max_length=255)]


class _Read(BaseModel):
    """The fields we read of what Stripe sends; others are ignored. Strict: no coercion."""

    model_config = ConfigDict(strict=True, frozen=True)


class CheckoutSession(_Read):
    id: StripeId
    # Stripe's metadata: string keys (up to 40 characters) and values (up to 500).
    metadata: (
        dict[
            Annotated[str, StringConstraints(max_length=40)],
            Annotated[str, StringConstraints(max_length=500)],
        ]
        | None
    ) = None
    payment_status: Annotated[str, StringConstraints(max_length=40)] | None = None
    payment_intent: StripeId | None = None

    @field_validator("payment_intent", mode="before")
    @classmethod
    def _expanded(cls, value: Any) -> Any:
        """An expanded object stands for its id."""
        return value.get("id") if isinstance(value, dict) else value


class EventData(_Read):
    object: dict[str, Any]


class _Envelope(_Read):
    id: Annotated[str, StringConstraints(pattern=r"^evt_[A-Za-z0-9_]+$", max_length=255)]
    type: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_.]+$", max_length=100)]
    data: EventData


@dataclass(frozen=True)
class Event:
    """A verified webhook event, as we read it."""

    id: str
    type: str
    # The Checkout Session a checkout.session.* event is about.
    checkout: CheckoutSession | None


def parse_event(payload: str) -> Event:
    """The event in a verified webhook body, checked in this one place for the shape we read."""
    try:
        envelope = _Envelope.model_validate_json(payload)
    except ValidationError as error:
        raise MalformedEvent(_first(error)) from None
    if not envelope.type.startswith("checkout.session."):
        return Event(envelope.id, envelope.type, None)
    try:
        checkout = CheckoutSession.model_validate(envelope.data.object)
    except ValidationError as error:
        raise MalformedEvent(_first(error, "data.object")) from None
    return Event(envelope.id, envelope.type, checkout)


def _first(error: ValidationError, prefix: str = "") -> str:
    """The first problem, named by its path in the event: `data.object.metadata: …`."""
    problem = error.errors()[0]
    path = ".".join([*([prefix] if prefix else []), *(str(part) for part in problem["loc"])])
    return f"{path or 'the body'}: {problem['msg']}"


@dataclass(frozen=True)
class LineItem:
    name: str
    amount_minor: int
    currency: str
    description: str | None = None


def checkout_expiry(hold_until: datetime, now: datetime) -> datetime:
    """When the Checkout Session closes: with the hold, or as soon after as Stripe allows.

    A payment made after the hold lapsed takes the late path: confirmed if the time is still
    free, refunded otherwise."""
    return max(hold_until, now + CHECKOUT_MINIMUM)


class Cards:
    """Card payments as configured: the Stripe client, the hold length and the return pages."""

    def __init__(self, settings: StripeSettings, hold_minutes: int) -> None:
        self.settings = settings
        self.hold = timedelta(minutes=hold_minutes)
        self.client = stripe.StripeClient(
            settings.secret_key,
            base_addresses={"api": settings.api_base},
            http_client=stripe.HTTPXClient(timeout=15),
            max_network_retries=2,
        )

    async def open_checkout(
        self, db: Database, payment: Payment, items: Sequence[LineItem], email: str | None
    ) -> str:
        """A Checkout Session for the committed payment, recorded on it; the URL to pay at."""
        metadata = {"payment_id": str(payment.id), "purpose": payment.purpose}
        if payment.booking_amounts:
            metadata["booking_id"] = next(iter(payment.booking_amounts))
        params: dict[str, Any] = {
            "mode": "payment",
            "client_reference_id": str(payment.id),
            "success_url": self.settings.success_url,
            "cancel_url": self.settings.cancel_url,
            "expires_at": int(payment.checkout_expires_at.timestamp()),
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": item.currency.lower(),
                        "unit_amount": item.amount_minor,
                        "product_data": {
                            "name": item.name,
                            **({"description": item.description} if item.description else {}),
                        },
                    },
                }
                for item in items
            ],
        }
        if email:
            params["customer_email"] = email
        try:
            session = await self.client.v1.checkout.sessions.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": f"checkout-{payment.id}"},
            )
        except stripe.StripeError as error:
            log.warning("checkout for payment %s failed: %s", payment.id, error)
            raise CardError(str(error)) from error
        payment.checkout_session_id, payment.checkout_url = str(session.id), str(session.url)
        async with db.transaction() as transaction:
            # Only these two columns: a webhook may already have settled the payment.
            await transaction.exec(
                update(Payment)
                .where(col(Payment.id) == payment.id)
                .values(checkout_session_id=session.id, checkout_url=session.url)
            )
        return payment.checkout_url

    async def expire_checkout(self, session_id: str) -> None:
        """Close a Checkout Session nobody should pay any more. Best effort: a payment that
        still arrives is refunded by the webhook."""
        try:
            await self.client.v1.checkout.sessions.expire_async(session_id)
        except stripe.StripeError as error:
            log.warning("could not expire checkout %s: %s", session_id, error)

    async def _refund(self, refund: PaymentRefund, payment_intent: str) -> str:
        created = await self.client.v1.refunds.create_async(
            {
                "payment_intent": payment_intent,
                "amount": refund.amount_minor,
                "metadata": {"refund_id": str(refund.id), "payment_id": str(refund.payment_id)},
            },
            {"idempotency_key": f"refund-{refund.id}"},
        )
        return str(created.id)

    async def settle_refunds(self, db: Database, ids: Sequence[uuid.UUID]) -> None:
        """Send owed refunds to Stripe; one that fails stays PENDING with its error, to retry."""
        for refund_id in ids:
            async with db.transaction() as session:
                refund = (
                    await session.exec(
                        select(PaymentRefund)
                        .where(PaymentRefund.id == refund_id, PaymentRefund.status == "PENDING")
                        .with_for_update(skip_locked=True)
                    )
                ).first()
                if refund is None:
                    continue  # done already, or another process is sending it
                payment = present(await session.get(Payment, refund.payment_id), "payment")
                intent = present(payment.payment_intent_id, "refunded payment's intent")
                refund.attempts += 1
                try:
                    refund.stripe_refund_id = await self._refund(refund, intent)
                    refund.status = "SUCCEEDED"
                    refund.last_error = None
                except stripe.StripeError as error:
                    log.warning("refund %s failed: %s", refund.id, error)
                    refund.last_error = str(error)[:2000]
                session.add(refund)

    async def settle_pending(self, db: Database) -> tuple[int, int]:
        """Retry every refund still owed: (sent now, still pending)."""
        async with db.session() as session:
            owed = list(
                await session.exec(
                    select(PaymentRefund.id).where(PaymentRefund.status == "PENDING")
                )
            )
        await self.settle_refunds(db, owed)
        async with db.session() as session:
            left = list(
                await session.exec(
                    select(PaymentRefund.id).where(
                        col(PaymentRefund.id).in_(owed), PaymentRefund.status == "PENDING"
                    )
                )
            )
        return len(owed) - len(left), len(left)

    def event(self, body: bytes, header: str) -> Event:
        """The webhook event in `body`, once its signature is checked against the raw bytes."""
        try:
            payload = body.decode("utf-8")
            stripe.WebhookSignature.verify_header(
                payload, header, self.settings.webhook_secret, SIGNATURE_TOLERANCE_SECONDS
            )
        except (stripe.SignatureVerificationError, UnicodeDecodeError) as error:
            raise BadSignature(str(error)) from None
        return parse_event(payload)
