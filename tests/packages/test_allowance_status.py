"""Service.monthlyAllowanceRemaining and ResetsOn: counted as booking counts, in the tutor zone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.helpers import CANCEL, CLOCK, GraphQLClient, book, make_tutor, token, weekly

pytestmark = pytest.mark.calendar

STATUS = """query($id: ID!) { node(id: $id) { ... on Service {
  monthlyAllowanceRemaining monthlyAllowanceResetsOn } } }"""


def utc(day: int, hour: int) -> datetime:
    return datetime(2031, 3, day, hour, tzinfo=UTC)


async def test_allowance_left_this_month_in_the_tutors_zone(gql: GraphQLClient) -> None:
    # Tokyo is UTC+9: 31 March 16:00 UTC is already 1 April there.
    CLOCK.set(utc(31, 10))  # 19:00 on 31 March in Tokyo
    ada = await make_tutor(gql, "ada", "Asia/Tokyo", weekly("00:00", "00:00"))
    service = (
        await ada.service(
            title="Check-in", kind="CHECKIN", monthlyFreeAllowance=2, slotIntervalMinutes=60
        )
    )["service"]
    sam = token("sam")

    async def status(who: str | None) -> dict[str, Any]:
        found: dict[str, Any] = (await gql(STATUS, {"id": service["id"]}, who))["node"]
        return found

    async def attempt(hour: int) -> dict[str, Any]:
        start = utc(31, hour).isoformat()
        return await book(gql, sam, serviceId=service["id"], tutorId=ada.id, start=start)

    assert await status(sam) == {
        "monthlyAllowanceRemaining": 2,
        "monthlyAllowanceResetsOn": "2031-04-01",
    }
    # Anonymous viewers learn when it resets, not what is left.
    assert await status(None) == {
        "monthlyAllowanceRemaining": None,
        "monthlyAllowanceResetsOn": "2031-04-01",
    }
    first = await attempt(12)  # 21:00 on 31 March in Tokyo
    assert first["__typename"] == "BookingCreated"
    assert (await attempt(16))["__typename"] == "BookingCreated"  # 1 April in Tokyo
    assert (await status(sam))["monthlyAllowanceRemaining"] == 1
    assert (await attempt(13))["__typename"] == "BookingCreated"
    assert (await status(sam))["monthlyAllowanceRemaining"] == 0
    # Remaining 0 is exactly when booking refuses.
    assert (await attempt(14))["policy"] == "MONTHLY_ALLOWANCE_USED"
    await gql(CANCEL, {"input": {"bookingId": first["booking"]["id"]}}, sam)
    assert (await status(sam))["monthlyAllowanceRemaining"] == 1  # cancelled ones don't count
    assert (await attempt(14))["__typename"] == "BookingCreated"
    assert (await status(sam))["monthlyAllowanceRemaining"] == 0

    CLOCK.set(utc(31, 15).replace(minute=30))  # 00:30 on 1 April in Tokyo, still March in UTC
    assert await status(sam) == {
        "monthlyAllowanceRemaining": 1,  # the booking at 01:00 on 1 April counts in April
        "monthlyAllowanceResetsOn": "2031-05-01",
    }
    # The tutor books as the tutor: no allowance is theirs to see.
    assert (await status(ada.token))["monthlyAllowanceRemaining"] is None


async def test_no_allowance_no_status(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    service = (await ada.service())["service"]
    found = (await gql(STATUS, {"id": service["id"]}, token("sam")))["node"]
    assert found == {"monthlyAllowanceRemaining": None, "monthlyAllowanceResetsOn": None}
