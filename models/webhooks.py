"""Outgoing webhooks: where a tutor's (or an organization's) events are POSTed, and each event's
delivery to each endpoint, with the outcome of its attempts."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    String,
    Text,
    Uuid,
    text,
    true,
)
from sqlmodel import Field, SQLModel

from models.base import CreatedAt, enum_field, id_field


class WebhookEventType(StrEnum):
    """What an endpoint may hear of (the GraphQL enum WebhookEventType is this class)."""

    BOOKING_CREATED = "BOOKING_CREATED"
    BOOKING_CONFIRMED = "BOOKING_CONFIRMED"
    BOOKING_RESCHEDULED = "BOOKING_RESCHEDULED"
    BOOKING_CANCELLED = "BOOKING_CANCELLED"
    BOOKING_COMPLETED = "BOOKING_COMPLETED"
    BOOKING_NO_SHOW = "BOOKING_NO_SHOW"
    BOOKING_EXPIRED = "BOOKING_EXPIRED"
    FORM_SUBMITTED = "FORM_SUBMITTED"
    SCHEDULE_REQUEST_CREATED = "SCHEDULE_REQUEST_CREATED"
    PACKAGE_LOW_BALANCE = "PACKAGE_LOW_BALANCE"
    WAITLIST_OFFERED = "WAITLIST_OFFERED"
    REVIEW_SUBMITTED = "REVIEW_SUBMITTED"
    BOOKING_REMINDER = "BOOKING_REMINDER"
    FORM_REMINDER = "FORM_REMINDER"
    PACKAGE_EXPIRING = "PACKAGE_EXPIRING"
    PING = "PING"


class WebhookDeliveryStatus(StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


def _ts(*, nullable: bool = True) -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=nullable)


class WebhookEndpoint(SQLModel, table=True):
    """Owned by the tutor who made it; with an organization, it hears every member's events.
    The signing secret is encrypted (infra.crypto)."""

    __tablename__ = "webhook_endpoints"

    id: uuid.UUID = id_field()
    tutor_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid, ForeignKey("tutors.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    organization_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(
            Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=True, index=True
        ),
    )
    url: str = Field(sa_type=Text)
    events: list[str] = Field(sa_column=Column(ARRAY(String(40)), nullable=False))
    secret: str = Field(sa_type=Text)
    active: bool = Field(
        default=True, sa_column=Column(Boolean, nullable=False, server_default=true())
    )
    # The first failed attempt since the last success; three days of it deactivates.
    failing_since: datetime | None = Field(default=None, sa_column=_ts())
    created_at: CreatedAt


class WebhookDelivery(SQLModel, table=True):
    """One event for one endpoint: the body signed and sent, the same on every attempt, and
    what the last attempt got. Its id is the `webhook-id` receivers de-duplicate by."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The endpoint's deliveries, newest first.
        Index("ix_webhook_deliveries_endpoint_seq", "endpoint_id", "seq"),
        # An earlier delivery of the same subject to the same endpoint still on its way.
        Index(
            "ix_webhook_deliveries_pending_subject",
            "endpoint_id",
            "subject_id",
            "seq",
            postgresql_where=text("status = 'PENDING'"),
        ),
    )

    id: uuid.UUID = id_field()
    # The order events happened in (a booking's deliveries go out in it).
    seq: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), nullable=False))
    endpoint_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid, ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False
        )
    )
    event_type: WebhookEventType = enum_field(WebhookEventType, 40)
    # What the event is about (a booking): one subject's deliveries go out in order.
    subject_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, nullable=True))
    body: str = Field(sa_type=Text)
    status: WebhookDeliveryStatus = enum_field(WebhookDeliveryStatus, 10)
    attempts: int = 0
    response_status: int | None = None
    error: str | None = Field(default=None, sa_type=Text)
    # Parked behind an earlier delivery of its subject, which starts it when it is done.
    waiting: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false"))
    )
    created_at: CreatedAt
    delivered_at: datetime | None = Field(default=None, sa_column=_ts())
