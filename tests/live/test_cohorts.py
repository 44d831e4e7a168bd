"""Cohorts: viewers with different rights under one document and its variables each receive
what the subscription shows them, and viewers of one visibility class share one execution.

In process (one app, an in-memory hub) so that executions can be counted: a spy on
graphql-core's per-event executor, which every subscription event's execution builds once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from broadcaster._backends.memory import MemoryBackend
from graphql.execution import Executor
from starlette.types import ASGIApp

from booking_api.app import build_app
from domain.events import slots_channel
from infra.cohorts import END, Cohort, Cohorts
from infra.db import Database
from infra.pubsub import Hub, SubscriberTooSlow
from infra.settings import Settings
from schema.node import encode_id
from tests.helpers import CLOCK, GraphQLClient, at, monday, pk, token
from tests.live_client import BOOKINGS, SLOTS, Live, feed, ready
from tests.organizations.test_visibility import FEED, PROBE_AT, SAM, Studio, probe, studio

SEEN_AT = "2030-01-01T00:00:00+00:00"
FENCE = "2001-01-01T00:00:00+00:00"  # published and awaited by all before counting


@pytest.fixture
def executions(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Executions of subscription events, by root field."""
    counted: Counter[str] = Counter()
    build = Executor.build_per_event_executor

    def counting(self: Executor[Any], payload: Any) -> Executor[Any]:
        counted[self.operation.selection_set.selections[0].name.value] += 1  # type: ignore[attr-defined]
        return build(self, payload)

    monkeypatch.setattr(Executor, "build_per_event_executor", counting)
    return counted


@asynccontextmanager
async def served(settings: Settings, db: Database) -> AsyncIterator[tuple[ASGIApp, Hub]]:
    hub = Hub(MemoryBackend("memory://"))
    await hub.connect()
    try:
        yield (
            build_app(settings, Database(db.engine, publish=hub.publish_all), hub=hub, clock=CLOCK),
            hub,
        )
    finally:
        await hub.disconnect()


@dataclass
class World:
    """The studio of tests/organizations (owner Ada, admin Dee, members Bob and Cy, Eve alone,
    students Sam and Kim) and an app with an in-memory hub."""

    s: Studio
    app: ASGIApp
    hub: Hub


@pytest.fixture
async def world(gql: GraphQLClient, db: Database, settings: Settings) -> AsyncIterator[World]:
    s = await studio(gql)
    async with served(settings, db) as (app, hub):
        yield World(s, app, hub)


async def follow(
    stack: AsyncExitStack,
    app: ASGIApp,
    who: str | None,
    query: str,
    variables: dict[str, Any],
) -> tuple[Live, str]:
    live = await stack.enter_async_context(feed(app, who))
    return live, await live.subscribe(query, **variables)


async def refused(live: Live, op: str) -> str:
    """The code of the error that ended this subscription, as before cohorts."""
    message = await live.message()
    assert (message["id"], message["type"]) == (op, "next"), message
    code: str = message["payload"]["errors"][0]["extensions"]["code"]
    assert (await live.message()) == {"id": op, "type": "complete"}
    return code


async def next_raw(live: Live, op: str, field: str, matches: Callable[[Any], bool]) -> Any:
    """The next event of `op` that matches, as it came (readiness probes passed over)."""
    while True:
        message = await live.message()
        assert message["id"] == op, message
        event = message["payload"]["data"][field]
        if matches(event):
            return message["payload"]


async def fenced(
    lives: list[tuple[Live, str]], field: str, publish: Callable[[], Awaitable[None]], stamp: str
) -> None:
    """Publish and wait until everyone has it: every earlier event has then been executed."""
    await publish()
    for live, op in lives:
        await next_raw(live, op, field, lambda event: stamp in json.dumps(event))


def cancelled(hub: Hub, tutor: str, booking: str, stamp: str) -> Callable[[], Awaitable[None]]:
    message = {"action": "CANCELLED", "booking": str(pk(booking)), "at": stamp}
    return lambda: hub.publish(f"bookings:{pk(tutor)}", json.dumps(message))


