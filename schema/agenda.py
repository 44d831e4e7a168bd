"""The owner's calendar: each tutor's open hours, blocked time and bookings over a range,
written in the viewer's zone."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable
from typing import TypeVar
from zoneinfo import ZoneInfo

import strawberry
from strawberry.types import Info

from domain import agenda
from domain.errors import InvalidInput
from schema.bookings import Booking
from schema.bounds import AtMost
from schema.context import Context
from schema.errors import bad_user_input
from schema.people import Tutor, tutor_of

T = TypeVar("T")


@strawberry.type
class TimeRange:
    start: dt.datetime
    end: dt.datetime


@strawberry.type(
    description="One tutor's calendar over a range: when they are open for bookings (after "
    "overrides) and what is booked."
)
class TutorAgenda:
    tutor_id: strawberry.Private[uuid.UUID]
    open_ranges: list[TimeRange] = strawberry.field(
        description="Open hours from the tutor's default schedule, after blocked and extra "
        f"overrides (at most {agenda.MAX_OPEN_RANGES}).",
        extensions=[AtMost(agenda.MAX_OPEN_RANGES)],
    )
    blocked_ranges: list[TimeRange] = strawberry.field(
        description="Blocked overrides that fall in the range "
        f"(at most {agenda.MAX_BLOCKED_RANGES}).",
        extensions=[AtMost(agenda.MAX_BLOCKED_RANGES)],
    )
    bookings: list[Booking] = strawberry.field(
        description="Active bookings (pending payment with a live hold, confirmed) in the "
        f"range, by start (at most {agenda.MAX_BOOKINGS}).",
        extensions=[AtMost(agenda.MAX_BOOKINGS)],
    )
    truncated: bool = strawberry.field(
        description="True when a list above was cut at its bound: ask for a shorter range."
    )

    @strawberry.field
    async def tutor(self, info: Info[Context, None]) -> Tutor:
        return await tutor_of(info, self.tutor_id)

    @classmethod
    def of(cls, found: agenda.Agenda, time_zone: str) -> TutorAgenda:
        zone = ZoneInfo(time_zone)

        def ranges(spans: list[agenda.Range]) -> list[TimeRange]:
            return [TimeRange(start=a.astimezone(zone), end=b.astimezone(zone)) for a, b in spans]

        return cls(
            tutor_id=found.tutor_id,
            open_ranges=ranges(found.open_ranges),
            blocked_ranges=ranges(found.blocked_ranges),
            bookings=[Booking.from_row(b, time_zone) for b in found.bookings],
            truncated=found.truncated,
        )


async def checked(work: Awaitable[T]) -> T:
    """An agenda's range a user can fix: a top-level BAD_USER_INPUT naming the argument."""
    try:
        return await work
    except InvalidInput as error:
        raise bad_user_input(error.message, error.field) from None
