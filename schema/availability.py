"""Schedules, weekly rules and overrides."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from domain import availability, bookings
from models import AvailabilityOverride as OverrideRow
from models import AvailabilityRule as RuleRow
from models import Schedule as ScheduleRow
from schema.bounds import AtMost
from schema.context import Context
from schema.errors import InvalidInput, NotFound, OverlappingRules
from schema.node import Node
from schema.scalars import TimeZone

if TYPE_CHECKING:
    from schema.bookings import Booking


@strawberry.enum
class Weekday(Enum):
    MONDAY = 0
    TUESDAY = 1
    WEDNESDAY = 2
    THURSDAY = 3
    FRIDAY = 4
    SATURDAY = 5
    SUNDAY = 6


@strawberry.type
class AvailabilityRule:
    weekday: Weekday
    start: dt.time
    end: dt.time

    @classmethod
    def from_row(cls, row: RuleRow) -> AvailabilityRule:
        return cls(weekday=Weekday(row.weekday), start=row.start_time, end=row.end_time)


@strawberry.input
class AvailabilityRuleInput:
    weekday: Weekday
    start: dt.time
    end: dt.time

    def to_domain(self) -> availability.RuleInput:
        return availability.RuleInput(self.weekday.value, self.start, self.end)


@strawberry.type(
    description=(
        "A change to one date of a schedule: a whole day blocked (available false, no times), "
        "a range blocked (available false, with times), or extra hours (available true, with "
        "times); an available one may set the seats (capacity)."
    )
)
class AvailabilityOverride(Node):
    date: dt.date
    start: dt.time | None
    end: dt.time | None
    available: bool
    capacity: int | None = strawberry.field(
        description=(
            "Seats for every service using the schedule, instead of each service's capacity: "
            "within this override's times, or for the whole date when it is available with no "
            "times (then it changes only the seats)."
        )
    )

    @classmethod
    def from_row(cls, row: OverrideRow) -> AvailabilityOverride:
        return cls(
            pk=row.id,
            date=row.on_date,
            start=row.start_time,
            end=row.end_time,
            available=row.available,
            capacity=row.capacity,
        )


@strawberry.type(
    description=(
        "Named weekly hours in one time zone, with date overrides. A tutor may keep several "
        "(session hours, check-in hours)."
    )
)
class Schedule(Node):
    name: str
    time_zone: TimeZone
    is_default: bool

    @classmethod
    def from_row(cls, row: ScheduleRow) -> Schedule:
        return cls(
            pk=row.id, name=row.name, time_zone=TimeZone(row.time_zone), is_default=row.is_default
        )

    @strawberry.field(extensions=[AtMost(availability.MAX_RULES)])
    async def rules(self, info: Info[Context, None]) -> list[AvailabilityRule]:
        return [
            AvailabilityRule.from_row(r) for r in await info.context.loaders.rules.load(self.pk)
        ]

    @strawberry.field(extensions=[AtMost(400)])
    async def overrides(
        self,
        info: Info[Context, None],
        from_: Annotated[dt.date | None, strawberry.argument(name="from")] = None,
        to: dt.date | None = None,
    ) -> list[AvailabilityOverride]:
        async with info.context.db.session() as session:
            found = await availability.overrides_of_schedules(session, [self.pk], from_, to)
        return [AvailabilityOverride.from_row(o) for o in found.get(self.pk, [])]


@strawberry.input
class CreateScheduleInput:
    name: str
    time_zone: TimeZone
    rules: list[AvailabilityRuleInput]
    is_default: bool | None = None


@strawberry.input
class SetWeeklyRulesInput:
    schedule_id: strawberry.ID
    rules: list[AvailabilityRuleInput]
    time_zone: TimeZone | None = None


@strawberry.type
class ScheduleSaved:
    schedule: Schedule


SaveScheduleResult = Annotated[
    ScheduleSaved | OverlappingRules | InvalidInput | NotFound,
    strawberry.union("SaveScheduleResult"),
]


@strawberry.input
class AddOverrideInput:
    schedule_id: strawberry.ID
    date: dt.date
    available: bool
    start: dt.time | None = None
    end: dt.time | None = None
    capacity: int | None = strawberry.field(
        default=None,
        description=(
            "Seats for every service using the schedule (1 to 1000): within start-end, or for "
            "the whole date with no times (available only)."
        ),
    )


@strawberry.type
class OverrideAdded:
    row: strawberry.Private[OverrideRow]
    override: AvailabilityOverride

    @strawberry.field(
        description=(
            "Active bookings the new blocked time overlaps: they stay booked; the tutor decides."
        ),
        extensions=[AtMost(200)],
    )
    async def conflicting_bookings(
        self, info: Info[Context, None]
    ) -> list[Annotated[Booking, strawberry.lazy("schema.bookings")]]:
        from schema.bookings import Booking

        rows = await bookings.conflicting_bookings(info.context.db, self.row)
        return [Booking.from_row(r) for r in rows]


AddOverrideResult = Annotated[
    OverrideAdded | InvalidInput | NotFound, strawberry.union("AddOverrideResult")
]


@strawberry.type
class OverrideRemoved:
    id: strawberry.ID


RemoveOverrideResult = Annotated[
    OverrideRemoved | NotFound, strawberry.union("RemoveOverrideResult")
]
