"""Funnel analytics: the events a booking page records, and the counts its owner reads."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry

from domain import funnel_counts
from models import FunnelStep
from schema.bounds import AtMost
from schema.errors import InvalidInput

# The GraphQL enum is the model's own: one vocabulary, in the order a visit goes.
strawberry.enum(FunnelStep)


@strawberry.input
class FunnelEventInput:
    step: FunnelStep
    visit_id: str = strawberry.field(
        description="An id the client makes for one visitor's visit (a random string); ties "
        "the steps together. 1 to 64 printable ASCII characters, no spaces."
    )
    tutor_id: strawberry.ID | None = strawberry.field(
        default=None, description="The tutor the page is for (or give serviceId)."
    )
    service_id: strawberry.ID | None = None
    at: dt.datetime | None = strawberry.field(
        default=None,
        description="Default: when the server receives it. At most 24 hours in the past, "
        "never in the future (5 minutes of clock skew are allowed).",
    )
    properties: str | None = strawberry.field(
        default=None, description="A JSON object of extra properties, at most 2 KB."
    )


@strawberry.type
class FunnelEventsRecorded:
    count: int


RecordFunnelEventsResult = Annotated[
    FunnelEventsRecorded | InvalidInput, strawberry.union("RecordFunnelEventsResult")
]


@strawberry.input
class FunnelInput:
    tutor_id: strawberry.ID | None = strawberry.field(
        default=None, description="One of tutorId or organizationId."
    )
    organization_id: strawberry.ID | None = None
    service_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only this service's pages."
    )
    from_: dt.datetime = strawberry.field(name="from")
    to: dt.datetime = strawberry.field(
        description=f"At most {funnel_counts.MAX_RANGE.days} days after from."
    )


@strawberry.type
class FunnelStepCount:
    step: FunnelStep
    visits: int = strawberry.field(description="Distinct visits that reached this step.")
    events: int


@strawberry.type
class FailureCount:
    error_type: str = strawberry.field(
        description="The result type that failed the booking: SlotUnavailable, StudentBusy, "
        "PolicyViolation, ..."
    )
    count: int


@strawberry.type
class Funnel:
    steps: list[FunnelStepCount] = strawberry.field(
        description="Every step, in order, zeros included.",
        extensions=[AtMost(len(FunnelStep))],
    )
    conversion_rate: float | None = strawberry.field(
        description="Visits with BOOKING_SUCCEEDED divided by visits with PAGE_VIEW; null "
        "when there were none."
    )
    failures: list[FailureCount] = strawberry.field(
        description="Failed bookings by result type, most first.",
        extensions=[AtMost(funnel_counts.MAX_FAILURE_TYPES)],
    )

    @classmethod
    def of(cls, report: funnel_counts.Report) -> Funnel:
        return cls(
            steps=[
                FunnelStepCount(step=s.step, visits=s.visits, events=s.events) for s in report.steps
            ],
            conversion_rate=report.conversion_rate,
            failures=[FailureCount(error_type=t, count=n) for t, n in report.failures],
        )
