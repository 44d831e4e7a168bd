"""Services: public to read, changed only by their tutors."""

from __future__ import annotations

import uuid
from dataclasses import fields

import strawberry
from strawberry.types import Info

from domain import services
from domain.service_rules import ServiceRules
from domain.services import ServiceInfo
from resolvers.common import mutate, parse_id
from schema.context import Context
from schema.node import decode_id_of
from schema.services import (
    CreateServiceInput,
    SaveServiceResult,
    Service,
    ServiceSaved,
    UpdateServiceInput,
)

# Nullable settings where an explicit null means something (no limit; the default schedule;
# listed durations only).
CLEARABLE = frozenset({"max_reschedules", "schedule_id", "custom_duration"})


def rules_from(input: CreateServiceInput | UpdateServiceInput) -> ServiceRules:
    """Input to domain settings: ids parsed (naming the field), UNSET and null left out."""
    values: dict[str, object] = {}
    cleared: set[str] = set()
    for f in fields(ServiceRules):
        if f.name == "cleared" or not hasattr(input, f.name):
            continue
        value = getattr(input, f.name)
        if value is strawberry.UNSET:
            continue
        if value is None:
            if f.name in CLEARABLE:
                cleared.add(f.name)
            continue
        if f.name == "tutor_ids":
            value = [parse_id(v, "Tutor", f"input.tutorIds.{i}") for i, v in enumerate(value)]
        elif f.name == "schedule_id":
            value = parse_id(value, "Schedule", "input.scheduleId")
        elif f.name == "organization_id":
            value = parse_id(value, "Organization", "input.organizationId")
        elif f.name == "durations":
            value = [d.to_domain() for d in value]
        elif f.name == "custom_duration":
            value = value.to_domain()
        elif f.name == "kind":
            value = value.value
        elif f.name == "reminders":
            value = [r.to_domain() for r in value]
        values[f.name] = value
    return ServiceRules(**values, cleared=frozenset(cleared))  # type: ignore[arg-type]


def _saved(info: ServiceInfo) -> ServiceSaved:
    return ServiceSaved(service=Service.from_info(info))


async def service_by_pk(info: Info[Context, None], pk: uuid.UUID) -> Service | None:
    found = await info.context.loaders.service.load(pk)
    return Service.from_info(found) if found else None


@strawberry.type
class Query:
    @strawberry.field
    async def service(self, info: Info[Context, None], id: strawberry.ID) -> Service | None:
        pk = decode_id_of(id, "Service")
        return await service_by_pk(info, pk) if pk else None


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_service(
        self, info: Info[Context, None], input: CreateServiceInput
    ) -> SaveServiceResult:
        identity = info.context.require_identity()

        async def work() -> ServiceInfo:
            context = info.context
            return await services.create_service(
                context.db, identity, rules_from(input), context.now()
            )

        return await mutate(work(), _saved)

    @strawberry.mutation(
        description="Change a service's settings: its tutors may, and its organization's owners "
        "and admins. A tutor may always leave it (tutorIds without them) while another stays."
    )
    async def update_service(
        self, info: Info[Context, None], input: UpdateServiceInput
    ) -> SaveServiceResult:
        identity = info.context.require_identity()

        async def work() -> ServiceInfo:
            service_id = parse_id(input.id, "Service", "input.id")
            return await services.update_service(
                info.context.db, identity, service_id, rules_from(input), info.context.now()
            )

        return await mutate(work(), _saved)
