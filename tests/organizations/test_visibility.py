"""What an organization's owners and admins see and do of its members' bookings, and what a
member or an outsider does not (issue 15, item 4): lists, node, schedules, students with their
emails, and the changes, as the tutor would make them."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from broadcaster._backends.memory import MemoryBackend

from booking_api.app import build_app
from domain.events import bookings_channel
from infra.db import Database
from infra.pubsub import Hub
from infra.settings import Settings
from models import BookingStatus
from schema.node import encode_id
from tests.helpers import (
    ATTENDANCE,
    CANCEL,
    CLOCK,
    CREATE,
    RESCHEDULE,
    GraphQLClient,
    Tutor,
    add_booking,
    at,
    book,
    grant,
    join,
    make_tutor,
    monday,
    organization,
    pk,
    stored_student,
    token,
    weekly,
)
from tests.live_client import data, feed, ready

LIST = """query($org: ID!) { bookings(filter: {organizationId: $org}) {
  totalCount edges { node { id tutor { id } student { email } } } } }"""
NODE = "query($id: ID!) { node(id: $id) { id ... on Booking { student { email } } } }"
STUDENT = "query($id: ID!) { node(id: $id) { ... on Student { email } } }"
SCHEDULES = "query($id: ID!) { tutor(id: $id) { schedules { id } } }"
SAM, KIM = token("sam", email="sam@example.com"), token("kim", email="kim@example.com")


@dataclass
class Studio:
    """Ada owns it, Dee administers it, Bob and Cy are members; Eve works alone. Sam has a
    lesson with Bob and one with Cy; Kim one with Cy only."""

    id: str
    ada: Tutor
    dee: Tutor
    bob: Tutor
    cy: Tutor
    eve: Tutor
    services: dict[str, str]
    bookings: dict[str, str]


async def studio(gql: GraphQLClient) -> Studio:
    ada, dee, bob, cy, eve = [await make_tutor(gql, n) for n in ("ada", "dee", "bob", "cy", "eve")]
    studio_id = await organization(gql, ada, bob, cy)
    await join(gql, studio_id, ada, dee, "ADMIN")
    services = {t.sub: (await t.service())["service"]["id"] for t in (bob, cy)}
    made = {}
    for name, who, tutor, hour in (
        ("bob", SAM, bob, 10),
        ("cy", SAM, cy, 11),
        ("kim", KIM, cy, 12),
    ):
        booked = await book(
            gql, who, serviceId=services[tutor.sub], tutorId=tutor.id, start=at(monday(2), hour)
        )
        made[name] = booked["booking"]["id"]
    return Studio(studio_id, ada, dee, bob, cy, eve, services, made)


def ids(listed: dict[str, Any]) -> set[str]:
    return {edge["node"]["id"] for edge in listed["bookings"]["edges"]}


async def test_owners_and_admins_see_every_members_bookings_members_their_own(
    gql: GraphQLClient,
) -> None:
    s = await studio(gql)
    everyone = set(s.bookings.values())
    for manager in (s.ada, s.dee):
        listed = await gql(LIST, {"org": s.id}, manager.token)
        assert ids(listed) == everyone
        assert listed["bookings"]["totalCount"] == 3
        emails = {e["node"]["student"]["email"] for e in listed["bookings"]["edges"]}
        assert emails == {"sam@example.com", "kim@example.com"}
    assert ids(await gql(LIST, {"org": s.id}, s.bob.token)) == {s.bookings["bob"]}
    assert ids(await gql(LIST, {"org": s.id}, s.cy.token)) == {s.bookings["cy"], s.bookings["kim"]}
    # An outsider is told of nothing, as for any booking they may not see.
    assert ids(await gql(LIST, {"org": s.id}, s.eve.token)) == set()
    # Eve's own organization is not Ada's: the filter narrows, it never widens.
    eves = await organization(gql, s.eve)
    assert ids(await gql(LIST, {"org": eves}, s.ada.token)) == set()
    bad = await gql.error(LIST, {"org": "junk"}, s.ada.token)
    assert bad["extensions"]["code"] == "BAD_USER_INPUT"

    for name, booking in s.bookings.items():
        for viewer in (s.ada, s.dee):
            assert (await gql(NODE, {"id": booking}, viewer.token))["node"]["id"] == booking
        member_sees = (await gql(NODE, {"id": booking}, s.bob.token))["node"]
        assert (member_sees is not None) == (name == "bob")
        assert (await gql(NODE, {"id": booking}, s.eve.token))["node"] is None


async def test_owners_and_admins_read_members_schedules_and_students(
    gql: GraphQLClient, db: Database
) -> None:
    s = await studio(gql)
    kim = await stored_student(db, KIM)
    for manager in (s.ada, s.dee, s.cy):
        seen = await gql(STUDENT, {"id": kim}, manager.token)
        assert seen["node"] == {"email": "kim@example.com"}
    # Kim never booked Bob: Bob (a member) and Eve (outside) see nothing of her.
    for other in (s.bob, s.eve):
        assert (await gql(STUDENT, {"id": kim}, other.token))["node"] is None

    bobs = [{"id": s.bob.schedule_id}]
    for viewer in (s.bob, s.ada, s.dee):
        assert (await gql(SCHEDULES, {"id": s.bob.id}, viewer.token))["tutor"]["schedules"] == bobs
        node = await gql("query($id: ID!) { node(id: $id) { id } }", {"id": s.bob.schedule_id})
        assert node["node"] is None  # anonymous
    for other in (s.cy, s.eve):
        assert (await gql(SCHEDULES, {"id": s.bob.id}, other.token))["tutor"]["schedules"] == []
    # Read only: changing a member's schedule stays the member's own.
    rules = """mutation($input: SetWeeklyRulesInput!) { setWeeklyRules(input: $input) {
      __typename } }"""
    change = {"input": {"scheduleId": s.bob.schedule_id, "rules": weekly("06:00", "07:00")}}
    refused = await gql.error(rules, change, s.ada.token)
    assert refused["extensions"]["code"] == "FORBIDDEN"


async def test_owners_and_admins_book_move_cancel_and_mark_for_members(
    gql: GraphQLClient, db: Database
) -> None:
    s = await studio(gql)
    sam = await stored_student(db, SAM)
    lesson = {"serviceId": s.services["bob"], "tutorId": s.bob.id, "studentId": sam}
    for manager, hour in ((s.ada, 14), (s.dee, 15)):
        made = await book(gql, manager.token, **lesson, start=at(monday(2), hour))
        assert made["__typename"] == "BookingCreated", made
        assert made["booking"]["tutor"] == {"id": s.bob.id}
    for other in (s.cy, s.eve):
        refused = await gql.error(
            CREATE,
            {"input": {**lesson, "start": at(monday(2), 16), "timeZone": "UTC"}},
            other.token,
        )
        assert refused["extensions"]["code"] == "FORBIDDEN"

    bobs = s.bookings["bob"]
    move = {"bookingId": bobs, "newStart": at(monday(2), 9)}
    for other in (s.cy, s.eve):
        assert (await gql(RESCHEDULE, {"input": move}, other.token))["rescheduleBooking"][
            "__typename"
        ] == "NotFound"
        assert (await gql(CANCEL, {"input": {"bookingId": bobs}}, other.token))["cancelBooking"][
            "__typename"
        ] == "NotFound"
    moved = (await gql(RESCHEDULE, {"input": move}, s.dee.token))["rescheduleBooking"]
    assert (moved["__typename"], moved["booking"]["start"]) == (
        "BookingRescheduled",
        move["newStart"],
    )
    assert moved["booking"]["history"][-1]["actorId"] == "dee"
    cancelled = (await gql(CANCEL, {"input": {"bookingId": bobs}}, s.ada.token))["cancelBooking"]
    assert cancelled["booking"]["status"] == "CANCELLED"

    started = CLOCK().replace(microsecond=0) - timedelta(hours=2)
    past = await add_booking(db, s.cy.id, s.services["cy"], started)
    mark = {"bookingId": encode_id("Booking", past), "status": "COMPLETED"}
    for other in (s.bob, s.eve):
        assert (await gql(ATTENDANCE, {"input": mark}, other.token))["markAttendance"][
            "__typename"
        ] == "NotFound"
    marked = (await gql(ATTENDANCE, {"input": mark}, s.ada.token))["markAttendance"]
    assert (marked["__typename"], marked["booking"]["status"]) == (
        "AttendanceMarked",
        BookingStatus.COMPLETED,
    )


async def test_an_owner_has_the_tutors_exemptions_from_notice_the_student_has_not(
    gql: GraphQLClient, db: Database
) -> None:
    ada = await make_tutor(gql, "ada")
    bob = await make_tutor(gql, "bob", rules=weekly("00:00", "00:00"))
    await organization(gql, ada, bob)
    notice = {
        "minimumNoticeMinutes": 48 * 60,
        "rescheduleNoticeHours": 48,
        "cancellationNoticeHours": 48,
    }
    service = (await bob.service(**notice))["service"]["id"]
    sam = await stored_student(db, SAM)
    package = (
        await grant(gql, bob, studentId=sam, unit="SESSIONS", total=2, sessionDurationMinutes=60)
    )["package"]["id"]
    tomorrow = CLOCK().replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    lesson = {"serviceId": service, "tutorId": bob.id}
    # Inside the notice: Sam may not book it; Ada books it for him as Bob would.
    too_soon = await book(gql, SAM, **lesson, start=tomorrow.isoformat(), packageId=package)
    assert too_soon["policy"] == "MINIMUM_NOTICE"
    made = await book(
        gql, ada.token, **lesson, studentId=sam, start=tomorrow.isoformat(), packageId=package
    )
    booking = made["booking"]["id"]

    later = (tomorrow + timedelta(hours=1)).isoformat()
    move = {"input": {"bookingId": booking, "newStart": later}}
    refused = (await gql(RESCHEDULE, move, SAM))["rescheduleBooking"]
    assert refused["policy"] == "RESCHEDULE_NOTICE"
    moved = (await gql(RESCHEDULE, move, ada.token))["rescheduleBooking"]
    assert (moved["__typename"], moved["booking"]["start"]) == ("BookingRescheduled", later)

    # Cancelled inside the notice: the student's own cancellation refunds nothing, the
    # owner's (as the tutor's) gives the credit back.
    second = await book(
        gql,
        ada.token,
        **lesson,
        studentId=sam,
        start=(tomorrow + timedelta(hours=3)).isoformat(),
        packageId=package,
    )
    by_sam = await gql(CANCEL, {"input": {"bookingId": second["booking"]["id"]}}, SAM)
    assert by_sam["cancelBooking"]["refund"] == {"kind": "NONE", "amount": 0}
    by_ada = await gql(CANCEL, {"input": {"bookingId": booking}}, ada.token)
    assert by_ada["cancelBooking"]["refund"] == {"kind": "PACKAGE_CREDIT", "amount": 1}


# ---------------------------------------------------------------- the live feed (item 7)

FEED = """subscription($id: ID!) { organizationBookingEvents(organizationId: $id) {
  action at booking { id tutor { id } student { email } } } }"""
PROBE_AT = "2000-01-01T00:00:00+00:00"
REMOVE = """mutation($input: RemoveMemberInput!) { removeMember(input: $input) { __typename } }"""


def probe(hub: Hub, tutor_id: str, booking_id: str) -> Callable[[], Awaitable[None]]:
    """A readiness probe: an event on the member's channel about a booking of theirs."""
    message = json.dumps({"action": "CREATED", "booking": str(pk(booking_id)), "at": PROBE_AT})
    return lambda: hub.publish(bookings_channel(pk(tutor_id)), message)


