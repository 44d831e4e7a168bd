"""Slot search: what a student sees as bookable."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import strawberry

from domain import slots as engine
from domain.slot_search import MAX_RANGE, MAX_SLOTS_FOUND
from models import ServiceDuration
from schema.bounds import AtMost
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
