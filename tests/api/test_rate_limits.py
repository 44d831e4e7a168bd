"""Rate limits on mutations: anonymous callers per client address, signed-in callers per `sub`
with their own budget; over it, HTTP 429 and RATE_LIMITED before anything runs; X-Forwarded-For
believed only from a trusted proxy; with Redis, several app instances share one budget."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select
from starlette.applications import Starlette

from booking_api.app import build_app
from infra.db import Database
from infra.settings import RateLimits, Settings
from models import Booking
from tests.helpers import CREATE, GraphQLClient, at, make_tutor, monday, token, weekly
from tests.processes import service_up

CANCEL = """mutation { cancelBooking(input: {token: "not-a-token"}) { __typename } }"""
THREE = """mutation { a: cancelBooking(input: {token: "x"}) { __typename }
  b: cancelBooking(input: {token: "y"}) { __typename }
  ...more }
fragment more on Mutation { c: cancelBooking(input: {token: "z"}) { __typename } }"""
QUERY = "{ viewer { userId } }"
PEER = "203.0.113.5"


def limited(settings: Settings, **rates: Any) -> Settings:
    return replace(settings, rate_limits=RateLimits(**rates))


@asynccontextmanager
async def client(app: Starlette, peer: str = PEER) -> AsyncIterator[httpx.AsyncClient]:
    """The app as reached from `peer` (the connection's address)."""
    transport = httpx.ASGITransport(app=app, client=(peer, 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def send(
    http: httpx.AsyncClient,
    query: str = CANCEL,
    variables: dict[str, Any] | None = None,
    who: str | None = None,
    forwarded_for: str | None = None,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {who}"} if who else {}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    return await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )


def refused(response: httpx.Response) -> bool:
    """Whether this is the rate limit's answer (and a well-formed one)."""
    if response.status_code != 429:
        assert response.status_code == 200, response.text
        assert "errors" not in response.json(), response.json()
        return False
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    wait = error["extensions"]["retryAfter"]
    assert 1 <= wait <= 60
    assert response.headers["Retry-After"] == str(wait)
    return True


async def test_guest_bookings_over_the_limit_are_refused_with_429_and_write_nothing(
    gql: GraphQLClient, settings: Settings, db: Database
) -> None:
    ada = await make_tutor(gql, "ada", "UTC", weekly("00:00", "00:00"))
    service = (await ada.service(title="Piano", slotIntervalMinutes=60))["service"]["id"]
    app = build_app(limited(settings, anonymous="3/minute"), db)

    def guest(hour: int) -> dict[str, Any]:
        guest = {"name": "Gus", "email": f"gus{hour}@example.com"}
        start, zone = at(monday(), hour), "UTC"
        return {
            "input": {
                "serviceId": service,
                "tutorId": ada.id,
                "start": start,
                "timeZone": zone,
                "guest": guest,
            }
        }

    async with client(app) as http:
        for hour in (9, 10, 11):
            response = await send(http, CREATE, guest(hour))
            assert not refused(response)
            assert response.json()["data"]["createBooking"]["__typename"] == "BookingCreated"
        assert refused(await send(http, CREATE, guest(12)))
        assert not refused(await send(http, QUERY))  # queries are not counted
    async with db.session() as session:
        assert (await session.exec(select(func.count()).select_from(Booking))).one() == 3


async def test_each_mutation_field_counts_and_addresses_have_their_own_budget(
    settings: Settings, db: Database
) -> None:
    app = build_app(limited(settings, anonymous="3/minute"), db)
    async with client(app) as http:
        assert not refused(await send(http, THREE))  # three fields, one through a fragment
        assert refused(await send(http, CANCEL))
    async with client(app, "198.51.100.7") as http:
        assert not refused(await send(http, CANCEL))
    # An IPv6 subscriber holds a whole /64: its addresses share one budget.
    async with client(app, "2001:db8:1:2::5") as http:
        assert not refused(await send(http, THREE))
    async with client(app, "2001:db8:1:2:ffff::6") as http:
        assert refused(await send(http, CANCEL))
    async with client(app, "2001:db8:1:3::5") as http:
        assert not refused(await send(http, CANCEL))


async def test_signed_in_callers_have_their_own_higher_budget(
    settings: Settings, db: Database
) -> None:
    app = build_app(limited(settings, anonymous="2/minute", authenticated="5/minute"), db)
    sam, kim = token("sam"), token("kim")
    async with client(app) as http:
        assert [refused(await send(http)) for _ in range(3)] == [False, False, True]
        # Same address, signed in: Sam's own budget, untouched by the anonymous one.
        assert [refused(await send(http, who=sam)) for _ in range(6)] == [False] * 5 + [True]
        assert not refused(await send(http, who=kim))
        assert not refused(await send(http, QUERY, who=sam))


async def test_a_bulk_change_counts_each_booking(settings: Settings, db: Database) -> None:
    app = build_app(limited(settings, authenticated="5/minute"), db)
    bulk = """mutation($ids: [ID!]!) {
      updateBookings(input: {bookingIds: $ids, action: COMPLETE}) { __typename } }"""
    sam, kim = token("sam"), token("kim")
    async with client(app) as http:
        assert not refused(await send(http, bulk, {"ids": ["a"] * 5}, who=sam))
        assert refused(await send(http, CANCEL, who=sam))
        assert refused(await send(http, bulk, {"ids": ["a"] * 6}, who=kim))


async def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(
    settings: Settings, db: Database
) -> None:
    app = build_app(limited(settings, anonymous="1/minute", trusted_proxies=("10.0.0.0/8",)), db)
    async with client(app) as http:  # not a proxy of ours: its header changes nothing
        assert not refused(await send(http, forwarded_for="198.51.100.1"))
        assert refused(await send(http, forwarded_for="198.51.100.2"))
    async with client(app, "10.1.2.3") as http:  # our proxy: each client its own budget
        assert not refused(await send(http, forwarded_for="198.51.100.1"))
        assert not refused(await send(http, forwarded_for="198.51.100.2"))
        # The right-most address that is not one of our proxies is the client's; what the
        # client wrote in front of it (a forged "first hop") is not believed.
        assert refused(await send(http, forwarded_for="192.0.2.99, 198.51.100.1, 10.9.9.9"))


needs_redis = pytest.mark.skipif(not service_up("Redis", 6379), reason="no Redis on 127.0.0.1:6379")


@needs_redis
async def test_with_redis_two_app_instances_share_one_budget(
    settings: Settings, db: Database
) -> None:
    shared = limited(settings, anonymous="3/minute", storage_url="redis://127.0.0.1:6379/0")
    peer = f"2001:db8:{secrets.randbelow(65536):x}:{secrets.randbelow(65536):x}::1"  # fresh
    async with (
        client(build_app(shared, db), peer) as one,
        client(build_app(shared, db), peer) as two,
    ):
        assert not refused(await send(one))
        assert not refused(await send(two))
        assert not refused(await send(one))
        assert refused(await send(two))


async def test_an_unreachable_limit_store_lets_mutations_through(
    settings: Settings, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    app = build_app(limited(settings, anonymous="1/minute", storage_url="redis://127.0.0.1:9"), db)
    async with client(app) as http:
        assert [refused(await send(http)) for _ in range(2)] == [False, False]
    assert "rate limits unavailable" in caplog.text
