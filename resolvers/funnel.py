"""Funnel analytics: a booking page's events in, a tutor's or organization's counts out."""

from __future__ import annotations

import math
import uuid

import strawberry
from strawberry.types import Info

from domain import funnel, funnel_counts
from resolvers.common import mutate, parse_id, query
from schema.context import Context
from schema.funnel import (
    Funnel,
    FunnelEventInput,
    FunnelEventsRecorded,
    FunnelInput,
    RecordFunnelEventsResult,
)

# A batch of up to this many events costs one unit of the write budget, as one mutation:
# a booking page sends its steps together without using up what its visitor needs to book.
EVENTS_PER_UNIT = 10


def _id(value: str | None, type_name: str, field: str) -> uuid.UUID | None:
    return parse_id(value, type_name, field) if value is not None else None


def _event(event: FunnelEventInput, index: int) -> funnel.EventInput:
    prefix = f"events[{index}]"
    return funnel.EventInput(
        step=event.step,
        visit_id=event.visit_id,
        tutor_id=_id(event.tutor_id, "Tutor", f"{prefix}.tutorId"),
        service_id=_id(event.service_id, "Service", f"{prefix}.serviceId"),
        at=event.at,
        properties=event.properties,
    )


@strawberry.type
class Query:
    @strawberry.field(
        description="Funnel counts for the tutor's (or organization's) booking pages over a "
        "range (at most 366 days). Only that tutor and their organization's owners and admins; "
        "an organization's, its owners and admins."
    )
    async def funnel(self, info: Info[Context, None], input: FunnelInput) -> Funnel:
        identity = info.context.require_identity()

        async def work() -> funnel_counts.Report:
            ask = funnel_counts.FunnelQuery(
                start=input.from_,
                end=input.to,
                tutor_id=_id(input.tutor_id, "Tutor", "input.tutorId"),
                organization_id=_id(input.organization_id, "Organization", "input.organizationId"),
                service_id=_id(input.service_id, "Service", "input.serviceId"),
            )
            return await funnel_counts.funnel(info.context.db, identity, ask)

        return Funnel.of(await query(work()))


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description=f"A booking page's steps, 1 to {funnel.MAX_EVENTS} at once (anonymous "
        f"callers too); each {EVENTS_PER_UNIT} count as one mutation for the rate limit."
    )
    async def record_funnel_events(
        self, info: Info[Context, None], events: list[FunnelEventInput]
    ) -> RecordFunnelEventsResult:
        context = info.context
        # The gate took one unit for the field; a longer batch pays the rest here (a list over
        # the bound is refused whole, so it costs no more than the bound).
        units = math.ceil(min(len(events), funnel.MAX_EVENTS) / EVENTS_PER_UNIT)
        await context.spend(units - 1)

        async def work() -> int:
            # One past the bound is enough for the domain to refuse the list.
            asked = [_event(e, i) for i, e in enumerate(events[: funnel.MAX_EVENTS + 1])]
            return await funnel.record_events(
                context.db, asked, context.now(), context.settings.funnel.forwarding
            )

        return await mutate(work(), lambda count: FunnelEventsRecorded(count=count))