def news(message: dict[str, Any]) -> bool:
    event = ((message.get("payload") or {}).get("data") or {}).get("organizationBookingEvents")
    return event is not None and event["at"] != PROBE_AT


async def test_owners_and_admins_follow_every_members_bookings_live(
    gql: GraphQLClient, db: Database, settings: Settings
) -> None:
    s = await studio(gql)
    fay = await make_tutor(gql, "fay")
    fays = (
        await book(
            gql,
            SAM,
            serviceId=(await fay.service())["service"]["id"],
            tutorId=fay.id,
            start=at(monday(2), 13),
        )
    )["booking"]["id"]
    hub = Hub(MemoryBackend("memory://"))
    await hub.connect()
    app = build_app(settings, Database(db.engine, publish=hub.publish_all), hub=hub, clock=CLOCK)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        live = GraphQLClient(client)
        for who, code in ((s.bob, "FORBIDDEN"), (s.eve, "FORBIDDEN"), (None, "UNAUTHENTICATED")):
            async with feed(app, who.token if who else None) as refused:
                op = await refused.subscribe(FEED, id=s.id)
                message = await refused.message()
                assert (message["id"], message["type"]) == (op, "next")
                assert message["payload"]["errors"][0]["extensions"]["code"] == code
        async with feed(app, s.ada.token) as junk:
            await junk.subscribe(FEED, id="junk")
            assert (await junk.message())["payload"]["errors"][0]["extensions"]["code"] == (
                "FORBIDDEN"
            )

        async with feed(app, s.ada.token) as owner, feed(app, s.dee.token) as admin:
            ops = {}
            for dashboard in (owner, admin):
                ops[dashboard] = await dashboard.subscribe(FEED, id=s.id)
                await ready(dashboard, ops[dashboard], probe(hub, s.bob.id, s.bookings["bob"]))
            await live(CANCEL, {"input": {"bookingId": s.bookings["kim"]}}, KIM)
            for dashboard in (owner, admin):
                event = data(await dashboard.until(news), "organizationBookingEvents")
                assert (event["action"], event["booking"]["id"]) == ("CANCELLED", s.bookings["kim"])
                assert event["booking"]["student"] == {"email": "kim@example.com"}

            # Fay joins: the feed follows her from then on. Bob leaves: his are no more shown.
            await join(live, s.id, s.ada, fay, "MEMBER")
            await ready(owner, ops[owner], probe(hub, fay.id, fays))
            removed = {"input": {"organizationId": s.id, "tutorId": s.bob.id}}
            await live(REMOVE, removed, s.ada.token)
            await ready(owner, ops[owner], probe(hub, fay.id, fays))  # followed again
            await live(CANCEL, {"input": {"bookingId": s.bookings["bob"]}}, SAM)
            await live(CANCEL, {"input": {"bookingId": fays}}, SAM)
            event = data(await owner.until(news), "organizationBookingEvents")
            assert (event["booking"]["id"], event["booking"]["tutor"]) == (fays, {"id": fay.id})
    await hub.disconnect()
