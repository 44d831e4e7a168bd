"""Services through GraphQL: every field, validation naming the field, ownership."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from schema.node import encode_id
from tests.helpers import SERVICE_RESULT, GraphQLClient, make_tutor, organization, token

# On the awkward days CI picks too (tests/calendar_days.py).
pytestmark = pytest.mark.calendar

UPDATE = f"""mutation($input: UpdateServiceInput!) {{
  updateService(input: $input) {{ {SERVICE_RESULT} }} }}"""


async def test_create_with_every_field_and_read_back(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    bob = await make_tutor(gql, "bob")
    studio = await organization(gql, ada, bob)
    saved = await ada.service(
        title="Piano",
        kind="CHECKIN",
        organizationId=studio,
        tutorIds=[ada.id, bob.id],
        scheduleId=ada.schedule_id,
        durations=[
            {"minutes": 30, "price": {"amountMinor": 2500, "currency": "usd"}},
            {"minutes": 60},
        ],
        bufferBeforeMinutes=5,
        bufferAfterMinutes=10,
        capacity=3,
        slotIntervalMinutes=30,
        minimumNoticeMinutes=120,
        bookingWindowDays=90,
        cancellationNoticeHours=24,
        rescheduleNoticeHours=12,
        maxReschedules=2,
        requiresPackage=True,
        monthlyFreeAllowance=1,
        enrollmentRequired=True,
    )
    service = saved["service"]
    assert service["kind"] == "CHECKIN"
    assert service["durations"] == [
        {"minutes": 30, "price": {"amountMinor": 2500, "currency": "USD"}},
        {"minutes": 60, "price": None},
    ]
    assert [t["id"] for t in service["tutors"]] == [ada.id, bob.id]
    assert (service["capacity"], service["maxReschedules"], service["monthlyFreeAllowance"]) == (
        3,
        2,
        1,
    )
    assert service["requiresPackage"] and service["enrollmentRequired"]

    query = """query($id: ID!) { service(id: $id) { id title schedule { id } }
      node(id: $id) { ... on Service { title } } }"""
    public = await gql(query, {"id": service["id"]})
    assert public["service"]["title"] == "Piano" and public["node"]["title"] == "Piano"
    assert public["service"]["schedule"] is None  # only its tutor sees the schedule
    own = await gql(query, {"id": service["id"]}, ada.token)
    assert own["service"]["schedule"] == {"id": ada.schedule_id}

    listed = await gql("query($id: ID!) { tutor(id: $id) { services { id } } }", {"id": bob.id})
    assert listed["tutor"]["services"] == [{"id": service["id"]}]


async def test_defaults(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    service = (await ada.service())["service"]
    assert service["kind"] == "SESSION"
    assert service["slotIntervalMinutes"] == 15
    assert service["bookingWindowDays"] == 60
    assert service["capacity"] == 1
    assert service["maxReschedules"] is None
    assert service["tutors"] == [{"id": ada.id, "displayName": "Ada"}]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": "  "}, "input.title"),
        ({"durations": []}, "input.durations"),
        ({"durations": [{"minutes": 7}]}, "input.durations.0.minutes"),
        ({"durations": [{"minutes": 0}]}, "input.durations.0.minutes"),
        ({"durations": [{"minutes": 725}]}, "input.durations.0.minutes"),
        ({"durations": [{"minutes": 30}, {"minutes": 30}]}, "input.durations.1.minutes"),
        (
            {"durations": [{"minutes": 30, "price": {"amountMinor": 100, "currency": "XYZ"}}]},
            "input.durations.0.price.currency",
        ),
        (
            {"durations": [{"minutes": 30, "price": {"amountMinor": 0, "currency": "EUR"}}]},
            "input.durations.0.price.amountMinor",
        ),
        (
            {
                "durations": [
                    {"minutes": 30, "price": {"amountMinor": 100, "currency": "EUR"}},
                    {"minutes": 60, "price": {"amountMinor": 100, "currency": "USD"}},
                ]
            },
            "input.durations",
        ),
        ({"capacity": 0}, "input.capacity"),
        ({"slotIntervalMinutes": 4}, "input.slotIntervalMinutes"),
        ({"bufferBeforeMinutes": -5}, "input.bufferBeforeMinutes"),
        ({"bufferAfterMinutes": 100000}, "input.bufferAfterMinutes"),
        ({"minimumNoticeMinutes": -1}, "input.minimumNoticeMinutes"),
        ({"bookingWindowDays": -1}, "input.bookingWindowDays"),
        ({"cancellationNoticeHours": -1}, "input.cancellationNoticeHours"),
        ({"rescheduleNoticeHours": -1}, "input.rescheduleNoticeHours"),
        ({"maxReschedules": -1}, "input.maxReschedules"),
        ({"monthlyFreeAllowance": -1}, "input.monthlyFreeAllowance"),
        ({"tutorIds": ["nope"]}, "input.tutorIds.0"),
        ({"scheduleId": "nope"}, "input.scheduleId"),
    ],
)
async def test_invalid_input_names_the_field(
    gql: GraphQLClient, change: dict[str, Any], field: str
) -> None:
    ada = await make_tutor(gql, "ada")
    result = await ada.service(**change)
    assert result["__typename"] == "InvalidInput", result
    assert result["field"] == field


async def test_tutors_and_schedules_must_fit(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    bob = await make_tutor(gql, "bob")
    without_me = await ada.service(tutorIds=[bob.id])
    assert without_me["field"] == "input.tutorIds"
    others_schedule = await ada.service(scheduleId=bob.schedule_id)
    assert others_schedule["field"] == "input.scheduleId"
    ghost = encode_id("Tutor", uuid.uuid4())
    assert (await ada.service(tutorIds=[ada.id, ghost]))["__typename"] == "NotFound"
    error = await gql.error(
        'mutation { createService(input: {title: "x", durations: [{minutes: 30}]}) '
        "{ __typename } }",
        token=token("not-a-tutor"),
    )
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_update_service(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    bob = await make_tutor(gql, "bob")
    service = (await ada.service(maxReschedules=3, capacity=2))["service"]
    changed = (
        await gql(
            UPDATE,
            {"input": {"id": service["id"], "capacity": 4, "maxReschedules": None, "title": "New"}},
            ada.token,
        )
    )["updateService"]["service"]
    assert (changed["capacity"], changed["maxReschedules"], changed["title"]) == (4, None, "New")
    assert changed["durations"] == service["durations"]  # untouched
    lengths = (
        await gql(
            UPDATE, {"input": {"id": service["id"], "durations": [{"minutes": 45}]}}, ada.token
        )
    )["updateService"]["service"]["durations"]
    assert lengths == [{"minutes": 45, "price": None}]
    invalid = (await gql(UPDATE, {"input": {"id": service["id"], "capacity": 0}}, ada.token))[
        "updateService"
    ]
    assert invalid["field"] == "input.capacity"
    denied = await gql.error(UPDATE, {"input": {"id": service["id"], "capacity": 9}}, bob.token)
    assert denied["extensions"]["code"] == "FORBIDDEN"
    still = await gql("query($id: ID!) { service(id: $id) { capacity } }", {"id": service["id"]})
    assert still["service"]["capacity"] == 4
