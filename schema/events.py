"""Live updates: the subscription payloads."""

from __future__ import annotations

import datetime as dt
from enum import Enum

import strawberry

from models import BookingAction
from schema.bookings import Booking


@strawberry.enum
class SlotEventKind(Enum):
    TAKEN = "TAKEN"
    RELEASED = "RELEASED"


@strawberry.type(
    description="That a tutor's time was taken or freed. It carries no student data: anyone "
    "may subscribe."
)
class SlotEvent:
    kind: SlotEventKind
    tutor_id: strawberry.ID
    service_id: strawberry.ID
    start: dt.datetime
    end: dt.datetime


@strawberry.type
class BookingEvent:
    action: BookingAction
    booking: Booking
    at: dt.datetime