async def one_cancellation(
    hub: Hub,
    lives: list[tuple[Live, str]],
    field: str,
    tutor: str,
    booking: str,
    executions: Counter[str],
) -> list[Any]:
    """Once all are live and fenced, one booking event: what each received of it, with only
    its executions counted."""
    for live, op in lives:
        await ready(live, op, probe(hub, tutor, booking))
    await fenced(lives, field, cancelled(hub, tutor, booking, FENCE), FENCE)
    executions.clear()
    await cancelled(hub, tutor, booking, SEEN_AT)()
    return [await next_raw(live, op, field, lambda e: e["at"] == SEEN_AT) for live, op in lives]


def slot(tutor: str, start: str) -> str:
    return json.dumps(
        {
            "kind": "TAKEN",
            "tutor": str(pk(tutor)),
            "service": str(pk(tutor)),
            "start": start,
            "end": start,
        }
    )


async def test_every_viewer_of_a_tutors_slots_shares_one_execution(
    world: World, executions: Counter[str]
) -> None:
    s, app, hub = world.s, world.app, world.hub
    async with AsyncExitStack() as stack:
        viewers = [None, s.eve.token, SAM, s.cy.token, s.ada.token, s.bob.token]
        lives = [await follow(stack, app, who, SLOTS, {"tutorId": s.cy.id}) for who in viewers]
        channel = slots_channel(pk(s.cy.id))
        for live, op in lives:
            await ready(live, op, lambda: hub.publish(channel, slot(s.cy.id, PROBE_AT)))
        await fenced(lives, "slotEvents", lambda: hub.publish(channel, slot(s.cy.id, FENCE)), FENCE)
        executions.clear()

        await hub.publish(channel, slot(s.cy.id, SEEN_AT))
        seen = [
            await next_raw(live, op, "slotEvents", lambda e: e["start"] == SEEN_AT)
            for live, op in lives
        ]
        # The anonymous, a stranger, the student, the tutor, the owner, another member: one
        # cohort (nothing of a slot event depends on the viewer), one execution, one payload.
        assert executions["slotEvents"] == 1
        assert seen[0]["data"]["slotEvents"] == {
            "kind": "TAKEN",
            "tutorId": s.cy.id,
            "serviceId": encode_id("Service", pk(s.cy.id)),
            "start": SEEN_AT,
            "end": SEEN_AT,
        }
        assert all(payload == seen[0] for payload in seen)


async def test_only_the_tutor_gets_booking_events_and_their_connections_share_one_execution(
    world: World, executions: Counter[str]
) -> None:
    s, app, hub = world.s, world.app, world.hub
    async with AsyncExitStack() as stack:
        kims = s.bookings["kim"]
        variables = {"tutorId": s.cy.id}
        # Under the same document and variables: the owner, an admin, another member, the
        # student, a stranger and the anonymous are refused exactly as before.
        for who, code in (
            (s.ada.token, "FORBIDDEN"),
            (s.dee.token, "FORBIDDEN"),
            (s.bob.token, "FORBIDDEN"),
            (SAM, "FORBIDDEN"),
            (token("kim", email="kim@example.com"), "FORBIDDEN"),
            (s.eve.token, "FORBIDDEN"),
            (None, "UNAUTHENTICATED"),
        ):
            assert await refused(*await follow(stack, app, who, BOOKINGS, variables)) == code
        # The tutor on two connections (a laptop and a phone): one class, one cohort.
        lives = [await follow(stack, app, s.cy.token, BOOKINGS, variables) for _ in range(2)]
        seen = await one_cancellation(hub, lives, "bookingEvents", s.cy.id, kims, executions)
        assert executions["bookingEvents"] == 1
        assert seen[0] == seen[1]
        event = seen[0]["data"]["bookingEvents"]
        assert event["booking"]["id"] == kims
        assert event["booking"]["start"] == at(monday(2), 12)
        # The tutor sees what the tutor may see: the student's email.
        assert event["booking"]["student"] == {"displayName": "Kim", "email": "kim@example.com"}


