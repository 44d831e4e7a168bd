"""Viewer, authentication, tutor profiles and node(id), through GraphQL."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import httpx
import jwt
import pytest
from httpx_ws import WebSocketDisconnect
from sqlmodel import select

from booking_api import cli
from booking_api.app import build_app
from infra.auth import mint_token
from infra.db import Database
from infra.settings import Settings
from models import Student as StudentRow
from tests.fakes.smtp_server import Inbox
from tests.helpers import (
    TEST_SECRET,
    Background,
    GraphQLClient,
    at,
    book,
    make_tutor,
    monday,
    token,
    websocket,
    weekly,
)

# On the awkward days CI picks too (tests/calendar_days.py).
pytestmark = pytest.mark.calendar

VIEWER = "{ viewer { userId tutor { id displayName } student { id displayName email } } }"
CREATE = """
mutation($name: String!, $tz: TimeZone!) {
  createTutorProfile(input: {displayName: $name, timeZone: $tz}) {
    __typename
    ... on TutorProfileCreated { tutor { id displayName timeZone } }
    ... on InvalidInput { message field }
  }
}"""


async def test_anonymous_viewer(gql: GraphQLClient) -> None:
    data = await gql(VIEWER)
    assert data["viewer"] == {"userId": None, "tutor": None, "student": None}


async def test_student_profile_answers_from_the_claims(gql: GraphQLClient) -> None:
    ada = token("ada", name="Ada L", email="ada@example.com")
    first = await gql(VIEWER, token=ada)
    assert first["viewer"]["userId"] == "ada"
    assert first["viewer"]["student"]["displayName"] == "Ada L"
    assert first["viewer"]["student"]["email"] == "ada@example.com"
    again = await gql(VIEWER, token=ada)
    assert again["viewer"]["student"]["id"] == first["viewer"]["student"]["id"]


async def test_concurrent_first_bookings_store_one_student(
    gql: GraphQLClient, db: Database
) -> None:
    tutor = await make_tutor(gql, "tutor", "UTC", weekly("00:00", "00:00"))
    service = (await tutor.service(slotIntervalMinutes=60))["service"]["id"]
    ada = token("ada-race")
    results = await asyncio.gather(
        *(
            book(gql, ada, serviceId=service, tutorId=tutor.id, start=at(monday(), hour))
            for hour in range(8, 18)
        )
    )
    assert {r["__typename"] for r in results} == {"BookingCreated"}
    ids = {r["booking"]["student"]["id"] for r in results}
    assert ids == {(await gql(VIEWER, token=ada))["viewer"]["student"]["id"]}
    async with db.session() as session:
        assert len((await session.exec(select(StudentRow))).all()) == 1


async def test_bad_tokens_are_refused_not_anonymous(gql: GraphQLClient) -> None:
    forged = mint_token("another-secret-" + "y" * 40, "ada")
    expired = mint_token(TEST_SECRET, "ada", ttl=timedelta(minutes=-5))
    no_sub = jwt.encode({"name": "x"}, TEST_SECRET, algorithm="HS256")
    unsigned = jwt.encode({"sub": "ada"}, "", algorithm="none")
    for bad in (forged, expired, no_sub, unsigned, "not-a-jwt"):
        error = await gql.error(VIEWER, token=bad)
        assert error["extensions"]["code"] == "UNAUTHENTICATED", bad
    body = await gql.raw(VIEWER, headers={"Authorization": "Basic YWRhOnB3"})
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    expired_error = await gql.error(VIEWER, token=expired)
    assert "expired" in expired_error["message"]


async def test_create_tutor_profile_once(gql: GraphQLClient) -> None:
    ada = token("ada")
    created = await gql(CREATE, {"name": "  Ada   Lovelace ", "tz": "Europe/London"}, ada)
    result = created["createTutorProfile"]
    assert result["__typename"] == "TutorProfileCreated"
    assert result["tutor"]["displayName"] == "Ada Lovelace"
    assert result["tutor"]["timeZone"] == "Europe/London"

    viewer = await gql(VIEWER, token=ada)
    assert viewer["viewer"]["tutor"]["id"] == result["tutor"]["id"]

    second = await gql(CREATE, {"name": "Ada again", "tz": "Europe/Paris"}, ada)
    assert second["createTutorProfile"]["__typename"] == "InvalidInput"
    assert "already" in second["createTutorProfile"]["message"]


async def test_concurrent_profile_creation_makes_one(gql: GraphQLClient) -> None:
    ada = token("ada")
    results = await asyncio.gather(
        *(gql(CREATE, {"name": f"Ada {i}", "tz": "UTC"}, ada) for i in range(12))
    )
    kinds = [r["createTutorProfile"]["__typename"] for r in results]
    assert kinds.count("TutorProfileCreated") == 1
    assert kinds.count("InvalidInput") == 11


async def test_create_tutor_profile_refusals(gql: GraphQLClient) -> None:
    anonymous = await gql.error(CREATE, {"name": "Ada", "tz": "UTC"})
    assert anonymous["extensions"]["code"] == "UNAUTHENTICATED"

    blank = await gql(CREATE, {"name": "   ", "tz": "UTC"}, token("ada"))
    assert blank["createTutorProfile"] == {
        "__typename": "InvalidInput",
        "message": "The name must not be empty",
        "field": "input.displayName",
    }
    long = await gql(CREATE, {"name": "x" * 201, "tz": "UTC"}, token("ada"))
    assert long["createTutorProfile"]["field"] == "input.displayName"

    for zone in ("Mars/Olympus", "localtime", "../../etc/passwd", ""):
        error = await gql.error(CREATE, {"name": "Ada", "tz": zone}, token("ada"))
        assert "Unknown time zone" in error["message"], zone


async def test_tutor_and_node_lookup(gql: GraphQLClient) -> None:
    created = await gql(CREATE, {"name": "Ada", "tz": "Asia/Kolkata"}, token("ada"))
    tutor_id = created["createTutorProfile"]["tutor"]["id"]
    query = """query($id: ID!) {
      tutor(id: $id) { id displayName }
      node(id: $id) { __typename id ... on Tutor { timeZone } }
    }"""
    data = await gql(query, {"id": tutor_id})  # anonymous: tutors are public
    assert data["tutor"] == {"id": tutor_id, "displayName": "Ada"}
    assert data["node"] == {"__typename": "Tutor", "id": tutor_id, "timeZone": "Asia/Kolkata"}

    for garbage in ("", "nope", "VHV0b3I6bm90LWEtdXVpZA", tutor_id[:-2]):
        data = await gql(query, {"id": garbage})
        assert data == {"tutor": None, "node": None}, garbage


async def test_student_node_visible_only_to_that_student(gql: GraphQLClient) -> None:
    ada, bob = token("ada", email="ada@example.com"), token("bob")
    student_id = (await gql(VIEWER, token=ada))["viewer"]["student"]["id"]
    query = "query($id: ID!) { node(id: $id) { id ... on Student { email } } }"
    assert (await gql(query, {"id": student_id}, ada))["node"]["email"] == "ada@example.com"
    assert (await gql(query, {"id": student_id}, bob))["node"] is None
    assert (await gql(query, {"id": student_id}))["node"] is None
    # A student's id is not a tutor's: the type in the id must match.
    assert (await gql("query($id: ID!) { tutor(id: $id) { id } }", {"id": student_id}))[
        "tutor"
    ] is None


def claims_without_exp(sub: str) -> str:
    return jwt.encode({"sub": sub, "name": "Ada"}, TEST_SECRET, algorithm="HS256")


async def test_a_token_without_exp_is_refused(gql: GraphQLClient) -> None:
    error = await gql.error(VIEWER, token=claims_without_exp("ada"))
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "exp" in error["message"]


async def test_tokens_without_exp_may_be_allowed_for_local_development(
    settings: Settings, db: Database
) -> None:
    relaxed = replace(settings, auth_allow_tokens_without_exp=True)
    transport = httpx.ASGITransport(app=build_app(relaxed, db))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        data = await GraphQLClient(client)(VIEWER, token=claims_without_exp("ada"))
    assert data["viewer"]["userId"] == "ada"


async def test_websocket_connection_init_refuses_a_token_without_exp(
    settings: Settings, db: Database
) -> None:
    init = {
        "type": "connection_init",
        "payload": {"Authorization": f"Bearer {claims_without_exp('ada')}"},
    }
    for app_settings, accepted in (
        (settings, False),
        (replace(settings, auth_allow_tokens_without_exp=True), True),
    ):
        async with websocket(build_app(app_settings, db)) as ws:
            await ws.send_json(init)
            if accepted:
                assert (await ws.receive_json())["type"] == "connection_ack"
            else:
                with pytest.raises(WebSocketDisconnect) as closed:
                    await ws.receive_json()
                assert closed.value.code == 4403


def test_the_token_command_always_sets_exp(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTH_JWT_SECRET", TEST_SECRET)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    cli.main(["token", "--sub", "ada", "--hours", "2"])
    claims = jwt.decode(capsys.readouterr().out.strip(), TEST_SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 2 * 3600
    for hours in ("0", "-1", "nan", "inf"):
        with pytest.raises(SystemExit):
            cli.main(["token", "--sub", "ada", "--hours", hours])


async def test_a_tutor_without_an_email_takes_the_tokens(
    gql: GraphQLClient, background: Background, inbox: Inbox, mail_settings: Settings, db: Database
) -> None:
    ada = token("ada", email="ada@tutoring.example")
    created = await gql(CREATE, {"name": "Ada", "tz": "UTC"}, ada)
    tutor_id = created["createTutorProfile"]["tutor"]["id"]
    viewer = await gql("{ viewer { tutor { email } } }", token=ada)
    assert viewer["viewer"]["tutor"]["email"] == "ada@tutoring.example"
    # An email given wins over the token's; a token with none leaves the tutor without.
    bob = await gql(
        'mutation { createTutorProfile(input: {displayName: "Bob", timeZone: "UTC", '
        'email: "bob@work.example"}) { ... on TutorProfileCreated { tutor { email } } } }',
        token=token("bob", email="bob@home.example"),
    )
    assert bob["createTutorProfile"]["tutor"]["email"] == "bob@work.example"
    kim = await gql(CREATE, {"name": "Kim", "tz": "UTC"}, token("kim"))
    assert kim["createTutorProfile"]["tutor"]["id"]
    kim_email = await gql("{ viewer { tutor { email } } }", token=token("kim"))
    assert kim_email["viewer"]["tutor"]["email"] is None

    # Through the contract alone, the tutor hears of a booking.
    schedule = await gql(
        """mutation($input: CreateScheduleInput!) { createSchedule(input: $input) {
          __typename } }""",
        {"input": {"name": "Hours", "timeZone": "UTC", "rules": weekly("00:00", "00:00")}},
        ada,
    )
    assert schedule["createSchedule"]["__typename"] == "ScheduleSaved"
    service = await gql(
        """mutation { createService(input: {title: "Piano", durations: [{minutes: 60}],
          slotIntervalMinutes: 60}) { ... on ServiceSaved { service { id } } } }""",
        token=ada,
    )
    made = await book(
        gql,
        token("sam", email="sam@example.com"),
        serviceId=service["createService"]["service"]["id"],
        tutorId=tutor_id,
        start=at(monday(), 10),
    )
    assert made["__typename"] == "BookingCreated"
    await background.run()
    assert [mail.subject for mail in inbox.to("ada@tutoring.example")] == ["Booked: Piano with Sam"]
