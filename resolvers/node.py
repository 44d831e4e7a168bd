"""node(id): any object by its global ID, under the same visibility rules as its own query."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from uuid import UUID

import strawberry
from strawberry.types import Info

from models import AvailabilityOverride as OverrideRow
from resolvers.bookings import booking_by_pk
from resolvers.forms import question_by_pk
from resolvers.organizations import invitation_by_pk, organization_by_pk
from resolvers.packages import package_by_pk, template_by_pk
from resolvers.people import student_by_pk, tutor_by_pk
from resolvers.reviews import review_by_pk
from resolvers.schedule_requests import request_by_pk
from resolvers.services import service_by_pk
from resolvers.waitlist import entry_by_pk
from resolvers.webhooks import endpoint_by_pk
from schema.availability import AvailabilityOverride, Schedule
from schema.bounds import AtMost
from schema.context import Context
from schema.errors import bad_user_input
from schema.node import Node, decode_id
from schema.services import viewer_manages

NodeLoader = Callable[[Info[Context, None], UUID], Awaitable[Node | None]]


async def schedule_by_pk(info: Info[Context, None], pk: UUID) -> Schedule | None:
    row = await info.context.loaders.schedule.load(pk)
    if row is None or not await viewer_manages(info, row.tutor_id):
        return None
    return Schedule.from_row(row)


async def override_by_pk(info: Info[Context, None], pk: UUID) -> AvailabilityOverride | None:
    async with info.context.db.session() as session:
        row = await session.get(OverrideRow, pk)
    if row is None or await schedule_by_pk(info, row.schedule_id) is None:
        return None
    return AvailabilityOverride.from_row(row)


NODE_LOADERS: dict[str, NodeLoader] = {
    "Tutor": tutor_by_pk,
    "Student": student_by_pk,
    "Service": service_by_pk,
    "Schedule": schedule_by_pk,
    "AvailabilityOverride": override_by_pk,
    "Booking": booking_by_pk,
    "Package": package_by_pk,
    "PackageTemplate": template_by_pk,
    "Organization": organization_by_pk,
    "OrganizationInvitation": invitation_by_pk,
    "FormQuestion": question_by_pk,
    "WebhookEndpoint": endpoint_by_pk,
    "ScheduleRequest": request_by_pk,
    "WaitlistEntry": entry_by_pk,
    "Review": review_by_pk,
}


MAX_NODES = 100


async def node_by_id(info: Info[Context, None], id: str) -> Node | None:
    decoded = decode_id(id)
    if decoded is None or decoded[0] not in NODE_LOADERS:
        return None
    return await NODE_LOADERS[decoded[0]](info, decoded[1])


@strawberry.type
class Query:
    @strawberry.field
    async def node(self, info: Info[Context, None], id: strawberry.ID) -> Node | None:
        return await node_by_id(info, id)

    @strawberry.field(
        description=(
            f"Several nodes at once (at most {MAX_NODES}), in order, null where not found or "
            "not visible."
        ),
        extensions=[AtMost(MAX_NODES)],
    )
    async def nodes(self, info: Info[Context, None], ids: list[strawberry.ID]) -> list[Node | None]:
        if len(ids) > MAX_NODES:
            raise bad_user_input(f"At most {MAX_NODES} ids", "ids")
        # Concurrently, so that each type's DataLoader reads its rows in one batch.
        return list(await asyncio.gather(*(node_by_id(info, id) for id in ids)))