async def test_each_manager_is_a_class_of_their_own_on_the_organization_feed(
    world: World, executions: Counter[str]
) -> None:
    s, app, hub = world.s, world.app, world.hub
    kims, variables = s.bookings["kim"], {"id": s.id}
    async with AsyncExitStack() as stack:
        for who in (s.bob.token, s.cy.token, SAM, s.eve.token):
            assert await refused(*await follow(stack, app, who, FEED, variables)) == "FORBIDDEN"
        managers = [s.ada.token, s.ada.token, s.dee.token]  # the owner twice, an admin
        lives = [await follow(stack, app, who, FEED, variables) for who in managers]
        field = "organizationBookingEvents"
        seen = await one_cancellation(hub, lives, field, s.cy.id, kims, executions)
        # Ada's two connections share; Dee's identity is another class: two executions.
        assert executions[field] == 2
        for payload in seen:
            event = payload["data"][field]
            assert (event["action"], event["booking"]["id"]) == ("CANCELLED", kims)
            assert event["booking"]["tutor"] == {"id": s.cy.id}
            assert event["booking"]["student"] == {"email": "kim@example.com"}


async def test_a_member_that_falls_behind_is_cut_off_without_delaying_the_others() -> None:
    cohorts = Cohorts(queue_size=4)
    go = asyncio.Event()

    async def lead(cohort: Cohort) -> None:
        await go.wait()
        for n in range(10):
            cohort.deliver(f"frame {n}")  # never waits for a member
            await asyncio.sleep(0)

    async with cohorts.join("key", lead) as fast, cohorts.join("key", lead) as slow:
        assert len(cohorts) == 1
        go.set()
        assert [await anext(fast) for _ in range(11)] == [f"frame {n}" for n in range(10)] + [END]
        # The one that read nothing was cut off at its fifth frame; it learns so on its next read.
        with pytest.raises(SubscriberTooSlow):
            await anext(slow)
    assert len(cohorts) == 0


async def test_the_leader_stops_when_its_last_member_leaves() -> None:
    cohorts = Cohorts()
    stopped = asyncio.Event()

    async def lead(cohort: Cohort) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    async with cohorts.join("key", lead), cohorts.join("key", lead):
        await asyncio.sleep(0)
    await asyncio.wait_for(stopped.wait(), 5)
    assert len(cohorts) == 0


async def test_a_subscriber_arriving_as_its_cohort_ends_gets_a_cohort_of_its_own(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cohort's error (EVENTS_MISSED) reaches its members a moment before the cohort ends; one
    who subscribes in that moment must not join it and end at once with nothing."""
    s, app, hub = world.s, world.app, world.hub
    ended = Cohort._ended

    def later(self: Cohort, leader: asyncio.Task[None]) -> None:
        asyncio.get_running_loop().call_later(0.5, ended, self, leader)  # the moment, widened

    monkeypatch.setattr(Cohort, "_ended", later)
    channel = slots_channel(pk(s.cy.id))

    async def probe() -> None:
        await hub.publish(channel, slot(s.cy.id, PROBE_AT))

    async with AsyncExitStack() as stack:
        first, op = await follow(stack, app, None, SLOTS, {"tutorId": s.cy.id})
        await ready(first, op, probe)
        hub._interrupted()  # the broker came back: every subscriber may have missed events
        told = await first.message()
        assert told["payload"]["errors"][0]["extensions"]["code"] == "EVENTS_MISSED", told
        # Before the cohort has ended (its `complete` to the first is still to come).
        second, op = await follow(stack, app, None, SLOTS, {"tutorId": s.cy.id})
        message: dict[str, Any] = {}
        for _ in range(20):
            await probe()
            with contextlib.suppress(TimeoutError):
                message = await second.message(timeout=0.25)
                break
        assert (message["id"], message["type"]) == (op, "next"), message
        assert message["payload"]["data"]["slotEvents"]["start"] == PROBE_AT
