"""What the tests share: the test clock, fresh databases, tokens, a GraphQL client, builders
that set data up through the API, the booking documents, and background runs on a set clock."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from httpx_ws import AsyncWebSocketSession, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from sqlalchemy import event
from sqlmodel import select
from starlette.types import ASGIApp

from domain.people import ensure_student
from domain.slots import occupied
from infra.auth import decode_token, mint_token
from infra.db import Database, start_embedded, with_database
from infra.settings import Settings
from models import Booking, BookingStatus, OutboxJob, Student
from schema.node import decode_id, encode_id
from workers.jobs import Runner
from workers.relay import LocalExecutor, Relay

REPO = Path(__file__).resolve().parents[1]
TEST_SECRET = "test-secret-" + "x" * 40
TEST_DATA_KEY = "blWTATvebLwxBrV5LSYD3I-vbeoA28SWPrVz8lfq6QM="  # a Fernet key
# The suite makes many mutations from one address: limits are tested on their own.
TEST_RATE = "100000/minute"


class TestClock:
    """The time every in-process app, background run and date helper of the tests sees.

    It starts at BOOKING_TEST_NOW (an ISO instant with offset) when set, else at the wall clock's
    time, and runs on from there at the real pace, so a test may wait for a hold to lapse. CI
    sets BOOKING_TEST_NOW to awkward days (a month's last day, a Monday, 31 December, DST
    changes) to show the suite does not depend on the calendar."""

    __test__ = False  # not a test class, whatever its name says

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        configured = os.environ.get("BOOKING_TEST_NOW")
        self.set(datetime.fromisoformat(configured) if configured else datetime.now(UTC))

    def set(self, at: datetime) -> None:
        self._start, self._since = at.astimezone(UTC), time.monotonic()

    def __call__(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._since)


CLOCK = TestClock()


def server_admin_url() -> str:
    """The server tests make databases on: DATABASE_URL's, or the embedded one."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    data_dir = Path(os.environ.get("BOOKING_DATA_DIR") or REPO / ".data")
    return start_embedded(data_dir)


async def _admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def create_database(admin_url: str, prefix: str = "booking_test") -> str:
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    return with_database(admin_url, name)


def direct_of(url: str) -> str | None:
    """The same database past PgBouncer: on DATABASE_DIRECT_URL's server when that is set (the
    CI pass through PgBouncer), else None (DATABASE_URL reaches PostgreSQL itself)."""
    direct = os.environ.get("DATABASE_DIRECT_URL")
    return with_database(direct, database_name(url)) if direct else None


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?", 1)[0]


def drop_database(admin_url: str, url: str) -> None:
    name = database_name(url)
    asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def token(sub: str, name: str | None = None, email: str | None = None, **kwargs: Any) -> str:
    return mint_token(TEST_SECRET, sub, name=name or sub.title(), email=email, **kwargs)


@dataclass
class GraphQLClient:
    http: httpx.AsyncClient

    async def raw(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """The data of a request that must not fail."""
        body = await self.raw(query, variables, token)
        assert not body.get("errors"), body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    async def error(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """The first top-level error of a request that must fail."""
        body = await self.raw(query, variables, token)
        assert body.get("errors"), body
        error: dict[str, Any] = body["errors"][0]
        return error


@asynccontextmanager
async def websocket(app: ASGIApp) -> AsyncIterator[AsyncWebSocketSession]:
    """A graphql-transport-ws connection to the app in process (no server, no port)."""
    transport = ASGIWebSocketTransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        session: AsyncWebSocketSession
        protocols = ["graphql-transport-ws"]
        async with aconnect_ws("/graphql", client, subprotocols=protocols) as session:
            yield session


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
    status: BookingStatus = BookingStatus.CONFIRMED,
    buffers: tuple[int, int] = (0, 0),
    hold_expires_at: datetime | None = None,
    student_id: Any = None,
) -> Any:
    """A booking row written directly: busy time, or a booking waiting for payment."""
    end = start + timedelta(minutes=minutes)
    block_start, block_end = occupied(start, end, *buffers)
    async with db.transaction() as session:
        if student_id is None:
            student = Student(display_name="Busy", email="busy@example.com", created_at=CLOCK())
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
            created_at=CLOCK(),
        )
        session.add(booking)
    return booking.id


