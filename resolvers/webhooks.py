"""Outgoing webhooks: a tutor makes, deletes and pings their endpoints."""

from __future__ import annotations

import uuid

import strawberry
from strawberry.types import Info

from domain import webhooks
from models import WebhookEndpoint as EndpointRow
from resolvers.common import mutate, parse_id
from schema.context import Context
from schema.node import decode_id_of
from schema.webhooks import (
    CreateWebhookEndpointInput,
    CreateWebhookEndpointResult,
    DeleteWebhookEndpointResult,
    PingWebhookEndpointResult,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointCreated,
    WebhookEndpointDeleted,
    WebhookPinged,
)


async def endpoint_by_pk(info: Info[Context, None], pk: uuid.UUID) -> WebhookEndpoint | None:
    """Only its owner sees an endpoint."""
    row = await info.context.loaders.webhook_endpoint.load(pk)
    identity = info.context.identity
    if row is None or identity is None:
        return None
    owner = await info.context.loaders.tutor.load(row.tutor_id)
    return WebhookEndpoint.from_row(row) if owner and owner.user_id == identity.sub else None


def _created(made: tuple[EndpointRow, str]) -> WebhookEndpointCreated:
    row, secret = made
    return WebhookEndpointCreated(endpoint=WebhookEndpoint.from_row(row), secret=secret)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="A webhook endpoint for your own events, or, with organizationId, for every "
        "member's (owners and admins; a member: FORBIDDEN). The secret is shown once."
    )
    async def create_webhook_endpoint(
        self, info: Info[Context, None], input: CreateWebhookEndpointInput
    ) -> CreateWebhookEndpointResult:
        identity = info.context.require_identity()
        context = info.context

        async def work() -> tuple[EndpointRow, str]:
            organization_id = (
                parse_id(input.organization_id, "Organization", "input.organizationId")
                if input.organization_id is not None
                else None
            )
            return await webhooks.create_endpoint(
                context.db,
                context.cipher,
                identity,
                input.url,
                input.events,
                organization_id,
                context.now(),
                context.settings.webhooks.allow_private_targets,
            )

        return await mutate(work(), _created)

    @strawberry.mutation(description="The endpoint and its deliveries go.")
    async def delete_webhook_endpoint(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> DeleteWebhookEndpointResult:
        identity = info.context.require_identity()
        work = webhooks.delete_endpoint(
            info.context.db, identity, decode_id_of(id, "WebhookEndpoint")
        )
        return await mutate(work, lambda _: WebhookEndpointDeleted(id=id))

    @strawberry.mutation(
        description="Send a PING now (through the background queue); a delivered ping turns a "
        "deactivated endpoint back on."
    )
    async def ping_webhook_endpoint(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> PingWebhookEndpointResult:
        identity = info.context.require_identity()
        work = webhooks.ping(
            info.context.db, identity, decode_id_of(id, "WebhookEndpoint"), info.context.now()
        )
        return await mutate(work, lambda row: WebhookPinged(delivery=WebhookDelivery.from_row(row)))
