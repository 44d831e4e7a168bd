"""The waitlist through the API: joining (its rules), offers when time frees up (email and
webhook, in join order, one slot to one waiter at a time), an offer let pass going on to the
next waiter, BOOKED with the booking, an offer taken by someone else falling back, expiry by
the sweep, leaving, and who sees which entries."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from infra.db import Database
from tests.fakes.smtp_server import Inbox
from tests.fakes.webhook_receiver import FakeReceiver
from tests.helpers import (
    CANCEL,
    Background,
    GraphQLClient,
    TestClock,
    Tutor,
    at,
    book,
    count_statements,
    make_tutor,
    monday,
    organization,
    setup_lessons,
    token,
    weekly,
)

ENTRY = """id status from to durationMinutes createdAt service { id } tutor { id }
  student { email } offeredSlot { start end durationMinutes tutor { id } }"""
JOIN = f"""mutation($input: JoinWaitlistInput!) {{ joinWaitlist(input: $input) {{ __typename
  ... on WaitlistJoined {{ entry {{ {ENTRY} }} }}
  ... on InvalidInput {{ message field }} ... on NotEligible {{ message reason }}
  ... on NotFound {{ message }} }} }}"""
LEAVE = f"""mutation($id: ID!) {{ leaveWaitlist(id: $id) {{ __typename
  ... on WaitlistLeft {{ entry {{ {ENTRY} }} }}
  ... on PolicyViolation {{ message policy }} ... on NotFound {{ message }} }} }}"""
MINE = f"""{{ viewer {{ waitlist {{ {ENTRY} }} }} }}"""
TUTORS = f"""query($id: ID!) {{ tutor(id: $id) {{ waitlist {{ {ENTRY} }} }} }}"""
NODE = f"""query($id: ID!) {{ node(id: $id) {{ ... on WaitlistEntry {{ {ENTRY} }} }} }}"""
NODES = """query($ids: [ID!]!) { nodes(ids: $ids) { ... on WaitlistEntry { id status } } }"""
CREATE_HOOK = """mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { __typename ... on WebhookEndpointCreated { secret } } }"""

KIM = "kim@example.com"
SAM = "sam@example.com"


def kim() -> str:
    return token("kim", name="Kim", email=KIM)


def bob() -> str:
    return token("bob", name="Bob", email="bob@example.com")


async def join_list(gql: GraphQLClient, who: str | None, **input: Any) -> dict[str, Any]:
    body = await gql.raw(JOIN, {"input": input}, who)
    assert not body.get("errors"), body
    result: dict[str, Any] = body["data"]["joinWaitlist"]
    return result


async def wait(
    gql: GraphQLClient, who: str, service: str, tutor: Tutor | None, start: str, end: str
) -> dict[str, Any]:
    extra = {"tutorId": tutor.id} if tutor is not None else {}
    joined = await join_list(gql, who, serviceId=service, **{"from": start, "to": end}, **extra)
    assert joined["__typename"] == "WaitlistJoined", joined
    entry: dict[str, Any] = joined["entry"]
    return entry


async def node(gql: GraphQLClient, entry_id: str, who: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (await gql(NODE, {"id": entry_id}, who))["node"]
    return found


async def mine(gql: GraphQLClient, who: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = (await gql(MINE, token=who))["viewer"]["waitlist"]
    return entries


async def cancel(gql: GraphQLClient, who: str, booking_id: str) -> None:
    cancelled = await gql(CANCEL, {"input": {"bookingId": booking_id}}, who)
    assert cancelled["cancelBooking"]["__typename"] == "BookingCancelled", cancelled


async def busy_at(gql: GraphQLClient, ada: Tutor, service: str, start: str, who: str) -> str:
    made = await book(gql, who, serviceId=service, tutorId=ada.id, start=start)
    assert made["__typename"] == "BookingCreated", made
    booking_id: str = made["booking"]["id"]
    return booking_id


def hour(hours: int) -> str:
    return at(monday(), hours)


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def sql(db: Database, query: str) -> list[Any]:
    async with db.engine.connect() as connection:
        return list(await connection.execute(text(query)))


async def test_a_cancellation_offers_the_slot_to_the_first_waiter_by_email_and_webhook(
    hook_gql: GraphQLClient, receiver: FakeReceiver, deliveries: Background, inbox: Inbox
) -> None:
    gql = hook_gql
    ada, piano, sam = await setup_lessons(gql)
    made = await gql(
        CREATE_HOOK,
        {"input": {"url": receiver.url("/ada"), "events": ["WAITLIST_OFFERED"]}},
        ada.token,
    )
    receiver.secrets["/ada"] = made["createWebhookEndpoint"]["secret"]
    taken = await busy_at(gql, ada, piano, hour(9), bob())
    first = await wait(gql, sam, piano, ada, hour(9), hour(10))
    second = await wait(gql, kim(), piano, None, hour(9), hour(10))  # any tutor, later
    assert (first["status"], first["offeredSlot"], first["tutor"]) == (
        "WAITING",
        None,
        {"id": ada.id},
    )
    assert second["tutor"] is None
    await deliveries.run()
    inbox.reset()

    await cancel(gql, bob(), taken)
    await deliveries.run()
    offered = await node(gql, first["id"], sam)
    assert offered is not None and offered["status"] == "OFFERED"
    slot = offered["offeredSlot"]
    assert (instant(slot["start"]), instant(slot["end"]), slot["durationMinutes"]) == (
        instant(hour(9)),
        instant(hour(10)),
        60,
    )
    assert slot["tutor"] == {"id": ada.id}
    # One slot, one waiter: the second still waits.
    assert (await node(gql, second["id"], kim()) or {})["status"] == "WAITING"
    emails = inbox.to(SAM)
    assert [m.subject for m in emails] == ["Time came free: Piano with Ada"]
    assert "the first to book it gets it" in emails[0].text
    assert not inbox.to(KIM)
    hooks = receiver.at("/ada")
    assert [h.type for h in hooks] == ["waitlist.offered"]
    assert all(h.error is None for h in hooks)
    data = (hooks[0].payload or {})["data"]["waitlistEntry"]
    assert (data["id"], data["status"], data["student"]["email"]) == (first["id"], "OFFERED", SAM)


# ---------------------------------------------------------------- joining


async def test_join_rules(gql: GraphQLClient, db: Database, clock: TestClock) -> None:
    ada, piano, sam = await setup_lessons(gql)
    start = monday()

    async def refused(who: str | None, **input: Any) -> dict[str, Any]:
        input.setdefault("serviceId", piano)
        input.setdefault("from", at(start, 9))
        input.setdefault("to", at(start, 12))
        result = await join_list(gql, who, **input)
        assert result["__typename"] != "WaitlistJoined", result
        return result

    too_long = await refused(sam, to=at(start + timedelta(days=31), 10))
    assert (too_long["__typename"], too_long["field"]) == ("InvalidInput", "input.to")
    backwards = await refused(sam, to=at(start, 8))
    assert (backwards["__typename"], backwards["field"]) == ("InvalidInput", "input.to")
    past = clock().replace(microsecond=0)
    gone = await refused(
        sam, **{"from": (past - timedelta(days=2)).isoformat(), "to": past.isoformat()}
    )
    assert (gone["__typename"], gone["field"]) == ("InvalidInput", "input.to")
    length = await refused(sam, durationMinutes=45)
    assert (length["__typename"], length["field"]) == ("InvalidInput", "input.durationMinutes")
    bea = await make_tutor(gql, "bea")
    other = await refused(sam, tutorId=bea.id)
    assert (other["__typename"], other["reason"]) == ("NotEligible", "NOT_OFFERED_BY_TUTOR")
    course = (await ada.service(title="Course", enrollmentRequired=True))["service"]["id"]
    closed = await refused(sam, serviceId=course)
    assert (closed["__typename"], closed["reason"]) == ("NotEligible", "NOT_ENROLLED")
    missing = await refused(sam, serviceId=ada.id)
    assert (missing["__typename"], missing["field"]) == ("InvalidInput", "input.serviceId")

    # Exactly 31 days is allowed; the duration defaults to the service's first.
    entry = await wait(gql, sam, piano, None, at(start, 9), at(start + timedelta(days=31), 9))
    assert entry["durationMinutes"] == 60
    later = {"from": at(start + timedelta(days=3), 9), "to": at(start + timedelta(days=3), 10)}
    twice = await refused(sam, **later)
    assert (twice["__typename"], twice["field"]) == ("InvalidInput", "input.from")
    # Another service, or after the window: fine.
    drums = (await ada.service(title="Drums"))["service"]["id"]
    await wait(gql, sam, drums, None, at(start, 9), at(start, 10))
    await wait(
        gql, sam, piano, ada, at(start + timedelta(days=31), 9), at(start + timedelta(days=32), 9)
    )
    window = {"serviceId": piano, "from": at(start, 9), "to": at(start, 10)}
    error = await gql.error(JOIN, {"input": window})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


# ---------------------------------------------------------------- offers and their outcomes


async def offered_first(
    gql: GraphQLClient, background: Background
) -> tuple[Tutor, str, str, dict[str, Any], dict[str, Any], str]:
    """Bob's 9:00 is cancelled while Sam, then Kim, wait for 9 to 10: Sam is offered it."""
    ada, piano, sam = await setup_lessons(gql)
    taken = await busy_at(gql, ada, piano, hour(9), bob())
    first = await wait(gql, sam, piano, ada, hour(9), hour(10))
    second = await wait(gql, kim(), piano, ada, hour(9), hour(10))
    await cancel(gql, bob(), taken)
    await background.run()
    assert (await node(gql, first["id"], sam) or {})["status"] == "OFFERED"
    return ada, piano, sam, first, second, taken


