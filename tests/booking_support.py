"""GraphQL documents and helpers for the booking tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests.support import CLOCK, GraphQLClient

BOOKING_FIELDS = """id status start end durationMinutes studentTimeZone notes rescheduleCount
  cancellationReason icsUrl tutor { id } service { id } student { id displayName email }
  history { action actorId reason }"""
MOVE_ERRORS = """
  ... on SlotUnavailable { message alternatives { start } }
  ... on StudentBusy { message }
  ... on PolicyViolation { message policy }
  ... on InvalidInput { message field }
  ... on NotFound { message }"""
ERRORS = (
    MOVE_ERRORS
    + """
  ... on NotEligible { message reason }
  ... on PackageUnusable { message packageReason: reason }"""
)
CREATE = f"""mutation($input: CreateBookingInput!) {{ createBooking(input: $input) {{
  __typename
  ... on BookingCreated {{ manageToken booking {{ {BOOKING_FIELDS} }} }}
  {ERRORS} }} }}"""
CREATE_MANY = f"""mutation($input: CreateBookingsInput!) {{ createBookings(input: $input) {{
  __typename
  ... on BookingsCreated {{ bookings {{ id start }} }}
  {ERRORS} }} }}"""
RESCHEDULE = f"""mutation($input: RescheduleBookingInput!) {{ rescheduleBooking(input: $input) {{
  __typename
  ... on BookingRescheduled {{ booking {{ {BOOKING_FIELDS} }} }}
  {MOVE_ERRORS} }} }}"""
CANCEL = """mutation($input: CancelBookingInput!) { cancelBooking(input: $input) {
  __typename
  ... on BookingCancelled { booking { id status cancellationReason } refund { kind amount } }
  ... on PolicyViolation { message policy }
  ... on NotFound { message } } }"""
ATTENDANCE = """mutation($input: MarkAttendanceInput!) { markAttendance(input: $input) {
  __typename
  ... on AttendanceMarked { booking { id status history { action reason } } }
  ... on PolicyViolation { message policy }
  ... on NotFound { message } } }"""


def monday(weeks: int = 2) -> date:
    today = CLOCK().date()
    return today + timedelta(days=7 * weeks - today.weekday())


def at(day: date, hour: int, minute: int = 0) -> str:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC).isoformat()


async def book(gql: GraphQLClient, token: str | None, **input: Any) -> dict[str, Any]:
    input.setdefault("timeZone", "UTC")
    result: dict[str, Any] = (await gql(CREATE, {"input": input}, token))["createBooking"]
    return result
