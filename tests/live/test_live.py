"""Live updates through real `serve` processes and a real websocket client (graphql-transport-ws).

Two servers share one database; subscribers sit on one, changes are made through the other, so
every event here has crossed processes through the broker: PostgreSQL LISTEN/NOTIFY by default,
and Redis where one runs.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from redis import asyncio as aioredis

from domain.events import bookings_channel, slots_channel
from tests.helpers import (
    CANCEL,
    CREATE,
    CREATE_MANY,
    CREATE_SCHEDULE,
    CREATE_SERVICE,
    CREATE_TUTOR,
    REDIS_URL,
    RESCHEDULE,
    at,
    create_database,
    drop_database,
    monday,
    pk,
    server_admin_url,
    token,
    weekly,
)
from tests.live_client import BOOKINGS, SLOTS, Live, broker_publish, data, ready
from tests.processes import PIDS, production_env, servers, service_up

PROBE_AT = "2000-01-01T00:00:00+00:00"
LIST = """query($filter: BookingFilter) { bookings(filter: $filter) { asOf } }"""
RESUME = """subscription($tutorId: ID!, $since: DateTime) {
  bookingEvents(tutorId: $tutorId, since: $since) { action booking { id } } }"""


@pytest.fixture(scope="module", params=["postgresql", "redis"])
def cluster(request: pytest.FixtureRequest) -> Iterator[tuple[list[int], str, str]]:
    """Two servers on a fresh database; their ports, the database URL and the broker URL."""
    if request.param == "redis" and not service_up("Redis", 6379):
        pytest.skip("no Redis on 127.0.0.1:6379")
    admin = server_admin_url()
    url = create_database(admin, prefix="booking_live")
    broker = url if request.param == "postgresql" else REDIS_URL
    env = production_env(url)
    if request.param == "redis":
        env["BROADCAST_URL"] = REDIS_URL
    try:
        with servers(env) as ports:
            yield ports, url, broker
    finally:
        drop_database(admin, url)


async def call(port: int, query: str, variables: dict[str, Any], who: str | None) -> Any:
    headers = {"Authorization": f"Bearer {who}"} if who else {}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


async def tutor(port: int, sub: str) -> tuple[str, str, str]:
    """A tutor open around the clock with a one-hour lesson: (token, tutor id, service id)."""
    who = token(sub)
    made = await call(port, CREATE_TUTOR, {"name": sub, "tz": "UTC"}, who)
    schedule = {"name": "H", "timeZone": "UTC", "rules": weekly("00:00", "00:00")}
    await call(port, CREATE_SCHEDULE, {"input": schedule}, who)
    lesson = {"title": "Lesson", "durations": [{"minutes": 60}], "slotIntervalMinutes": 60}
    service = await call(port, CREATE_SERVICE, {"input": lesson}, who)
    return who, made["createTutorProfile"]["tutor"]["id"], service["createService"]["service"]["id"]


def slot_probe(broker: str, tutor_id: str) -> Any:
    message = json.dumps(
        {
            "kind": "TAKEN",
            "tutor": str(pk(tutor_id)),
            "service": str(uuid.UUID(int=0)),
            "start": PROBE_AT,
            "end": PROBE_AT,
        }
    )
    return lambda: broker_publish(broker, slots_channel(pk(tutor_id)), [message])


def booking_probe(broker: str, tutor_id: str, booking_id: str) -> Any:
    message = json.dumps({"action": "CREATED", "booking": str(pk(booking_id)), "at": PROBE_AT})
    return lambda: broker_publish(broker, bookings_channel(pk(tutor_id)), [message])


def real(field: str) -> Any:
    """Messages other than readiness probes."""

    def matches(message: dict[str, Any]) -> bool:
        payload = (message.get("payload") or {}).get("data") or {}
        event = payload.get(field) or {}
        return event.get("start") != PROBE_AT and event.get("at") != PROBE_AT

    return matches


async def book(port: int, who: str, tutor_id: str, service: str, start: str) -> dict[str, Any]:
    input = {"serviceId": service, "tutorId": tutor_id, "start": start, "timeZone": "UTC"}
    result: dict[str, Any] = (await call(port, CREATE, {"input": input}, who))["createBooking"]
    return result


async def test_every_event_kind_reaches_the_other_process(
    cluster: tuple[list[int], str, str],
) -> None:
    (near, far), _, broker = cluster
    ada, ada_id, service = await tutor(far, f"ada-{uuid.uuid4().hex[:6]}")
    sam = token("sam", email="sam@example.com")
    first = await book(far, sam, ada_id, service, at(monday(2), 8))
    async with Live.connect(near) as anyone, Live.connect(near, ada) as dashboard:
        slots = await anyone.subscribe(SLOTS, tutorId=ada_id)
        await ready(anyone, slots, slot_probe(broker, ada_id))
        bookings = await dashboard.subscribe(BOOKINGS, tutorId=ada_id)
        await ready(dashboard, bookings, booking_probe(broker, ada_id, first["booking"]["id"]))

        made = await book(far, sam, ada_id, service, at(monday(2), 10))
        taken = data(await anyone.until(real("slotEvents")), "slotEvents")
        assert taken == {
            "kind": "TAKEN",
            "tutorId": ada_id,
            "serviceId": service,
            "start": at(monday(2), 10),
            "end": at(monday(2), 11),
        }
        created = data(await dashboard.until(real("bookingEvents")), "bookingEvents")
        assert created["action"] == "CREATED"
        assert created["booking"] == {
            "id": made["booking"]["id"],
            "status": "CONFIRMED",
            "start": at(monday(2), 10),
            # The tutor's dashboard sees what the tutor may see: the student's email.
            "student": {"displayName": "Sam", "email": "sam@example.com"},
        }

        move = {"bookingId": made["booking"]["id"], "newStart": at(monday(2), 13)}
        await call(far, RESCHEDULE, {"input": move}, sam)
        released = data(await anyone.until(real("slotEvents")), "slotEvents")
        retaken = data(await anyone.until(real("slotEvents")), "slotEvents")
        assert (released["kind"], released["start"]) == ("RELEASED", at(monday(2), 10))
        assert (retaken["kind"], retaken["start"]) == ("TAKEN", at(monday(2), 13))
        # The next event is the move: the instant booking published nothing after CREATED.
        moved = data(await dashboard.until(real("bookingEvents")), "bookingEvents")
        assert (moved["action"], moved["booking"]["start"]) == ("RESCHEDULED", at(monday(2), 13))

        await call(far, CANCEL, {"input": {"bookingId": made["booking"]["id"]}}, sam)
        freed = data(await anyone.until(real("slotEvents")), "slotEvents")
        assert (freed["kind"], freed["start"]) == ("RELEASED", at(monday(2), 13))
        cancelled = data(await dashboard.until(real("bookingEvents")), "bookingEvents")
        assert (cancelled["action"], cancelled["booking"]["status"]) == ("CANCELLED", "CANCELLED")


async def test_an_instant_booking_publishes_exactly_one_event(
    cluster: tuple[list[int], str, str],
) -> None:
    (near, far), _, broker = cluster
    ada, ada_id, service = await tutor(far, f"ada-{uuid.uuid4().hex[:6]}")
    first = await book(far, token("one-event-a"), ada_id, service, at(monday(4), 8))
    async with Live.connect(near, ada) as dashboard:
        bookings = await dashboard.subscribe(BOOKINGS, tutorId=ada_id)
        await ready(dashboard, bookings, booking_probe(broker, ada_id, first["booking"]["id"]))
        one = await book(far, token("one-event-b"), ada_id, service, at(monday(4), 10))
        two = await book(far, token("one-event-c"), ada_id, service, at(monday(4), 12))
        # Events on a tutor's channel arrive in order: a second event of the first booking
        # (CONFIRMED, as before) would come between the two CREATED.
        seen = [
            data(await dashboard.until(real("bookingEvents")), "bookingEvents") for _ in range(2)
        ]
        assert [(e["action"], e["booking"]["id"], e["booking"]["status"]) for e in seen] == [
            ("CREATED", one["booking"]["id"], "CONFIRMED"),
            ("CREATED", two["booking"]["id"], "CONFIRMED"),
        ]


async def test_a_subscription_resumed_from_a_list_needs_no_readiness_probe(
    cluster: tuple[list[int], str, str],
) -> None:
    """With `since`, the server reads back what was missed only once its broker listens (Redis
    confirms the SUBSCRIBE): a change made right after subscribing comes, replayed or live."""
    (near, far), _, _ = cluster
    ada, ada_id, service = await tutor(far, f"ada-{uuid.uuid4().hex[:6]}")
    listed = await call(far, LIST, {"filter": {"tutorId": ada_id}}, ada)
    before = await book(far, token("resume-a"), ada_id, service, at(monday(4), 14))
    async with Live.connect(near, ada) as dashboard:
        await dashboard.subscribe(RESUME, tutorId=ada_id, since=listed["bookings"]["asOf"])
        after = await book(far, token("resume-b"), ada_id, service, at(monday(4), 16))
        seen: list[str] = []
        while len(seen) < 2:
            event = data(await dashboard.message(), "bookingEvents")
            if event["booking"]["id"] not in seen:  # one may come twice: replayed, then live
                seen.append(event["booking"]["id"])
    assert seen == [before["booking"]["id"], after["booking"]["id"]]


async def test_only_the_tutor_follows_their_bookings(cluster: tuple[list[int], str, str]) -> None:
    (near, far), _, _ = cluster
    _, ada_id, _ = await tutor(far, f"ada-{uuid.uuid4().hex[:6]}")
    async with Live.connect(near, token("mallory")) as other:
        op = await other.subscribe(BOOKINGS, tutorId=ada_id)
        refused = await other.message()
        assert (refused["id"], refused["type"]) == (op, "next")
        assert refused["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert (await other.message())["type"] == "complete"
    async with Live.connect(near) as anonymous:
        op = await anonymous.subscribe(BOOKINGS, tutorId=ada_id)
        refused = await anonymous.message()
        assert (refused["id"], refused["type"]) == (op, "next")
        assert refused["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_rolled_back_change_publishes_nothing(cluster: tuple[list[int], str, str]) -> None:
    (near, far), _, broker = cluster
    _, ada_id, service = await tutor(far, f"ada-{uuid.uuid4().hex[:6]}")
    await book(far, token("kim"), ada_id, service, at(monday(2), 11))
    sam = token("sam")
    async with Live.connect(near) as anyone:
        slots = await anyone.subscribe(SLOTS, tutorId=ada_id)
        await ready(anyone, slots, slot_probe(broker, ada_id))
        # 10:00 is free, 11:00 is not: createBookings places 10:00, then rolls it all back.
        both = {
            "serviceId": service,
            "tutorId": ada_id,
            "timeZone": "UTC",
            "slots": [{"start": at(monday(2), 10)}, {"start": at(monday(2), 11)}],
        }
        failed = await call(far, CREATE_MANY, {"input": both}, sam)
        assert failed["createBookings"]["__typename"] == "SlotUnavailable"
        await book(far, sam, ada_id, service, at(monday(2), 14))
        first = data(await anyone.until(real("slotEvents")), "slotEvents")
        assert first["start"] == at(monday(2), 14)


async def kill_listener(broker: str) -> int:
    """Cut the servers' broker connections the way a network or broker failure would."""
    if broker.startswith("redis"):
        client = aioredis.Redis.from_url(broker)
        try:
            return int(await client.client_kill_filter(_type="pubsub"))
        finally:
            await client.aclose()
    connection = await asyncpg.connect(broker)
    try:
        killed = await connection.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'booking_api_listener' AND datname = current_database()"
        )
        return len(killed)
    finally:
        await connection.close()


