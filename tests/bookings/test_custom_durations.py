"""Custom lengths through GraphQL: search and booking take any length on a service's grid, as
if it were listed, priced pro rata (half up, in minor units); lengths off it are refused."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.bookings.free_time import choose_duration
from domain.custom_durations import apply
from domain.errors import InvalidInput
from domain.service_rules import CustomGrid, ServiceRules
from domain.services import ServiceInfo
from infra.db import Database
from models import Service, ServiceDuration
from tests.fakes.stripe_server import FakeStripe, session_of
from tests.helpers import (
    CLOCK,
    CREATE_MANY,
    PAID,
    RESCHEDULE,
    GraphQLClient,
    Tutor,
    add_booking,
    at,
    count_statements,
    grant,
    make_tutor,
    monday,
    search,
    stored_student,
    token,
    weekly,
)

# On the awkward days CI picks too (tests/calendar_days.py).
pytestmark = pytest.mark.calendar

GRID = {"minMinutes": 30, "maxMinutes": 120, "stepMinutes": 15}
SAM = token("sam", email="sam@example.com")
BOOK = f"""mutation($input: CreateBookingInput!) {{ createBooking(input: $input) {{
  __typename ... on BookingCreated {{ booking {{ durationMinutes start end {PAID} }} }}
  ... on InvalidInput {{ message field }}
  ... on PackageUnusable {{ message packageReason: reason }} }} }}"""
SEARCH_ERROR = (
    """query($input: SlotSearchInput!) { availableSlots(input: $input) { slots { start } } }"""
)


def money(amount_minor: int, currency: str = "USD") -> dict[str, Any]:
    return {"amountMinor": amount_minor, "currency": currency}


def minutes_between(start: str, end: str) -> int:
    gap = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    return int(gap.total_seconds() // 60)


async def coach(gql: GraphQLClient, **service: Any) -> tuple[Tutor, str]:
    """Ada, 09:00 to 17:00 UTC every day, and a service with a 60-minute listed length and
    the grid 30 to 120 by 15 unless told otherwise."""
    ada = await make_tutor(gql, "ada", "UTC", weekly("09:00", "17:00"))
    service.setdefault("durations", [{"minutes": 60}])
    service.setdefault("customDuration", GRID)
    made = await ada.service(**service)
    assert made["__typename"] == "ServiceSaved", made
    return ada, made["service"]["id"]


async def book(gql: GraphQLClient, who: str, **input: Any) -> dict[str, Any]:
    input.setdefault("timeZone", "UTC")
    result: dict[str, Any] = (await gql(BOOK, {"input": input}, who))["createBooking"]
    return result


async def test_search_finds_custom_lengths_as_if_they_were_listed(
    gql: GraphQLClient, db: Database
) -> None:
    rules = {"slotIntervalMinutes": 30, "bufferAfterMinutes": 15, "capacity": 2}
    ada, custom = await coach(gql, customDuration={**GRID, "pricePerHour": money(5000)}, **rules)
    listed = (await ada.service(durations=[{"minutes": 45}], **rules))["service"]["id"]
    other = (await ada.service(title="Other"))["service"]["id"]
    day = monday(2)
    await add_booking(db, ada.id, other, datetime.fromisoformat(at(day, 11)))

    window = {
        "tutorId": ada.id,
        "from": at(day, 0),
        "to": at(day + timedelta(days=1), 0),
        "timeZone": "UTC",
    }
    with count_statements(db) as by_grid:
        found = await search(gql, ada.token, serviceId=custom, durationMinutes=45, **window)
    with count_statements(db) as by_list:
        same = await search(gql, ada.token, serviceId=listed, durationMinutes=45, **window)
    assert len(by_grid) == len(by_list)  # the grid is read with the service: no more queries
    starts = [s["start"] for s in found["slots"]]
    assert starts == [s["start"] for s in same["slots"]]  # the engine's answer, unchanged
    assert at(day, 10) in starts and at(day, 10, 30) not in starts  # buffer meets 11:00
    assert starts[-1] == at(day, 16)  # 16:00 + 45 + 15 buffer ends at 17:00
    for slot in found["slots"]:
        assert slot["durationMinutes"] == 45
        assert minutes_between(slot["start"], slot["end"]) == 45
        assert slot["price"] == money(3750)  # 45 minutes at 50.00 an hour
        assert slot["remainingCapacity"] == 2  # seen by its tutor
    # A booking of a custom length takes a seat like any other.
    sam = await stored_student(db, SAM)
    common = {"serviceId": custom, "tutorId": ada.id, "studentId": sam}
    made = await book(gql, ada.token, **common, start=at(day, 9), durationMinutes=45)
    assert made["booking"]["durationMinutes"] == 45
    after = await search(gql, ada.token, serviceId=custom, durationMinutes=45, **window)
    seats = {s["start"]: s["remainingCapacity"] for s in after["slots"]}
    assert (seats[at(day, 9)], seats[at(day, 10)]) == (1, 2)
    # The grid's ends are lengths too; the listed length and the default stay as they were.
    shortest = await search(gql, serviceId=custom, durationMinutes=30, **window)
    assert shortest["slots"][0]["price"] == money(2500)
    longest = await search(gql, serviceId=custom, durationMinutes=120, **window)
    assert longest["slots"][0]["price"] == money(10000)
    for answer in (
        await search(gql, serviceId=custom, durationMinutes=60, **window),
        await search(gql, serviceId=custom, **window),
    ):
        assert {(s["durationMinutes"], s["price"] is None) for s in answer["slots"]} == {(60, True)}


async def test_a_listed_length_keeps_its_own_price(gql: GraphQLClient, db: Database) -> None:
    ada, service = await coach(
        gql,
        durations=[{"minutes": 60, "price": money(4500)}],
        customDuration={**GRID, "pricePerHour": money(5000)},
    )
    day = monday(2)
    window = {"tutorId": ada.id, "from": at(day, 9), "to": at(day, 12), "timeZone": "UTC"}
    found = await search(gql, serviceId=service, durationMinutes=60, **window)
    assert {s["price"]["amountMinor"] for s in found["slots"]} == {4500}
    sam = await stored_student(db, SAM)
    made = await book(
        gql, ada.token, serviceId=service, tutorId=ada.id, start=at(day, 9), studentId=sam
    )
    assert made["booking"]["price"] == money(4500)
    custom = await book(
        gql,
        ada.token,
        serviceId=service,
        tutorId=ada.id,
        start=at(day, 11),
        studentId=sam,
        durationMinutes=75,
    )
    assert (custom["booking"]["durationMinutes"], custom["booking"]["price"]) == (
        75,
        money(6250),
    )


@pytest.mark.parametrize(
    ("per_hour", "minutes", "captured"),
    [
        (money(5000), 45, money(3750)),  # 45 min at 50.00/h: exact
        (money(1000), 25, money(417)),  # 416.67 rounds up
        (money(1000), 40, money(667)),  # 666.67 rounds up
        (money(999), 50, money(833)),  # 832.5: half up
        (money(999), 35, money(583)),  # 582.75 rounds up; 35 at 9.99 = 5.83
        (money(1001), 5, money(83)),  # 83.42 rounds down
        (money(5000, "JPY"), 25, money(2083, "JPY")),  # yen have no minor digits: 2083.33
        (money(90, "JPY"), 5, money(8, "JPY")),  # 7.5 yen: half up
    ],
)
async def test_booking_a_custom_length_captures_its_pro_rata_price(
    card_gql: GraphQLClient,
    stripe_fake: FakeStripe,
    per_hour: dict[str, Any],
    minutes: int,
    captured: dict[str, Any],
) -> None:
    grid = {"minMinutes": 5, "maxMinutes": 120, "stepMinutes": 5, "pricePerHour": per_hour}
    ada, service = await coach(card_gql, customDuration=grid)
    start = at(monday(2), 10)
    made = await book(
        card_gql, SAM, serviceId=service, tutorId=ada.id, start=start, durationMinutes=minutes
    )
    held = made["booking"]
    assert (held["status"], held["durationMinutes"], held["price"]) == (
        "PENDING_PAYMENT",
        minutes,
        captured,
    )
    assert minutes_between(held["start"], held["end"]) == minutes
    checkout = session_of(stripe_fake, held["id"])
    assert checkout["line_items"][0]["price_data"]["unit_amount"] == str(captured["amountMinor"])
    assert checkout["currency"] == captured["currency"].lower()
    assert f"({minutes} min)" in checkout["line_items"][0]["price_data"]["product_data"]["name"]


async def test_lengths_off_the_grid_are_refused_in_search_and_booking(
    gql: GraphQLClient,
) -> None:
    ada, service = await coach(gql)
    day = monday(2)
    window = {"serviceId": service, "from": at(day, 9), "to": at(day, 12), "timeZone": "UTC"}
    for minutes in (15, 50, 65, 135, 0):
        error = await gql.error(
            SEARCH_ERROR, {"input": {**window, "durationMinutes": minutes}}, SAM
        )
        assert error["extensions"]["field"] == "input.durationMinutes", error
        assert "30 to 120 in steps of 15" in error["message"]
        refused = await book(
            gql, SAM, serviceId=service, tutorId=ada.id, start=at(day, 9), durationMinutes=minutes
        )
        assert (refused["__typename"], refused["field"]) == (
            "InvalidInput",
            "input.durationMinutes",
        )

    def many(second: int) -> dict[str, Any]:
        slots = [
            {"start": at(day, 9), "durationMinutes": 45},
            {"start": at(day, 11), "durationMinutes": second},
        ]
        return {"serviceId": service, "tutorId": ada.id, "timeZone": "UTC", "slots": slots}

    refused_many = (await gql(CREATE_MANY, {"input": many(40)}, SAM))["createBookings"]
    assert refused_many["field"] == "input.slots.1.durationMinutes"
    made = (await gql(CREATE_MANY, {"input": many(105)}, SAM))["createBookings"]
    assert [b["start"] for b in made["bookings"]] == [at(day, 9), at(day, 11)]

    # Once the grid is removed, its lengths are refused like any other.
    update = """mutation($input: UpdateServiceInput!) { updateService(input: $input) {
      __typename } }"""
    await gql(update, {"input": {"id": service, "customDuration": None}}, ada.token)
    gone = await book(
        gql, SAM, serviceId=service, tutorId=ada.id, start=at(day, 14), durationMinutes=45
    )
    assert gone["__typename"] == "InvalidInput"
    assert "offered: 60)" in gone["message"]


async def test_a_custom_length_is_moved_and_changed_like_a_listed_one(gql: GraphQLClient) -> None:
    ada, service = await coach(gql)
    day = monday(2)
    made = await book(
        gql, SAM, serviceId=service, tutorId=ada.id, start=at(day, 9), durationMinutes=45
    )
    booking = made["booking"]["id"]
    moved = (
        await gql(RESCHEDULE, {"input": {"bookingId": booking, "newStart": at(day, 13)}}, SAM)
    )["rescheduleBooking"]
    assert moved["booking"]["durationMinutes"] == 45  # kept
    assert moved["booking"]["end"] == at(day, 13, 45)
    longer = {"bookingId": booking, "newStart": at(day, 14), "durationMinutes": 90}
    changed = (await gql(RESCHEDULE, {"input": longer}, SAM))["rescheduleBooking"]
    assert (changed["booking"]["durationMinutes"], changed["booking"]["end"]) == (
        90,
        at(day, 15, 30),
    )
    off = {"bookingId": booking, "newStart": at(day, 14), "durationMinutes": 100}
    refused = (await gql(RESCHEDULE, {"input": off}, SAM))["rescheduleBooking"]
    assert (refused["__typename"], refused["field"]) == ("InvalidInput", "input.durationMinutes")


async def test_packages_pay_for_custom_lengths(gql: GraphQLClient, db: Database) -> None:
    ada, service = await coach(gql, customDuration={**GRID, "pricePerHour": money(5000)})
    sam = token("sam")
    sam_id = await stored_student(db, sam)
    minutes = (await grant(gql, ada, studentId=sam_id, unit="MINUTES", total=120))["package"]
    sessions = (await grant(gql, ada, studentId=sam_id, unit="SESSIONS", total=2))["package"]
    hours = (
        await grant(gql, ada, studentId=sam_id, unit="SESSIONS", total=2, sessionDurationMinutes=60)
    )["package"]
    day = monday(2)
    common = {"serviceId": service, "tutorId": ada.id}
    by_minutes = await book(
        gql, sam, **common, start=at(day, 9), durationMinutes=75, packageId=minutes["id"]
    )
    # A package pays: confirmed at once, nothing to pay by card.
    assert (by_minutes["booking"]["status"], by_minutes["booking"]["price"]) == (
        "CONFIRMED",
        None,
    )
    by_session = await book(
        gql, sam, **common, start=at(day, 11), durationMinutes=105, packageId=sessions["id"]
    )
    assert by_session["booking"]["durationMinutes"] == 105
    wrong = await book(
        gql, sam, **common, start=at(day, 14), durationMinutes=45, packageId=hours["id"]
    )
    assert wrong["packageReason"] == "WRONG_DURATION"

    remaining = "query($id: ID!) { node(id: $id) { ... on Package { remaining } } }"
    left = [
        (await gql(remaining, {"id": p["id"]}, sam))["node"]["remaining"]
        for p in (minutes, sessions, hours)
    ]
    assert left == [45, 1, 2]


# ---------------------------------------------------------------- the invariant, without I/O

LISTED = 60


@st.composite
def grids(draw: st.DrawFn) -> CustomGrid:
    step = 5 * draw(st.integers(1, 24))
    low = 5 * draw(st.integers(1, 100))
    steps = draw(st.integers(0, (720 - low) // step))
    per_hour = draw(st.none() | st.integers(200, 10**7))
    currency = draw(st.sampled_from(["USD", "JPY", "EUR"]))
    return CustomGrid(low, low + steps * step, step, per_hour, currency)


@given(grid=grids(), minutes=st.integers(-5, 800))
def test_every_grid_length_and_no_other_is_accepted_at_its_rounded_price(
    grid: CustomGrid, minutes: int
) -> None:
    row = Service(id=uuid.uuid4(), title="Coaching", kind="SESSION", created_at=CLOCK())
    apply(row, ServiceRules(custom_duration=grid), [])
    listed = ServiceDuration(service_id=row.id, minutes=LISTED, position=0)
    info = ServiceInfo(row=row, durations=[listed], tutor_ids=[])
    lengths = range(grid.min_minutes, grid.max_minutes + 1, grid.step_minutes)
    assert len(lengths) <= 144
    if minutes == LISTED:
        assert choose_duration(info, minutes, "f") is listed
    elif minutes in lengths:
        option = choose_duration(info, minutes, "f")
        assert option.minutes == minutes
        if grid.price_per_hour_minor is None:
            assert option.price_amount_minor is None
        else:
            exact = Decimal(grid.price_per_hour_minor * minutes) / 60
            rounded = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
            assert option.price_amount_minor == rounded >= 1
            assert option.price_currency == grid.price_currency
    else:
        with pytest.raises(InvalidInput):
            choose_duration(info, minutes, "f")
