"""The waitlist: entries, joining and leaving."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated
from zoneinfo import ZoneInfo

import strawberry
from strawberry.types import Info

from domain import slots as engine
from domain import waitlist
from infra.db import present
from models.waitlist import WaitlistEntry as EntryRow
from models.waitlist import WaitlistStatus
from schema.context import Context
from schema.errors import InvalidInput, NotEligible, NotFound, PolicyViolation
from schema.node import Node
from schema.people import Student, Tutor, student_of, tutor_of
from schema.services import Service
from schema.slots import Slot, slot_of

strawberry.enum(WaitlistStatus)

UTC_ZONE = ZoneInfo("UTC")


@strawberry.type(
    description="A student waiting for time to come free with a tutor (or any of a service's "
    "tutors) inside a window."
)
class WaitlistEntry(Node):
    row: strawberry.Private[EntryRow]
    from_: dt.datetime = strawberry.field(name="from")
    to: dt.datetime
    duration_minutes: int
    status: WaitlistStatus
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: EntryRow) -> WaitlistEntry:
        return cls(
            pk=row.id,
            row=row,
            from_=row.from_at,
            to=row.to_at,
            duration_minutes=row.duration_minutes,
            status=row.status,
            created_at=row.created_at,
        )

    @strawberry.field
    async def service(self, info: Info[Context, None]) -> Service:
        found = await info.context.loaders.service.load(self.row.service_id)
        return Service.from_info(present(found, "entry's service"))

    @strawberry.field(description="Null: any of the service's tutors.")
    async def tutor(self, info: Info[Context, None]) -> Tutor | None:
        tutor_id = self.row.tutor_id
        return await tutor_of(info, tutor_id) if tutor_id is not None else None

    @strawberry.field
    async def student(self, info: Info[Context, None]) -> Student:
        return await student_of(info, self.row.student_id)

    @strawberry.field(description="While OFFERED: the free slot the student was told about.")
    async def offered_slot(self, info: Info[Context, None]) -> Slot | None:
        row = self.row
        if (
            row.status != WaitlistStatus.OFFERED
            or row.offered_tutor_id is None
            or row.offered_start is None
            or row.offered_end is None
        ):
            return None
        found = await info.context.loaders.service.load(row.service_id)
        options = present(found, "entry's service").durations
        option = next((d for d in options if d.minutes == row.duration_minutes), None)
        if option is None:  # the length was withdrawn from the service since
            return None
        tutor = await tutor_of(info, row.offered_tutor_id)
        slot = engine.Slot(row.offered_start, row.offered_end, 1)
        return slot_of(tutor, option, slot, UTC_ZONE)


@strawberry.input
class JoinWaitlistInput:
    service_id: strawberry.ID
    tutor_id: strawberry.ID | None = None
    from_: dt.datetime = strawberry.field(name="from")
    to: dt.datetime = strawberry.field(description="At most 31 days after from.")
    duration_minutes: int | None = None


@strawberry.type
class WaitlistJoined:
    entry: WaitlistEntry


JoinWaitlistResult = Annotated[
    WaitlistJoined | NotEligible | InvalidInput | NotFound,
    strawberry.union("JoinWaitlistResult"),
]


@strawberry.type
class WaitlistLeft:
    entry: WaitlistEntry


LeaveWaitlistResult = Annotated[
    WaitlistLeft | PolicyViolation | NotFound, strawberry.union("LeaveWaitlistResult")
]


async def of_tutor(info: Info[Context, None], tutor_id: uuid.UUID) -> list[WaitlistEntry]:
    """Tutor.waitlist, through the viewer's loader (one batch for a list of tutors)."""
    rows = await info.context.loaders.waitlist_of_tutor.load(tutor_id)
    return [WaitlistEntry.from_row(r) for r in rows]


async def of_viewer(info: Info[Context, None]) -> list[WaitlistEntry]:
    rows = await waitlist.student_waitlist(info.context.db, info.context.identity)
    return [WaitlistEntry.from_row(r) for r in rows]