async def test_an_offer_let_pass_goes_to_the_second_waiter(
    gql: GraphQLClient, background: Background, inbox: Inbox, clock: TestClock
) -> None:
    _, _, sam, first, second, _ = await offered_first(gql, background)
    assert (await node(gql, second["id"], kim()) or {})["status"] == "WAITING"
    assert not inbox.to(KIM)

    # WAITLIST_OFFER_HOURS (12) later, Sam has not booked: Kim is told, Sam waits again.
    clock.set(clock() + timedelta(hours=12, minutes=1))
    await background.run()
    assert (await node(gql, first["id"], sam) or {})["status"] == "WAITING"
    passed = await node(gql, second["id"], kim())
    assert passed is not None and passed["status"] == "OFFERED"
    assert instant(passed["offeredSlot"]["start"]) == instant(hour(9))
    assert [m.subject for m in inbox.to(KIM)] == ["Time came free: Piano with Ada"]
    assert len(inbox.to(SAM)) == 1  # never told twice of one slot

    # Kim leaves: nobody else is waiting who was not told, so the slot stays unoffered.
    left = (await gql(LEAVE, {"id": second["id"]}, kim()))["leaveWaitlist"]
    assert (left["__typename"], left["entry"]["status"]) == ("WaitlistLeft", "WITHDRAWN")
    await background.run()
    assert (await node(gql, first["id"], sam) or {})["status"] == "WAITING"


