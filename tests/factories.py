"""Set-up through the API itself: tutors, schedules and services made by GraphQL mutations."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from booking_api.auth import decode_token
from booking_api.db import Database
from domain.people import ensure_student
from domain.slots import occupied
from models import Booking, Student
from schema.node import decode_id, encode_id
from tests.support import TEST_SECRET, GraphQLClient, token

WEEKDAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]

CREATE_TUTOR = """mutation($name: String!, $tz: TimeZone!) {
  createTutorProfile(input: {displayName: $name, timeZone: $tz}) {
    ... on TutorProfileCreated { tutor { id } } } }"""

SCHEDULE_RESULT = """
    __typename
    ... on ScheduleSaved { schedule { id name timeZone isDefault rules { weekday start end } } }
    ... on OverlappingRules { message }
    ... on InvalidInput { message field }
    ... on NotFound { message }
"""
CREATE_SCHEDULE = f"""mutation($input: CreateScheduleInput!) {{
  createSchedule(input: $input) {{ {SCHEDULE_RESULT} }} }}"""

SERVICE_FIELDS = """id title kind capacity slotIntervalMinutes bufferBeforeMinutes
  bufferAfterMinutes minimumNoticeMinutes bookingWindowDays cancellationNoticeHours
  rescheduleNoticeHours maxReschedules requiresPackage monthlyFreeAllowance enrollmentRequired
  meetingLinks
  durations { minutes price { amountMinor currency } } tutors { id displayName }"""
SERVICE_RESULT = f"""
    __typename
    ... on ServiceSaved {{ service {{ {SERVICE_FIELDS} }} }}
    ... on InvalidInput {{ message field }}
    ... on NotFound {{ message }}
"""
CREATE_SERVICE = f"""mutation($input: CreateServiceInput!) {{
  createService(input: $input) {{ {SERVICE_RESULT} }} }}"""


def weekly(start: str, end: str, days: list[str] | None = None) -> list[dict[str, str]]:
    return [{"weekday": d, "start": start, "end": end} for d in days or WEEKDAYS]


class Tutor:
    """A tutor made through the API, with a token and a default schedule."""

    def __init__(self, gql: GraphQLClient, sub: str) -> None:
        self.gql = gql
        self.sub = sub
        self.token = token(sub)
        self.id = ""
        self.schedule_id = ""

    async def setup(self, zone: str, rules: list[dict[str, str]]) -> Tutor:
        data = await self.gql(CREATE_TUTOR, {"name": self.sub.title(), "tz": zone}, self.token)
        self.id = data["createTutorProfile"]["tutor"]["id"]
        saved = await self.schedule({"name": "Hours", "timeZone": zone, "rules": rules})
        self.schedule_id = saved["schedule"]["id"]
        return self

    async def schedule(self, input: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = (await self.gql(CREATE_SCHEDULE, {"input": input}, self.token))[
            "createSchedule"
        ]
        return result

    async def service(self, **input: Any) -> dict[str, Any]:
        input.setdefault("title", "Lesson")
        input.setdefault("durations", [{"minutes": 60}])
        result: dict[str, Any] = (await self.gql(CREATE_SERVICE, {"input": input}, self.token))[
            "createService"
        ]
        return result


async def make_tutor(
    gql: GraphQLClient, sub: str, zone: str = "UTC", rules: list[dict[str, str]] | None = None
) -> Tutor:
    return await Tutor(gql, sub).setup(
        zone, rules if rules is not None else weekly("09:00", "17:00")
    )


def pk(global_id: str) -> Any:
    decoded = decode_id(global_id)
    assert decoded is not None
    return decoded[1]


async def add_booking(
    db: Database,
    tutor_id: str,
    service_id: str,
    start: datetime,
    minutes: int = 60,
    status: str = "CONFIRMED",
    buffers: tuple[int, int] = (0, 0),
    hold_expires_at: datetime | None = None,
    student_id: Any = None,
) -> Any:
    """A booking row written directly: busy time, or a booking waiting for payment."""
    end = start + timedelta(minutes=minutes)
    block_start, block_end = occupied(start, end, *buffers)
    async with db.transaction() as session:
        if student_id is None:
            student = Student(display_name="Busy", email="busy@example.com")
            session.add(student)
            await session.flush()
            student_id = student.id
        booking = Booking(
            service_id=pk(service_id),
            tutor_id=pk(tutor_id),
            student_id=student_id,
            status=status,
            start_at=start,
            end_at=end,
            block_start=block_start,
            block_end=block_end,
            hold_expires_at=hold_expires_at,
            duration_minutes=minutes,
        )
        session.add(booking)
    return booking.id


async def stored_student(db: Database, who: str) -> str:
    """A signed-in student's global id, their profile stored as their first booking stores it:
    a tutor grants to, enrolls or books for stored students only, and queries store nothing.
    (No mutation stores just a profile yet; contract version 2's updateStudentProfile will.)"""
    row = await ensure_student(db, decode_token(TEST_SECRET, who))
    return str(encode_id("Student", row.id))
