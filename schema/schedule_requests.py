"""Schedule-later requests, their list, and the mutations' inputs and results."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from strawberry.types import Info

from domain.schedule_requests import MAX_PAGE
from infra.db import present
from models import ScheduleRequest as RequestRow
from models import ScheduleRequestStatus
from schema.bookings import Booking, PageInfo
from schema.bounds import PageOf
from schema.context import Context
from schema.errors import InvalidInput, NotEligible, NotFound, PolicyViolation
from schema.node import Node
from schema.people import Student, Tutor, student_of, tutor_of
from schema.services import Service

# A page of requests when first is not given.
DEFAULT_PAGE = 20

# The GraphQL enum is the model's own: one vocabulary, checked by mypy.
strawberry.enum(ScheduleRequestStatus)


@strawberry.type(
    description="A student's wish to take a service without choosing a tutor or a time yet."
)
class ScheduleRequest(Node):
    row: strawberry.Private[RequestRow]
    status: ScheduleRequestStatus
    note: str | None
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: RequestRow) -> ScheduleRequest:
        return cls(pk=row.id, row=row, status=row.status, note=row.note, created_at=row.created_at)

    @strawberry.field
    async def service(self, info: Info[Context, None]) -> Service:
        found = await info.context.loaders.service.load(self.row.service_id)
        return Service.from_info(present(found, "request's service"))

    @strawberry.field
    async def student(self, info: Info[Context, None]) -> Student:
        return await student_of(info, self.row.student_id)

    @strawberry.field(
        description=(
            "The tutor asked for or assigned (once BOOKED, the booking's); null while open to "
            "any of the service's tutors."
        )
    )
    async def tutor(self, info: Info[Context, None]) -> Tutor | None:
        return await tutor_of(info, self.row.tutor_id) if self.row.tutor_id else None

    @strawberry.field(description="The booking that fulfilled it, once BOOKED.")
    async def booking(self, info: Info[Context, None]) -> Booking | None:
        if self.row.booking_id is None:
            return None
        found = await info.context.loaders.booking.load(self.row.booking_id)
        return Booking.from_row(found) if found is not None else None


@strawberry.type
class ScheduleRequestEdge:
    cursor: str
    node: ScheduleRequest


@strawberry.type
class ScheduleRequestConnection:
    edges: list[ScheduleRequestEdge] = strawberry.field(extensions=[PageOf(MAX_PAGE, DEFAULT_PAGE)])
    page_info: PageInfo
    total_count: int


@strawberry.input
class ScheduleRequestFilter:
    service_id: strawberry.ID | None = None
    status: list[ScheduleRequestStatus] | None = None


# ---------------------------------------------------------------- mutations


@strawberry.input
class RequestScheduleLaterInput:
    service_id: strawberry.ID
    tutor_id: strawberry.ID | None = strawberry.field(
        default=None,
        description=(
            "A tutor the student would like; omit to leave the choice to the service's tutors."
        ),
    )
    note: str | None = strawberry.field(default=None, description="At most 2,000 characters.")


@strawberry.type
class ScheduleLaterRequested:
    request: ScheduleRequest


RequestScheduleLaterResult = Annotated[
    ScheduleLaterRequested | NotEligible | InvalidInput | NotFound,
    strawberry.union("RequestScheduleLaterResult"),
]


@strawberry.input
class AssignScheduleRequestInput:
    request_id: strawberry.ID
    tutor_id: strawberry.ID = strawberry.field(
        description="Yourself; an organization's owners and admins may give any member."
    )


@strawberry.type
class ScheduleRequestAssigned:
    request: ScheduleRequest


AssignScheduleRequestResult = Annotated[
    ScheduleRequestAssigned | NotEligible | PolicyViolation | NotFound,
    strawberry.union("AssignScheduleRequestResult"),
]


@strawberry.type
class ScheduleRequestWithdrawn:
    request: ScheduleRequest


WithdrawScheduleRequestResult = Annotated[
    ScheduleRequestWithdrawn | PolicyViolation | NotFound,
    strawberry.union("WithdrawScheduleRequestResult"),
]
