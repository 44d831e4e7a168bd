"""Resuming a booking subscription (`since`): what the subscriber missed is sent first, read back
from the live updates' outbox rows once the server listens, so nothing between a list (its
`asOf`) or a last event (its `at`) and the subscription is lost.

In process, with an in-memory hub: the app's Database publishes, so each change also keeps its
live updates as an outbox row (infra/db.py), which is what a resume reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp

from domain import events
from infra.db import Database
from infra.settings import Settings
from tests.helpers import (
    CLOCK,
    RESCHEDULE,
    GraphQLClient,
    Tutor,
    at,
    book,
    make_tutor,
    monday,
    weekly,
)
from tests.live.test_cohorts import served
from tests.live_client import Live, feed
from tests.organizations.test_visibility import SAM, studio

MINE = """subscription($tutorId: ID!, $since: DateTime) {
  bookingEvents(tutorId: $tutorId, since: $since) { action at booking { id } } }"""
STUDIO = """subscription($id: ID!, $since: DateTime) {
  organizationBookingEvents(organizationId: $id, since: $since) { action at booking { id } } }"""
LIST = """query($filter: BookingFilter) { bookings(filter: $filter) { asOf totalCount } }"""


@asynccontextmanager
async def publishing(
    settings: Settings, db: Database
) -> AsyncIterator[tuple[ASGIApp, GraphQLClient]]:
    """The app whose changes publish (and keep their live updates), and a client of it."""
    async with served(settings, db) as (app, _):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield app, GraphQLClient(http)


async def as_of(api: GraphQLClient, who: str, **filter: str) -> str:
    listed = (await api(LIST, {"filter": filter}, who))["bookings"]
    assert isinstance(listed["asOf"], str)
    return listed["asOf"]


async def lesson(api: GraphQLClient, tutor: Tutor, service: str, hour: int) -> str:
    made = await book(api, SAM, serviceId=service, tutorId=tutor.id, start=at(monday(2), hour))
    assert made["__typename"] == "BookingCreated", made
    booking: str = made["booking"]["id"]
    return booking


async def heard(live: Live, op: str, field: str, count: int) -> list[tuple[str, str, str]]:
    """(action, booking id, at) of the op's events, duplicates dropped, until `count` distinct."""
    seen: list[tuple[str, str, str]] = []
    while len(seen) < count:
        message = await live.message()
        assert (message["id"], message["type"]) == (op, "next"), message
        event = message["payload"]["data"][field]
        key = (event["action"], event["booking"]["id"], event["at"])
        if key not in seen:
            seen.append(key)
    return seen


async def ended_with(live: Live, op: str) -> dict[str, Any]:
    message = await live.message()
    assert (message["id"], message["type"]) == (op, "next"), message
    error: dict[str, Any] = message["payload"]["errors"][0]
    assert await live.message() == {"id": op, "type": "complete"}
    return error


async def test_a_dashboard_resumes_from_its_list_and_then_from_its_last_event(
    gql: GraphQLClient, db: Database, settings: Settings
) -> None:
    ada = await make_tutor(gql, "ada", "UTC", weekly("00:00", "00:00"))
    service = (await ada.service(slotIntervalMinutes=60))["service"]["id"]
    async with publishing(settings, db) as (app, api):
        since = await as_of(api, ada.token, tutorId=ada.id)
        # Changed after the list was read, before anyone follows them.
        first = await lesson(api, ada, service, 10)
        moved = {"bookingId": first, "newStart": at(monday(2), 11)}
        assert (await api(RESCHEDULE, {"input": moved}, SAM))["rescheduleBooking"]["booking"]
        async with feed(app, ada.token) as live:
            op = await live.subscribe(MINE, tutorId=ada.id, since=since)
            # Booked at once, not waiting for the server to listen: replayed or live, it comes.
            second = await lesson(api, ada, service, 13)
            seen = await heard(live, op, "bookingEvents", 3)
        assert [(action, booking) for action, booking, _ in seen] == [
            ("CREATED", first),
            ("RESCHEDULED", first),
            ("CREATED", second),
        ]
        # The socket lost; a change meanwhile; resumed from the last event's `at`.
        third = await lesson(api, ada, service, 15)
        async with feed(app, ada.token) as live:
            op = await live.subscribe(MINE, tutorId=ada.id, since=seen[-1][2])
            again = await heard(live, op, "bookingEvents", 4)
        assert ("CREATED", third) in [(action, booking) for action, booking, _ in again]
        assert set(seen) <= set(again)  # the minute before `since` again: harmless twice


async def test_an_organization_feed_resumes_with_its_members_bookings_only(
    gql: GraphQLClient, db: Database, settings: Settings
) -> None:
    s = await studio(gql)
    outside = (await s.eve.service())["service"]["id"]
    async with publishing(settings, db) as (app, api):
        since = await as_of(api, s.dee.token, organizationId=s.id)
        bob = await lesson(api, s.bob, s.services["bob"], 14)
        await lesson(api, s.eve, outside, 16)  # Eve is not a member: not in the studio's feed
        async with feed(app, s.dee.token) as live:
            op = await live.subscribe(STUDIO, id=s.id, since=since)
            cy = await lesson(api, s.cy, s.services["cy"], 15)
            seen = await heard(live, op, "organizationBookingEvents", 2)
    assert [(action, booking) for action, booking, _ in seen] == [("CREATED", bob), ("CREATED", cy)]


@pytest.mark.parametrize("why", ["too old", "too many"])
async def test_a_resume_that_cannot_be_replayed_ends_with_refetch_needed(
    gql: GraphQLClient, db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch, why: str
) -> None:
    ada = await make_tutor(gql, "ada", "UTC", weekly("00:00", "00:00"))
    service = (await ada.service(slotIntervalMinutes=60))["service"]["id"]
    monkeypatch.setattr(events, "REPLAY_LIMIT", 1)
    async with publishing(settings, db) as (app, api):
        since = await as_of(api, ada.token, tutorId=ada.id)
        if why == "too old":
            since = (CLOCK() - events.REPLAY_WINDOW - timedelta(seconds=1)).isoformat()
            expected = "since is more than an hour ago"
        else:
            await lesson(api, ada, service, 10)
            await lesson(api, ada, service, 11)
            expected = "more than 1 changes since then"
        async with feed(app, ada.token) as live:
            op = await live.subscribe(MINE, tutorId=ada.id, since=since)
            error = await ended_with(live, op)
    assert error["extensions"]["code"] == "REFETCH_NEEDED", error
    assert error["message"].startswith(expected), error
