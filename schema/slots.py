"""Slot search: what a student sees as bookable."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable
from zoneinfo import ZoneInfo

import strawberry
from strawberry.types import Info

from domain import slots as engine
from domain.roster import Favorites
from domain.slot_search import MAX_RANGE, MAX_SLOTS_FOUND
from models import ServiceDuration
from schema.bounds import AtMost
from schema.context import Context
from schema.people import Tutor
from schema.scalars import TimeZone
from schema.services import Money, price_of


@strawberry.type
class Slot:
    start: dt.datetime
    end: dt.datetime
    duration_minutes: int
    tutor: Tutor
    price: Money | None
    remaining_capacity: int | None = strawberry.field(
        description="Seats left at this time. Only the tutor sees it; null for everyone else."
    )

    @strawberry.field(
        graphql_type=bool,
        description="True when the signed-in student has booked this tutor at this weekday and "
        "wall-clock time at least twice.",
    )
    def favorite(self, info: Info[Context, None]) -> bool | Awaitable[bool]:
        """On the wall clock of the tutor's schedule zone. Answered at once when the tutor's
        favorites are loaded already (a slot listing loads them first): thousands of slots
        awaiting one each would cost graphql-core a task per slot, five times the listing."""
        if info.context.identity is None:
            return False
        loading = info.context.loaders.favorite_times.load(self.tutor.pk)
        if isinstance(loading, asyncio.Future) and loading.done():
            return self._includes(loading.result())
        return self._after(loading)

    def _includes(self, found: Favorites | None) -> bool:
        return found is not None and found.includes(self.start)

    async def _after(self, loading: Awaitable[Favorites | None]) -> bool:
        return self._includes(await loading)


@strawberry.type
class SlotDay:
    date: dt.date
    slot_count: int


@strawberry.type
class SlotSearch:
    time_zone: TimeZone
    slots: list[Slot] = strawberry.field(extensions=[AtMost(MAX_SLOTS_FOUND)])
    days: list[SlotDay] = strawberry.field(
        # A range of at most 93 days touches at most 95 dates in any zone.
        extensions=[AtMost(MAX_RANGE.days + 2)],
        description=(
            "Every date of the range in timeZone that has at least one slot, for a month calendar."
        ),
    )
    next_available: Slot | None = strawberry.field(
        description=(
            "The first slot at or after the range's start, searching past its end up to the "
            "booking window."
        )
    )


@strawberry.input
class SlotSearchInput:
    service_id: strawberry.ID
    from_: dt.datetime = strawberry.field(name="from")
    to: dt.datetime = strawberry.field(description="At most 93 days after from.")
    time_zone: TimeZone = strawberry.field(
        description="The viewer's zone: slot times and days are written in it."
    )
    tutor_id: strawberry.ID | None = strawberry.field(
        default=None, description="Omit to search every tutor who offers the service."
    )
    duration_minutes: int | None = strawberry.field(
        default=None, description="Default: the service's first duration."
    )
    group_by_start: bool | None = strawberry.field(
        default=False,
        description=(
            "With no tutorId: one slot per distinct start, carrying the tutor round robin would "
            "choose, instead of one per tutor."
        ),
    )


def slot_of(
    tutor: Tutor,
    option: ServiceDuration,
    slot: engine.Slot,
    zone: ZoneInfo,
    remaining: int | None = None,
) -> Slot:
    """A slot written in the viewer's zone; seats only when the viewer is its tutor."""
    return Slot(
        start=slot.start.astimezone(zone),
        end=slot.end.astimezone(zone),
        duration_minutes=option.minutes,
        tutor=tutor,
        price=price_of(option),
        remaining_capacity=remaining,
    )