async def test_leaving_an_offer_passes_it_on(
    gql: GraphQLClient, background: Background, inbox: Inbox
) -> None:
    _, _, sam, first, second, _ = await offered_first(gql, background)
    left = (await gql(LEAVE, {"id": first["id"]}, sam))["leaveWaitlist"]
    assert left["entry"]["status"] == "WITHDRAWN" and left["entry"]["offeredSlot"] is None
    await background.run()
    assert (await node(gql, second["id"], kim()) or {})["status"] == "OFFERED"
    assert len(inbox.to(KIM)) == 1
    assert await mine(gql, sam) == []
    again = (await gql(LEAVE, {"id": first["id"]}, sam))["leaveWaitlist"]
    assert (again["__typename"], again["policy"]) == ("PolicyViolation", "INVALID_TRANSITION")
    theirs = (await gql(LEAVE, {"id": second["id"]}, sam))["leaveWaitlist"]
    assert theirs["__typename"] == "NotFound"


async def test_booking_marks_the_entry_booked(gql: GraphQLClient, background: Background) -> None:
    ada, piano, sam, first, second, _ = await offered_first(gql, background)
    await busy_at(gql, ada, piano, hour(9), sam)
    booked = await node(gql, first["id"], sam)
    assert booked is not None and (booked["status"], booked["offeredSlot"]) == ("BOOKED", None)
    assert await mine(gql, sam) == []
    # Kim was never offered it: still waiting.
    assert (await node(gql, second["id"], kim()) or {})["status"] == "WAITING"
    left = (await gql(LEAVE, {"id": first["id"]}, sam))["leaveWaitlist"]
    assert (left["__typename"], left["policy"]) == ("PolicyViolation", "INVALID_TRANSITION")


async def test_an_offer_taken_by_someone_else_falls_back_to_waiting(
    gql: GraphQLClient, background: Background, inbox: Inbox
) -> None:
    ada, piano, sam, first, second, _ = await offered_first(gql, background)
    await busy_at(gql, ada, piano, hour(9), token("cat", email="cat@example.com"))
    back = await node(gql, first["id"], sam)
    assert back is not None and (back["status"], back["offeredSlot"]) == ("WAITING", None)
    # The job the booking wrote finds the slot gone: nobody else is told.
    await background.run()
    assert (await node(gql, second["id"], kim()) or {})["status"] == "WAITING"
    assert not inbox.to(KIM)


async def test_entries_expire_when_their_window_ends(
    gql: GraphQLClient, background: Background, clock: TestClock
) -> None:
    _, piano, sam = await setup_lessons(gql)
    start = clock() + timedelta(hours=2)
    entry = await wait(
        gql, sam, piano, None, start.isoformat(), (start + timedelta(hours=3)).isoformat()
    )
    await background.run()
    assert [e["id"] for e in await mine(gql, sam)] == [entry["id"]]
    clock.set(start + timedelta(hours=3, seconds=1))
    await background.run()
    assert (await node(gql, entry["id"], sam) or {})["status"] == "EXPIRED"
    assert await mine(gql, sam) == []


