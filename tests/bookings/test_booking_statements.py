"""What one booking costs the database: the statements of its transaction, counted, so that a
new feature's per-booking statement is a decision (issue 20: 18 before, 12 now)."""

from __future__ import annotations

from collections import Counter

from sqlmodel import select

from infra.db import LIVE_UPDATES, Database, Messages
from infra.settings import Settings
from models import OutboxJob
from tests.conftest import app_client
from tests.helpers import GraphQLClient, at, count_statements, monday, setup_lessons

BOOK = """mutation($input: CreateBookingInput!) { createBooking(input: $input) { __typename } }"""

# Every statement of a signed-in student's booking on a service with no features configured
# (no package, form, webhook, calendar, meeting link, waitlist, schedule-later request).
EXPECTED = [
    # The transaction's lock and statement timeouts: what is left of the operation's time budget.
    "SELECT set_config",
    "SELECT services",  # the service, its lengths and its tutors (services_info)
    "SELECT service_durations",
    "SELECT service_tutors",
    "SELECT tutors",  # the tutor, locked
    "SELECT tutors",  # is the caller a tutor who manages this one (organizations.manages)
    "SELECT students",  # the student, locked
    # Hours, busy time, the student's bookings, and whether a schedule-later request or a
    # waitlist entry is there to update (bookings/held.py): none here, so neither is touched.
    "SELECT chosen.time_zone",
    "INSERT INTO bookings",
    "SELECT webhook_endpoints",
    "INSERT INTO booking_history",
    "INSERT INTO outbox",  # the emails and reminders, one statement
    "SELECT pg_notify",  # wakes the outbox relay at commit
]


def _kind(statement: str) -> str:
    """`INSERT INTO t`, `UPDATE t`, `SELECT t` (its first table), or what a SELECT of no table
    selects first."""
    words = statement.split()
    if words[0] == "INSERT":
        return " ".join(words[:3])
    if words[0] == "UPDATE":
        return " ".join(words[:2])
    if words[1].startswith(("chosen.", "pg_notify", "set_config")):
        return f"SELECT {words[1].split('(')[0].rstrip(',')}"
    return f"SELECT {words[words.index('FROM') + 1]}"


async def test_one_booking_is_thirteen_statements_with_the_locks_first(
    gql: GraphQLClient, db: Database
) -> None:
    ada, service, sam = await setup_lessons(gql)
    first = {"serviceId": service, "tutorId": ada.id, "start": at(monday(), 9), "timeZone": "UTC"}
    assert (await gql(BOOK, {"input": first}, sam))["createBooking"]["__typename"] == (
        "BookingCreated"
    )
    with count_statements(db) as statements:
        second = {**first, "start": at(monday(), 11)}
        made = await gql(BOOK, {"input": second}, sam)
    assert made["createBooking"]["__typename"] == "BookingCreated"
    assert [_kind(s) for s in statements] == EXPECTED
    # Locks in order (tutor, then student), and the re-check reads after both.
    assert "FOR NO KEY UPDATE" in statements[4] and "FOR NO KEY UPDATE" in statements[6]


async def test_one_booking_writes_only_the_outbox_rows_its_features_need(
    gql: GraphQLClient, db: Database
) -> None:
    """No calendar, meeting link or webhook configured: the two emails and three reminders only
    (`writes.record` leaves out what cannot act)."""
    ada, service, sam = await setup_lessons(gql)
    input = {"serviceId": service, "tutorId": ada.id, "start": at(monday(), 9), "timeZone": "UTC"}
    assert (await gql(BOOK, {"input": input}, sam))["createBooking"]["__typename"] == (
        "BookingCreated"
    )
    async with db.session() as session:
        kinds = Counter(await session.exec(select(OutboxJob.kind)))
    assert kinds == {"email.booking": 2, "email.reminder": 3}


async def test_a_publishing_process_adds_one_statement_after_the_commit(
    settings: Settings, db: Database
) -> None:
    """Where live updates are published (every `serve` and worker), the booking's live updates
    are kept as an outbox row too: it joins the emails' INSERT, and one UPDATE after the commit
    marks it sent (infra/db.py, LIVE_UPDATES)."""

    async def publish(messages: Messages) -> None:
        sent.extend(messages)

    sent: Messages = []
    publishing = Database(db.engine, publish=publish)
    async with app_client(settings, publishing) as http:
        gql = GraphQLClient(http)
        ada, service, sam = await setup_lessons(gql)
        input = {"serviceId": service, "tutorId": ada.id, "timeZone": "UTC"}
        await gql(BOOK, {"input": {**input, "start": at(monday(), 9)}}, sam)  # stores Sam
        with count_statements(db) as statements:
            made = await gql(BOOK, {"input": {**input, "start": at(monday(), 11)}}, sam)
    assert made["createBooking"]["__typename"] == "BookingCreated"
    assert [_kind(s) for s in statements] == [*EXPECTED, "UPDATE outbox"]
    assert {channel.split(":")[0] for channel, _ in sent} == {"bookings", "slots"}
    async with db.session() as session:
        rows = (await session.exec(select(OutboxJob).where(OutboxJob.kind == LIVE_UPDATES))).all()
    assert len(rows) == 2 and all(row.done_at is not None for row in rows)
