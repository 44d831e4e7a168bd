"""Card payments: one Stripe Checkout Session each, their refunds, and the webhook events seen.

A payment pays for bookings waiting for payment (`bookings.payment_id`) or for a package bought
from a template. Amounts are captured when the payment is made: later price changes don't alter
them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Text, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.base import CreatedAt, id_field


def _ts(*, nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable))


class Payment(SQLModel, table=True):
    __tablename__ = "payments"

    id: uuid.UUID = id_field()
    purpose: str = Field(max_length=10)  # BOOKING or PACKAGE
    status: str = Field(max_length=10)  # OPEN, PAID, EXPIRED, FAILED
    student_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("students.id"), nullable=False, index=True)
    )
    tutor_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("tutors.id"), nullable=False))
    amount_minor: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    # What each booking of the payment costs (booking id -> minor units): the refund of one.
    booking_amounts: dict[str, int] = Field(
        default_factory=dict, sa_column=Column(JSONB, nullable=False)
    )
    # PACKAGE: the template as it was bought; the package granted once paid.
    template_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, ForeignKey("package_templates.id"), nullable=True)
    )
    package_grant: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    package_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, ForeignKey("packages.id"), nullable=True)
    )
    checkout_session_id: str | None = Field(default=None, max_length=255, unique=True)
    checkout_url: str | None = Field(default=None, sa_type=Text)
    checkout_expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    payment_intent_id: str | None = Field(default=None, max_length=255)
    paid_at: datetime | None = _ts()
    created_at: CreatedAt


class PaymentRefund(SQLModel, table=True):
    """Money owed back: written with the change that owes it, sent to Stripe after commit."""

    __tablename__ = "payment_refunds"

    id: uuid.UUID = id_field()
    payment_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("payments.id"), nullable=False, index=True)
    )
    booking_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, ForeignKey("bookings.id"), nullable=True)
    )
    amount_minor: int = Field(sa_type=BigInteger)
    reason: str = Field(max_length=200)
    status: str = Field(max_length=10)  # PENDING, SUCCEEDED
    stripe_refund_id: str | None = Field(default=None, max_length=255)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: CreatedAt


class StripeEvent(SQLModel, table=True):
    """Each webhook event once, keyed by Stripe's id: a replay finds its row and changes nothing."""

    __tablename__ = "stripe_events"

    id: str = Field(primary_key=True, max_length=255)
    type: str = Field(max_length=100)
    payment_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, nullable=True))
    outcome: str = Field(max_length=200)
    received_at: CreatedAt