async def stored_student(db: Database, who: str) -> str:
    """A signed-in student's global id, their profile stored as their first booking stores it:
    a tutor grants to, enrolls or books for stored students only, and queries store nothing.
    (updateStudentProfile stores one too.)"""
    row = await ensure_student(db, decode_token(TEST_SECRET, who), CLOCK())
    return str(encode_id("Student", row.id))


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


class Background:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.now = CLOCK()
        self.runner = Runner(settings, db, clock=lambda: self.now)
        self.executor = LocalExecutor(self.runner)
        self.relay = Relay(db, settings, self.executor.hand_off, clock=lambda: self.now)

    async def run(self, at: datetime | None = None) -> int:
        """Everything due by `at` (default: now), until nothing is left; the number of jobs."""
        self.now = at if at is not None else CLOCK()
        total = 0
        while handed := await self.relay.tick():
            total += handed
            await self.executor.drain()
        return total


async def only_job(db: Database, kind: str) -> OutboxJob:
    async with db.session() as session:
        [job] = list(await session.exec(select(OutboxJob).where(OutboxJob.kind == kind)))
        return job


async def retried_with_backoff(
    db: Database, background: Background, kind: str, effects: Callable[[], int]
) -> None:
    """The one `kind` job, whose remote refuses twice (503) then takes it: tried at once,
    again after 10 s and after 20 s more, done the third time; `effects` counts what the
    remote kept (nothing before the job is done, one thing after)."""
    t0 = CLOCK()
    await background.run(t0)
    job = await only_job(db, kind)
    assert job.attempts == 1 and "503" in (job.last_error or "")
    assert job.due_at == t0 + timedelta(seconds=10)
    await background.run(t0 + timedelta(seconds=10))
    job = await only_job(db, kind)
    assert job.attempts == 2 and job.due_at == t0 + timedelta(seconds=30)
    assert effects() == 0
    await background.run(t0 + timedelta(seconds=30))
    assert (await only_job(db, kind)).done_at is not None
    assert effects() == 1


REDIS_URL = "redis://127.0.0.1:6379/0"


PRICE = {"amountMinor": 5000, "currency": "USD"}


PAID = """id status price { amountMinor currency } checkoutUrl holdExpiresAt
  history { action actorId reason }"""


CREATE_PAID = f"""mutation($input: CreateBookingInput!) {{ createBooking(input: $input) {{
  __typename ... on BookingCreated {{ booking {{ {PAID} }} }} {ERRORS} }} }}"""


async def setup_card_lessons(gql: GraphQLClient) -> tuple[Tutor, str, str]:
    """Ada teaches around the clock; a 60-minute lesson costs 50 USD, refunded up to 24 hours
    before it starts."""
    ada = await make_tutor(gql, "ada", "UTC", weekly("00:00", "00:00"))
    service = await ada.service(
        title="Lesson",
        durations=[{"minutes": 60, "price": PRICE}],
        cancellationNoticeHours=24,
        slotIntervalMinutes=60,
    )
    return ada, service["service"]["id"], token("sam", email="sam@example.com")


async def reserve(gql: GraphQLClient, who: str, **input: Any) -> dict[str, Any]:
    input.setdefault("timeZone", "UTC")
    result: dict[str, Any] = (await gql(CREATE_PAID, {"input": input}, who))["createBooking"]
    return result


UPDATE_TUTOR = """mutation($input: UpdateTutorProfileInput!) { updateTutorProfile(input: $input) {
  __typename ... on TutorProfileUpdated { tutor { email lowBalanceThreshold } }
  ... on InvalidInput { message field } ... on NotFound { message } } }"""


SAM = "sam@example.com"


ADA = "ada@tutoring.example"