async def ended_with(live: Live, op: str, code: str) -> dict[str, Any]:
    """The error that ends `op` (readiness probes still on their way come first), then its
    `complete`."""
    told = await live.until(lambda m: m["type"] != "next" or "errors" in m["payload"])
    assert (told["id"], told["type"]) == (op, "next"), told
    error: dict[str, Any] = told["payload"]["errors"][0]
    assert error["extensions"]["code"] == code, error
    assert await live.message() == {"id": op, "type": "complete"}
    return error


async def test_a_lost_broker_connection_ends_subscriptions_with_events_missed(
    cluster: tuple[list[int], str, str],
) -> None:
    (near, far), _, broker = cluster
    ada, ada_id, service = await tutor(far, f"ada-{uuid.uuid4().hex[:6]}")
    sam = token(f"sam-{uuid.uuid4().hex[:6]}")
    first = await book(far, sam, ada_id, service, at(monday(2), 8))
    probe = booking_probe(broker, ada_id, first["booking"]["id"])
    async with Live.connect(near) as anyone, Live.connect(near, ada) as dashboard:
        slots = await anyone.subscribe(SLOTS, tutorId=ada_id)
        await ready(anyone, slots, slot_probe(broker, ada_id))
        bookings = await dashboard.subscribe(BOOKINGS, tutorId=ada_id)
        await ready(dashboard, bookings, probe)

        # Whatever was published while the connection was down is lost (at-most-once): once the
        # server listens again, each subscription is told so and ends.
        assert await kill_listener(broker) >= 1
        error = await ended_with(dashboard, bookings, "EVENTS_MISSED")
        assert "Subscribe again, then refetch" in error["message"]
        await ended_with(anyone, slots, "EVENTS_MISSED")

        # Subscribed again, the client hears of every change from then on.
        slots = await anyone.subscribe(SLOTS, tutorId=ada_id)
        await ready(anyone, slots, slot_probe(broker, ada_id))
        bookings = await dashboard.subscribe(BOOKINGS, tutorId=ada_id)
        await ready(dashboard, bookings, probe)
        made = await book(far, sam, ada_id, service, at(monday(2), 10))
        taken = data(await anyone.until(real("slotEvents")), "slotEvents")
        assert (taken["kind"], taken["start"]) == ("TAKEN", at(monday(2), 10))
        created = data(await dashboard.until(real("bookingEvents")), "bookingEvents")
        assert (created["action"], created["booking"]["id"]) == ("CREATED", made["booking"]["id"])


