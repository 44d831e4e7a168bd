"""availableSlots through GraphQL: zones, overrides, busy time, tutors, refusals, query count."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from infra.db import Database
from models import BookingStatus
from tests.calendar_days import dst_changes
from tests.helpers import (
    CLOCK,
    SEARCH,
    GraphQLClient,
    add_booking,
    count_statements,
    make_tutor,
    organization,
    search,
    weekly,
)

# On the awkward days CI picks too (tests/calendar_days.py).
pytestmark = pytest.mark.calendar

ADD_OVERRIDE = (
    """mutation($input: AddOverrideInput!) { addOverride(input: $input) { __typename } }"""
)


def future_monday(weeks: int = 2) -> date:
    today = CLOCK().date()
    return today + timedelta(days=7 * weeks - today.weekday())


async def test_a_week_in_the_viewers_zone(gql: GraphQLClient) -> None:
    ada = await make_tutor(
        gql, "ada", "Europe/Berlin", weekly("09:00", "11:00", ["MONDAY", "TUESDAY"])
    )
    service = (
        await ada.service(
            durations=[{"minutes": 60, "price": {"amountMinor": 4000, "currency": "EUR"}}],
            slotIntervalMinutes=60,
            bookingWindowDays=365,
        )
    )["service"]
    monday = future_monday()
    result = await search(
        gql,
        serviceId=service["id"],
        **{
            "from": f"{monday}T00:00:00+01:00",
            "to": f"{monday + timedelta(days=7)}T00:00:00+01:00",
        },
        timeZone="Asia/Kolkata",
    )
    assert result["timeZone"] == "Asia/Kolkata"
    starts = [s["start"] for s in result["slots"]]
    assert len(starts) == 4
    assert all(s.endswith("+05:30") for s in starts)
    first = datetime.fromisoformat(starts[0])
    assert first.astimezone(UTC).hour in (7, 8)  # 09:00 Berlin is 08:00 or 07:00 UTC
    assert result["slots"][0]["price"] == {"amountMinor": 4000, "currency": "EUR"}
    assert result["slots"][0]["durationMinutes"] == 60
    assert result["slots"][0]["remainingCapacity"] is None  # anonymous
    assert [d["slotCount"] for d in result["days"]] == [2, 2]
    assert result["nextAvailable"]["start"] == starts[0]


async def test_dst_day_through_the_api(gql: GraphQLClient) -> None:
    # The next day New York moves to EDT (a Sunday in March); London is on GMT until its own
    # change, at least a week later.
    change = next(
        c for c in dst_changes("America/New_York", CLOCK() + timedelta(days=2)) if c.month < 7
    )
    day, before = change.date(), change.date() - timedelta(days=1)
    ada = await make_tutor(gql, "ada", "America/New_York", weekly("13:00", "15:00"))
    service = (await ada.service(slotIntervalMinutes=60, bookingWindowDays=730))["service"]
    result = await search(
        gql,
        serviceId=service["id"],
        **{"from": f"{before}T00:00:00Z", "to": f"{day + timedelta(days=1)}T00:00:00Z"},
        timeZone="Europe/London",
    )
    assert [s["start"] for s in result["slots"]] == [
        f"{before}T18:00:00+00:00",
        f"{before}T19:00:00+00:00",
        f"{day}T17:00:00+00:00",
        f"{day}T18:00:00+00:00",
    ]


async def test_overrides_change_the_slots(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada", "UTC", weekly("09:00", "12:00"))
    service = (await ada.service(slotIntervalMinutes=60))["service"]
    monday = future_monday()
    window = {"from": f"{monday}T00:00:00Z", "to": f"{monday + timedelta(days=2)}T00:00:00Z"}

    async def hours() -> list[str]:
        found = await search(gql, serviceId=service["id"], timeZone="UTC", **window)
        return [s["start"][5:16] for s in found["slots"]]

    tuesday = monday + timedelta(days=1)
    assert len(await hours()) == 6
    for override in (
        {"date": str(monday), "available": False},
        {"date": str(tuesday), "start": "10:00", "end": "11:00", "available": False},
        {"date": str(tuesday), "start": "18:00", "end": "19:00", "available": True},
    ):
        saved = await gql(
            ADD_OVERRIDE, {"input": {"scheduleId": ada.schedule_id, **override}}, ada.token
        )
        assert saved["addOverride"]["__typename"] == "OverrideAdded"
    t = str(tuesday)[5:]
    assert await hours() == [f"{t}T09:00", f"{t}T11:00", f"{t}T18:00"]


async def test_busy_time_and_remaining_capacity(gql: GraphQLClient, db: Database) -> None:
    ada = await make_tutor(gql, "ada", "UTC", weekly("09:00", "13:00"))
    group = (await ada.service(title="Group", capacity=2, slotIntervalMinutes=60))["service"]
    other = (await ada.service(title="Private"))["service"]
    monday = future_monday()

    def at(hour: int) -> datetime:
        return datetime(monday.year, monday.month, monday.day, hour, tzinfo=UTC)

    await add_booking(db, ada.id, group["id"], at(9))
    await add_booking(db, ada.id, group["id"], at(10))
    await add_booking(db, ada.id, group["id"], at(10))
    await add_booking(db, ada.id, other["id"], at(12))
    await add_booking(db, ada.id, group["id"], at(11), status=BookingStatus.CANCELLED)
    window = {"from": f"{monday}T00:00:00Z", "to": f"{monday}T23:00:00Z"}
    tutor_view = await search(gql, ada.token, serviceId=group["id"], timeZone="UTC", **window)
    seats = {s["start"][11:16]: s["remainingCapacity"] for s in tutor_view["slots"]}
    assert seats == {"09:00": 1, "11:00": 2}
    public = await search(gql, serviceId=group["id"], timeZone="UTC", **window)
    assert [s["remainingCapacity"] for s in public["slots"]] == [None, None]


async def test_every_tutor_of_a_service(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada", "UTC", weekly("09:00", "11:00"))
    bob = await make_tutor(gql, "bob", "UTC", weekly("10:00", "12:00"))
    studio = await organization(gql, ada, bob)
    service = (
        await ada.service(organizationId=studio, tutorIds=[ada.id, bob.id], slotIntervalMinutes=60)
    )["service"]
    monday = future_monday()
    window = {"from": f"{monday}T00:00:00Z", "to": f"{monday}T23:00:00Z"}
    both = await search(gql, serviceId=service["id"], timeZone="UTC", **window)
    order = [(s["start"][11:16], s["tutor"]["id"]) for s in both["slots"]]
    assert order == [("09:00", ada.id), ("10:00", ada.id), ("10:00", bob.id), ("11:00", bob.id)]
    only_bob = await search(gql, serviceId=service["id"], tutorId=bob.id, timeZone="UTC", **window)
    assert {s["tutor"]["id"] for s in only_bob["slots"]} == {bob.id}
    # Each tutor sees seats only on their own slots.
    seen = await search(gql, bob.token, serviceId=service["id"], timeZone="UTC", **window)
    assert [(s["tutor"]["id"] == bob.id, s["remainingCapacity"]) for s in seen["slots"]] == [
        (False, None),
        (False, None),
        (True, 1),
        (True, 1),
    ]


async def test_notice_window_and_next_available(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada", "UTC", weekly("00:00", "00:00"))
    service = (
        await ada.service(minimumNoticeMinutes=24 * 60, bookingWindowDays=3, slotIntervalMinutes=60)
    )["service"]
    now = CLOCK()
    result = await search(
        gql,
        serviceId=service["id"],
        timeZone="UTC",
        **{"from": now.isoformat(), "to": (now + timedelta(days=10)).isoformat()},
    )
    starts = [datetime.fromisoformat(s["start"]) for s in result["slots"]]
    assert min(starts) >= now + timedelta(hours=24)
    assert max(starts) <= now + timedelta(days=3)
    # Nothing in today's range (notice), so nextAvailable looks past it.
    today = await search(
        gql,
        serviceId=service["id"],
        timeZone="UTC",
        **{"from": now.isoformat(), "to": (now + timedelta(hours=2)).isoformat()},
    )
    assert today["slots"] == []
    assert datetime.fromisoformat(today["nextAvailable"]["start"]) == min(starts)


async def test_refusals(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    service = (await ada.service(durations=[{"minutes": 30}, {"minutes": 60}]))["service"]
    base = {
        "serviceId": service["id"],
        "timeZone": "UTC",
        "from": "2027-01-04T00:00:00Z",
        "to": "2027-01-05T00:00:00Z",
    }

    async def refused(**change: Any) -> dict[str, Any]:
        return await gql.error(SEARCH, {"input": {**base, **change}})

    assert "Unknown time zone" in (await refused(timeZone="Europe/Nowhere"))["message"]
    reversed_ = await refused(to="2027-01-03T00:00:00Z")
    assert reversed_["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.to"}
    huge = await refused(to="2027-06-01T00:00:00Z")
    assert "93 days" in huge["message"]
    duration = await refused(durationMinutes=45)
    assert duration["extensions"]["field"] == "input.durationMinutes"
    assert "30, 60" in duration["message"]
    assert "UTC offset" in (await refused(**{"from": "2027-01-04T00:00:00"}))["message"]
    assert (await refused(serviceId="junk"))["extensions"]["field"] == "input.serviceId"
    assert (await refused(tutorId=service["id"]))["extensions"]["field"] == "input.tutorId"
    ok = await gql(SEARCH, {"input": {**base, "durationMinutes": 30}})  # anonymous may search
    assert ok["availableSlots"]["timeZone"] == "UTC"


async def test_queries_per_search_do_not_grow(gql: GraphQLClient, db: Database) -> None:
    tutors = [await make_tutor(gql, f"t{i}", "UTC", weekly("09:00", "17:00")) for i in range(4)]
    studio = await organization(gql, *tutors)
    service = (await tutors[0].service(organizationId=studio, tutorIds=[t.id for t in tutors]))[
        "service"
    ]
    monday = future_monday()
    for t in tutors:
        await add_booking(
            db, t.id, service["id"], datetime(monday.year, monday.month, monday.day, 10, tzinfo=UTC)
        )

    async def statements(**input: Any) -> int:
        with count_statements(db) as seen:
            await search(gql, serviceId=service["id"], timeZone="UTC", **input)
        return len(seen)

    small = await statements(
        tutorId=tutors[0].id, **{"from": f"{monday}T00:00:00Z", "to": f"{monday}T12:00:00Z"}
    )
    large = await statements(
        **{"from": f"{monday}T00:00:00Z", "to": f"{monday + timedelta(days=60)}T00:00:00Z"}
    )
    assert small == large
    assert large <= 10