async def setup_lessons(gql: GraphQLClient, zone: str = "Europe/London") -> tuple[Tutor, str, str]:
    """Ada (in `zone`, with an email) teaches around the clock; Sam is a signed-in student."""
    ada = await make_tutor(gql, "ada", zone, weekly("00:00", "00:00"))
    updated = await gql(UPDATE_TUTOR, {"input": {"email": ADA}}, ada.token)
    assert updated["updateTutorProfile"]["tutor"]["email"] == ADA
    service = await ada.service(title="Piano", slotIntervalMinutes=60, cancellationNoticeHours=1)
    return ada, service["service"]["id"], token("sam", name="Sam", email=SAM)


PACKAGE = """id unit total remaining sessionDurationMinutes expiresAt notes
  student { id } tutor { id } adjustments { delta reason booking { id } }"""


GRANT = f"""mutation($input: GrantPackageInput!) {{ grantPackage(input: $input) {{
  __typename ... on PackageGranted {{ package {{ {PACKAGE} }} }}
  ... on InvalidInput {{ message field }} ... on NotFound {{ message }} }} }}"""


REDEEM = """mutation($input: RedeemPackageInput!) { redeemPackage(input: $input) {
  __typename ... on PackageRedeemed { booking { id status package { id } } package { remaining } }
  ... on PackageUnusable { message reason } ... on PolicyViolation { message policy }
  ... on NotFound { message } } }"""


async def grant(gql: GraphQLClient, tutor: Tutor, **input: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await gql(GRANT, {"input": input}, tutor.token))["grantPackage"]
    return result


SEARCH = """query($input: SlotSearchInput!) { availableSlots(input: $input) {
  timeZone
  slots { start end durationMinutes tutor { id } price { amountMinor currency } remainingCapacity }
  days { date slotCount }
  nextAvailable { start tutor { id } } } }"""


async def search(gql: GraphQLClient, token: str | None = None, **input: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await gql(SEARCH, {"input": input}, token))["availableSlots"]
    return result


@contextmanager
def count_statements(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


CREATE_ORGANIZATION = """mutation($name: String!) { createOrganization(input: {name: $name}) {
  __typename ... on OrganizationCreated { organization { id } }
  ... on InvalidInput { message field } } }"""
INVITE = """mutation($input: InviteTutorInput!) { inviteTutor(input: $input) {
  __typename ... on TutorInvited { inviteToken invitation { id email role expiresAt acceptedAt } }
  ... on InvalidInput { message field } ... on NotFound { message } } }"""
ACCEPT = """mutation($token: String!) { acceptInvitation(input: {token: $token}) {
  __typename ... on InvitationAccepted { organization { id name } member { role tutor { id } } }
  ... on InvalidInput { message field } ... on NotFound { message } } }"""


def email_of(tutor: Tutor) -> str:
    """The address a test tutor's invitations go to (their sign-in's email claim)."""
    return f"{tutor.sub}@tutors.example"


async def join(
    gql: GraphQLClient, organization_id: str, by: Tutor, tutor: Tutor, role: str
) -> None:
    """`by` invites `tutor`, who accepts signed in with the invited address."""
    invited = await gql(
        INVITE,
        {"input": {"organizationId": organization_id, "email": email_of(tutor), "role": role}},
        by.token,
    )
    secret = invited["inviteTutor"]["inviteToken"]
    accepted = await gql(ACCEPT, {"token": secret}, token(tutor.sub, email=email_of(tutor)))
    assert accepted["acceptInvitation"]["__typename"] == "InvitationAccepted", accepted


async def organization(
    gql: GraphQLClient, owner: Tutor, *members: Tutor, role: str = "MEMBER"
) -> str:
    """An organization `owner` makes, which `members` join (with `role`): its global id."""
    created = await gql(CREATE_ORGANIZATION, {"name": f"{owner.sub.title()}'s studio"}, owner.token)
    organization_id: str = created["createOrganization"]["organization"]["id"]
    for member in members:
        await join(gql, organization_id, owner, member, role)
    return organization_id
