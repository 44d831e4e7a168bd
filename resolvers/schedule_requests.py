"""Schedule later: students ask, the service's tutors (or owners and admins) assign, the
student withdraws; the list and node(id) show what the access rule lets the caller see."""

from __future__ import annotations

import uuid

import strawberry
from strawberry.types import Info

from domain import schedule_requests
from domain.errors import NotFound
from models import ScheduleRequest as RequestRow
from resolvers.common import mutate, parse_id, query
from schema.bookings import PageInfo
from schema.context import Context
from schema.node import decode_id_of
from schema.schedule_requests import (
    DEFAULT_PAGE,
    AssignScheduleRequestInput,
    AssignScheduleRequestResult,
    RequestScheduleLaterInput,
    RequestScheduleLaterResult,
    ScheduleLaterRequested,
    ScheduleRequest,
    ScheduleRequestAssigned,
    ScheduleRequestConnection,
    ScheduleRequestEdge,
    ScheduleRequestFilter,
    ScheduleRequestWithdrawn,
    WithdrawScheduleRequestResult,
)


async def request_by_pk(info: Info[Context, None], pk: uuid.UUID) -> ScheduleRequest | None:
    row = await info.context.loaders.schedule_request.load(pk)
    return ScheduleRequest.from_row(row) if row is not None else None


def _request_id(value: str) -> uuid.UUID:
    """A request id for results with no InvalidInput member: an unknown one is NotFound."""
    pk = decode_id_of(value, "ScheduleRequest")
    if pk is None:
        raise NotFound("No such request")
    return pk


def _filter(where: ScheduleRequestFilter | None) -> schedule_requests.RequestFilter:
    if where is None:
        return schedule_requests.RequestFilter()
    return schedule_requests.RequestFilter(
        service_id=parse_id(where.service_id, "Service", "filter.serviceId")
        if where.service_id is not None
        else None,
        statuses=where.status,
    )


def _connection(page: schedule_requests.RequestPage) -> ScheduleRequestConnection:
    edges = [
        ScheduleRequestEdge(
            cursor=schedule_requests.cursor_of(row), node=ScheduleRequest.from_row(row)
        )
        for row in page.rows
    ]
    return ScheduleRequestConnection(
        edges=edges,
        page_info=PageInfo.of([e.cursor for e in edges], page.has_next, page.has_previous),
        total_count=page.total,
    )


@strawberry.type
class Query:
    @strawberry.field(
        description=(
            "Schedule-later requests the viewer may see, oldest first: their own as a student; "
            "as a tutor, the open ones of their services and those assigned to them; as an "
            "owner or admin, the same for every member. first: 1 to 100, default 20."
        )
    )
    async def schedule_requests(
        self,
        info: Info[Context, None],
        filter: ScheduleRequestFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> ScheduleRequestConnection:
        identity = info.context.require_identity()

        async def work() -> schedule_requests.RequestPage:
            return await schedule_requests.list_requests(
                info.context.db,
                identity,
                _filter(filter),
                first if first is not None else DEFAULT_PAGE,
                after,
            )

        return _connection(await query(work()))


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description=(
            "A signed-in student asks to take a service later; the service's enrollment rule "
            "applies. At most one open or assigned request per service: a second is InvalidInput "
            "on input.serviceId."
        )
    )
    async def request_schedule_later(
        self, info: Info[Context, None], input: RequestScheduleLaterInput
    ) -> RequestScheduleLaterResult:
        identity = info.context.require_identity()

        async def work() -> RequestRow:
            return await schedule_requests.request_schedule_later(
                info.context.db,
                identity,
                parse_id(input.service_id, "Service", "input.serviceId"),
                parse_id(input.tutor_id, "Tutor", "input.tutorId")
                if input.tutor_id is not None
                else None,
                input.note,
                info.context.now(),
            )

        return await mutate(
            work(), lambda r: ScheduleLaterRequested(request=ScheduleRequest.from_row(r))
        )

    @strawberry.mutation(
        description=(
            "A tutor of the service takes the request, or an organization's owner or admin "
            "gives it to a member who teaches the service; the student is emailed a link to "
            "book them. An assigned request may be given to another tutor."
        )
    )
    async def assign_schedule_request(
        self, info: Info[Context, None], input: AssignScheduleRequestInput
    ) -> AssignScheduleRequestResult:
        identity = info.context.require_identity()

        async def work() -> RequestRow:
            tutor_id = decode_id_of(input.tutor_id, "Tutor")
            if tutor_id is None:
                raise NotFound("No such tutor (input.tutorId)")
            return await schedule_requests.assign_request(
                info.context.db,
                identity,
                _request_id(input.request_id),
                tutor_id,
                info.context.now(),
            )

        return await mutate(
            work(), lambda r: ScheduleRequestAssigned(request=ScheduleRequest.from_row(r))
        )

    @strawberry.mutation(description="The student withdraws their open or assigned request.")
    async def withdraw_schedule_request(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> WithdrawScheduleRequestResult:
        identity = info.context.require_identity()

        async def work() -> RequestRow:
            return await schedule_requests.withdraw_request(
                info.context.db, identity, _request_id(id)
            )

        return await mutate(
            work(), lambda r: ScheduleRequestWithdrawn(request=ScheduleRequest.from_row(r))
        )
