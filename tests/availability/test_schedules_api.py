"""Schedules and overrides through GraphQL: validation, defaults, ownership."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from schema.node import encode_id
from tests.helpers import SCHEDULE_RESULT, GraphQLClient, make_tutor, token, weekly

# On the awkward days CI picks too (tests/calendar_days.py).
pytestmark = pytest.mark.calendar

SET_RULES = f"""mutation($input: SetWeeklyRulesInput!) {{
  setWeeklyRules(input: $input) {{ {SCHEDULE_RESULT} }} }}"""
ADD_OVERRIDE = """mutation($input: AddOverrideInput!) { addOverride(input: $input) {
  __typename
  ... on OverrideAdded { override { id date start end available } }
  ... on InvalidInput { message field }
  ... on NotFound { message } } }"""
REMOVE_OVERRIDE = """mutation($id: ID!) { removeOverride(id: $id) {
  __typename ... on OverrideRemoved { id } ... on NotFound { message } } }"""
SCHEDULES = """query($id: ID!) { tutor(id: $id) { schedules { id name isDefault
  overrides(from: "2027-01-01", to: "2027-01-31") { date available } } } }"""


async def test_first_schedule_is_default_and_default_moves(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada", "Europe/London")
    second = await ada.schedule({"name": "Check-ins", "timeZone": "UTC", "rules": []})
    assert second["schedule"]["isDefault"] is False
    third = await ada.schedule(
        {"name": "Summer", "timeZone": "UTC", "rules": weekly("10:00", "12:00"), "isDefault": True}
    )
    assert third["schedule"]["isDefault"] is True
    mine = (await gql(SCHEDULES, {"id": ada.id}, ada.token))["tutor"]["schedules"]
    assert [s["isDefault"] for s in mine].count(True) == 1
    assert mine[0]["id"] == third["schedule"]["id"]
    # Nobody else sees a tutor's schedules.
    assert (await gql(SCHEDULES, {"id": ada.id}))["tutor"]["schedules"] == []
    assert (await gql(SCHEDULES, {"id": ada.id}, token("bob")))["tutor"]["schedules"] == []


async def test_rule_validation(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")

    async def save(rules: list[dict[str, str]]) -> dict[str, object]:
        return await ada.schedule({"name": "X", "timeZone": "UTC", "rules": rules})

    overlapping = await save(
        [
            {"weekday": "MONDAY", "start": "09:00", "end": "12:00"},
            {"weekday": "MONDAY", "start": "11:00", "end": "13:00"},
        ]
    )
    assert overlapping["__typename"] == "OverlappingRules"
    assert "Monday" in str(overlapping["message"])
    touching = await save(
        [
            {"weekday": "MONDAY", "start": "09:00", "end": "12:00"},
            {"weekday": "MONDAY", "start": "12:00", "end": "13:00"},
            {"weekday": "TUESDAY", "start": "11:00", "end": "13:00"},
        ]
    )
    assert touching["__typename"] == "ScheduleSaved"
    reversed_ = await save([{"weekday": "FRIDAY", "start": "10:00", "end": "09:00"}])
    assert reversed_ == {
        "__typename": "InvalidInput",
        "message": "end must be after start (00:00 means midnight)",
        "field": "input.rules.0.end",
    }
    midnight = await save([{"weekday": "FRIDAY", "start": "20:00", "end": "00:00"}])
    assert midnight["__typename"] == "ScheduleSaved"
    seconds = await save([{"weekday": "FRIDAY", "start": "09:00:30", "end": "10:00"}])
    assert seconds["field"] == "input.rules.0.start"
    blank = await ada.schedule({"name": " ", "timeZone": "UTC", "rules": []})
    assert blank["field"] == "input.name"


async def test_set_weekly_rules(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    bob = await make_tutor(gql, "bob")
    input = {
        "scheduleId": ada.schedule_id,
        "timeZone": "Asia/Kolkata",
        "rules": weekly("08:00", "09:00", ["SUNDAY"]),
    }
    saved = (await gql(SET_RULES, {"input": input}, ada.token))["setWeeklyRules"]
    assert saved["schedule"]["timeZone"] == "Asia/Kolkata"
    assert saved["schedule"]["rules"] == [
        {"weekday": "SUNDAY", "start": "08:00:00", "end": "09:00:00"}
    ]

    forbidden = await gql.error(SET_RULES, {"input": input}, bob.token)
    assert forbidden["extensions"]["code"] == "FORBIDDEN"
    anonymous = await gql.error(SET_RULES, {"input": input})
    assert anonymous["extensions"]["code"] == "UNAUTHENTICATED"
    bad_id = (await gql(SET_RULES, {"input": {**input, "scheduleId": ada.id}}, ada.token))[
        "setWeeklyRules"
    ]
    assert bad_id == {
        "__typename": "InvalidInput",
        "message": "Not a Schedule id",
        "field": "input.scheduleId",
    }
    gone = encode_id("Schedule", uuid.uuid4())  # well formed, no such schedule
    missing = (await gql(SET_RULES, {"input": {**input, "scheduleId": gone}}, ada.token))[
        "setWeeklyRules"
    ]
    assert missing == {"__typename": "NotFound", "message": "No such schedule"}


async def test_only_tutors_make_schedules(gql: GraphQLClient) -> None:
    from tests.helpers import CREATE_SCHEDULE

    input = {"name": "X", "timeZone": "UTC", "rules": []}
    error = await gql.error(CREATE_SCHEDULE, {"input": input}, token("student"))
    assert error["extensions"]["code"] == "FORBIDDEN"
    error = await gql.error(
        CREATE_SCHEDULE, {"input": {**input, "timeZone": "Moon/Base"}}, token("x")
    )
    assert "Unknown time zone" in error["message"]


async def test_overrides(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    bob = await make_tutor(gql, "bob")

    async def add(**input: object) -> dict[str, Any]:
        result: dict[str, Any] = (
            await gql(ADD_OVERRIDE, {"input": {"scheduleId": ada.schedule_id, **input}}, ada.token)
        )["addOverride"]
        return result

    whole = await add(date="2027-01-04", available=False)
    assert whole["__typename"] == "OverrideAdded"
    blocked = await add(date="2027-01-05", start="10:00", end="12:00", available=False)
    assert blocked["__typename"] == "OverrideAdded"
    extra = await add(date="2027-01-09", start="10:00", end="00:00", available=True)
    assert extra["__typename"] == "OverrideAdded"
    assert (await add(date="2027-01-06", available=True))["field"] == "input.start"
    assert (await add(date="2027-01-06", start="10:00", available=False))["field"] == "input.end"
    assert (await add(date="2027-01-06", start="12:00", end="10:00", available=False))[
        "field"
    ] == "input.end"
    assert (await add(date="2099-01-06", available=False))["field"] == "input.date"

    listed = (await gql(SCHEDULES, {"id": ada.id}, ada.token))["tutor"]["schedules"][0]["overrides"]
    assert [o["date"] for o in listed] == ["2027-01-04", "2027-01-05", "2027-01-09"]

    override_id = whole["override"]["id"]  # type: ignore[index]
    denied = await gql.error(REMOVE_OVERRIDE, {"id": override_id}, bob.token)
    assert denied["extensions"]["code"] == "FORBIDDEN"
    removed = (await gql(REMOVE_OVERRIDE, {"id": override_id}, ada.token))["removeOverride"]
    assert removed == {"__typename": "OverrideRemoved", "id": override_id}
    again = (await gql(REMOVE_OVERRIDE, {"id": override_id}, ada.token))["removeOverride"]
    assert again["__typename"] == "NotFound"
    node = await gql(
        "query($id: ID!) { node(id: $id) { id } }", {"id": extra["override"]["id"]}, ada.token
    )  # type: ignore[index]
    assert node["node"] is not None
    hidden = await gql(
        "query($id: ID!) { node(id: $id) { id } }", {"id": extra["override"]["id"]}, bob.token
    )  # type: ignore[index]
    assert hidden["node"] is None