async def test_a_slow_consumer_is_closed_and_the_server_memory_stays_flat(
    cluster: tuple[list[int], str, str],
) -> None:
    (near, _), _, broker = cluster
    _, ada_id, _ = await tutor(near, f"ada-{uuid.uuid4().hex[:6]}")
    pid = PIDS[near]
    # The client reads nothing more once it is live: the server's socket fills, then our queue.
    async with Live.connect(near, max_queue=4) as slow:
        op = await slow.subscribe(SLOTS, tutorId=ada_id)
        await ready(slow, op, slot_probe(broker, ada_id))
        before = rss_kib(pid)
        event = {
            "kind": "TAKEN",
            "tutor": str(pk(ada_id)),
            "service": str(uuid.UUID(int=0)),
            "start": datetime(2030, 1, 1, tzinfo=UTC).isoformat(),
            "end": datetime(2030, 1, 1, 1, tzinfo=UTC).isoformat(),
        }
        for chunk in range(20):
            # Numbered: PostgreSQL folds identical notifications of one transaction into one.
            batch = [json.dumps({**event, "n": chunk * 2500 + i}) for i in range(2500)]
            await broker_publish(broker, slots_channel(pk(ada_id)), batch)
        await asyncio.sleep(2)  # let the server take in what was published
        grown = rss_kib(pid) - before
        # 50,000 events (about 11 MB of JSON) were published to this one subscriber.
        assert grown < 10_000, f"server memory grew by {grown} KiB"  # unbounded: ~32,000
        received = 0
        while True:
            reply = await slow.message(timeout=30)
            if reply["payload"].get("errors"):
                break
            received += 1
        assert (reply["id"], reply["type"]) == (op, "next"), reply
        error = reply["payload"]["errors"][0]
        assert error["extensions"]["code"] == "SUBSCRIBER_TOO_SLOW"
        assert "Refetch" in error["message"]
        assert received < 50_000


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")