async def test_extra_hours_are_offered(
    gql: GraphQLClient, background: Background, inbox: Inbox
) -> None:
    bea = await make_tutor(gql, "bea", "UTC", weekly("09:00", "10:00"))
    piano = (await bea.service(title="Piano", slotIntervalMinutes=60))["service"]["id"]
    entry = await wait(gql, token("sam", email=SAM), piano, None, hour(14), hour(16))
    add = """mutation($input: AddOverrideInput!) { addOverride(input: $input) { __typename } }"""
    extra = {
        "scheduleId": bea.schedule_id,
        "date": monday().isoformat(),
        "available": True,
        "start": "15:00",
        "end": "16:00",
    }
    assert (await gql(add, {"input": extra}, bea.token))["addOverride"]["__typename"] != ""
    await background.run()
    offered = await node(gql, entry["id"], token("sam", email=SAM))
    assert offered is not None and offered["status"] == "OFFERED"
    assert instant(offered["offeredSlot"]["start"]) == instant(hour(15))


async def test_two_concurrent_offer_jobs_never_offer_one_slot_twice(
    gql: GraphQLClient, db: Database, background: Background
) -> None:
    ada, piano, sam = await setup_lessons(gql)
    nine = await busy_at(gql, ada, piano, hour(9), bob())
    ten = await busy_at(gql, ada, piano, hour(10), token("cat", email="cat@example.com"))
    waiting = [
        await wait(gql, who, piano, ada, hour(9), hour(11)) for who in (sam, kim(), token("dan"))
    ]
    await background.run()
    await cancel(gql, bob(), nine)
    await cancel(gql, token("cat", email="cat@example.com"), ten)
    jobs = [row[0] for row in await sql(db, "SELECT id FROM outbox WHERE kind = 'waitlist.offer'")]
    assert len(jobs) == 2
    background.now = datetime.now(background.now.tzinfo)
    done = await asyncio.gather(*(background.runner.run(job) for job in jobs))
    assert done == ["done", "done"]
    offers = await sql(db, "SELECT offered_start FROM waitlist_entries WHERE status = 'OFFERED'")
    starts = sorted(row[0] for row in offers)
    assert starts == [instant(hour(9)), instant(hour(10))]
    assert (await node(gql, waiting[2]["id"], token("dan")) or {})["status"] == "WAITING"


# ---------------------------------------------------------------- who sees what


async def test_who_sees_which_entries(gql: GraphQLClient) -> None:
    ada, piano, sam = await setup_lessons(gql)
    bea = await make_tutor(gql, "bea")
    olga = await make_tutor(gql, "olga")
    await organization(gql, olga, ada)
    own = await wait(gql, sam, piano, ada, hour(9), hour(12))
    anyone = await wait(gql, kim(), piano, None, hour(9), hour(12))
    ids = [own["id"], anyone["id"]]

    async def listed(viewer: str) -> list[str]:
        return [e["id"] for e in (await gql(TUTORS, {"id": ada.id}, viewer))["tutor"]["waitlist"]]

    assert await listed(ada.token) == ids
    assert await listed(olga.token) == ids
    assert await listed(bea.token) == []
    assert await listed(sam) == []
    assert [e["id"] for e in await mine(gql, sam)] == [own["id"]]
    assert (await mine(gql, sam))[0]["student"]["email"] == SAM
    assert await mine(gql, ada.token) == []

    for viewer, seen in [
        (ada.token, ids),
        (olga.token, ids),
        (sam, [own["id"], None]),
        (kim(), [None, anyone["id"]]),
        (bea.token, [None, None]),
    ]:
        found = (await gql(NODES, {"ids": ids}, viewer))["nodes"]
        assert [n["id"] if n else None for n in found] == seen, viewer
    assert (await gql(NODE, {"id": own["id"]}))["node"] is None


async def test_a_cancellation_with_nobody_waiting_costs_one_statement(
    gql: GraphQLClient, db: Database
) -> None:
    ada, piano, sam = await setup_lessons(gql)
    booked = [await busy_at(gql, ada, piano, hour(h), sam) for h in (9, 10)]
    with count_statements(db) as without:
        await cancel(gql, sam, booked[0])
    await wait(gql, kim(), piano, ada, hour(12), hour(13))  # another time
    with count_statements(db) as unmatched:
        await cancel(gql, sam, booked[1])
    assert sum("waitlist_entries" in s for s in without) == 1
    assert len(unmatched) == len(without)
    assert await sql(db, "SELECT id FROM outbox WHERE kind = 'waitlist.offer'") == []
