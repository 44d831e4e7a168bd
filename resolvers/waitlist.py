"""The waitlist: a student joins and leaves it; entries by id for whoever may see them."""

from __future__ import annotations

import uuid

import strawberry
from strawberry.types import Info

from domain import waitlist
from domain.errors import NotFound
from resolvers.common import mutate, parse_id
from schema.context import Context
from schema.node import decode_id_of
from schema.waitlist import (
    JoinWaitlistInput,
    JoinWaitlistResult,
    LeaveWaitlistResult,
    WaitlistEntry,
    WaitlistJoined,
    WaitlistLeft,
)


async def entry_by_pk(info: Info[Context, None], pk: uuid.UUID) -> WaitlistEntry | None:
    """Its student, and whoever manages its tutor (or one of the service's, for any tutor)."""
    row = await info.context.loaders.waitlist_entry.load(pk)
    return WaitlistEntry.from_row(row) if row is not None else None


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Wait for time to come free inside a window (at most 31 days) with a "
        "tutor, or any of the service's tutors. The service's enrollment rule applies. One "
        "active entry per service and overlapping window (another: InvalidInput on "
        f"input.from), at most {waitlist.MAX_ACTIVE} active entries."
    )
    async def join_waitlist(
        self, info: Info[Context, None], input: JoinWaitlistInput
    ) -> JoinWaitlistResult:
        identity = info.context.require_identity()
        context = info.context

        async def work() -> WaitlistEntry:
            request = waitlist.JoinRequest(
                service_id=parse_id(input.service_id, "Service", "input.serviceId"),
                tutor_id=(
                    parse_id(input.tutor_id, "Tutor", "input.tutorId")
                    if input.tutor_id is not None
                    else None
                ),
                start=input.from_,
                end=input.to,
                duration_minutes=input.duration_minutes,
            )
            row = await waitlist.join(context.db, identity, request, context.now())
            return WaitlistEntry.from_row(row)

        return await mutate(work(), lambda entry: WaitlistJoined(entry=entry))

    @strawberry.mutation(
        description="The student leaves: WITHDRAWN. An entry no longer waiting or offered: "
        "PolicyViolation INVALID_TRANSITION."
    )
    async def leave_waitlist(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> LeaveWaitlistResult:
        identity = info.context.require_identity()
        context = info.context

        async def work() -> WaitlistEntry:
            pk = decode_id_of(id, "WaitlistEntry")
            if pk is None:
                raise NotFound("No such waitlist entry")
            row = await waitlist.leave(context.db, identity, pk, context.now())
            return WaitlistEntry.from_row(row)

        return await mutate(work(), lambda entry: WaitlistLeft(entry=entry))
