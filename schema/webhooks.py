"""Outgoing webhooks: a tutor's endpoints and their deliveries, seen by the tutor who owns them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import strawberry
from strawberry.types import Info

from domain.webhook_delivery import message_id
from domain.webhooks import MAX_DELIVERIES_SHOWN
from models import WebhookDelivery as DeliveryRow
from models import WebhookEndpoint as EndpointRow
from models.webhooks import WebhookDeliveryStatus, WebhookEventType
from schema.bounds import AtMost
from schema.context import Context
from schema.errors import InvalidInput, NotFound, bad_user_input
from schema.node import Node

# The GraphQL enums are the model's own: one vocabulary, checked by mypy.
strawberry.enum(WebhookEventType)
strawberry.enum(WebhookDeliveryStatus)


@strawberry.type
class WebhookDelivery:
    id: strawberry.ID = strawberry.field(
        description="Also the webhook-id header the receiver sees, for de-duplication."
    )
    event_type: WebhookEventType
    status: WebhookDeliveryStatus
    attempts: int
    response_status: int | None = strawberry.field(
        description="The receiver's last HTTP status; null if it never answered."
    )
    error: str | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: DeliveryRow) -> WebhookDelivery:
        return cls(
            id=strawberry.ID(message_id(row.id)),
            event_type=row.event_type,
            status=row.status,
            attempts=row.attempts,
            response_status=row.response_status,
            error=row.error,
            created_at=row.created_at,
            delivered_at=row.delivered_at,
        )


@strawberry.type(
    description="Where a tutor's or organization's events are POSTed, signed the Standard "
    "Webhooks way."
)
class WebhookEndpoint(Node):
    url: str
    events: list[WebhookEventType] = strawberry.field(extensions=[AtMost(len(WebhookEventType))])
    active: bool
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: EndpointRow) -> WebhookEndpoint:
        return cls(
            pk=row.id,
            url=row.url,
            events=[WebhookEventType(e) for e in row.events],
            active=row.active,
            created_at=row.created_at,
        )

    @strawberry.field(
        description=f"Newest first (at most {MAX_DELIVERIES_SHOWN}).",
        extensions=[AtMost(MAX_DELIVERIES_SHOWN)],
    )
    async def deliveries(
        self, info: Info[Context, None], first: int | None = 20
    ) -> list[WebhookDelivery]:
        first = 20 if first is None else first
        if not 0 <= first <= MAX_DELIVERIES_SHOWN:
            raise bad_user_input(f"first: 0 to {MAX_DELIVERIES_SHOWN}", "first")
        rows = await info.context.loaders.webhook_deliveries.load((self.pk, first))
        return [WebhookDelivery.from_row(r) for r in rows]


async def own_endpoints(info: Info[Context, None], tutor_id: uuid.UUID) -> list[WebhookEndpoint]:
    rows = await info.context.loaders.webhook_endpoints.load(tutor_id)
    return [WebhookEndpoint.from_row(r) for r in rows]


@strawberry.input
class CreateWebhookEndpointInput:
    url: str
    events: list[WebhookEventType]
    organization_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Events of every member of this organization (owners and admins only); "
        "omit for your own.",
    )


@strawberry.type
class WebhookEndpointCreated:
    endpoint: WebhookEndpoint
    secret: str = strawberry.field(description="The signing secret (whsec_...), shown once.")


@strawberry.type
class WebhookEndpointDeleted:
    id: strawberry.ID


@strawberry.type
class WebhookPinged:
    delivery: WebhookDelivery


CreateWebhookEndpointResult = Annotated[
    WebhookEndpointCreated | InvalidInput | NotFound,
    strawberry.union("CreateWebhookEndpointResult"),
]
DeleteWebhookEndpointResult = Annotated[
    WebhookEndpointDeleted | NotFound, strawberry.union("DeleteWebhookEndpointResult")
]
PingWebhookEndpointResult = Annotated[
    WebhookPinged | NotFound, strawberry.union("PingWebhookEndpointResult")
]
