"""Profiles: the tutor's public profile (bio, avatar, embed origins, students taught) and the
student's own (name, time zone, phone), with who sees the phones."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain import roster
from infra.auth import decode_token
from infra.db import Database
from models import BookingStatus
from tests.fakes.smtp_server import Inbox
from tests.helpers import (
    SAM,
    TEST_SECRET,
    Background,
    GraphQLClient,
    add_booking,
    at,
    book,
    count_statements,
    grant,
    make_tutor,
    monday,
    organization,
    pk,
    setup_lessons,
    stored_student,
    token,
)

PROFILE = """mutation($input: UpdateTutorProfileInput!) { updateTutorProfile(input: $input) {
  __typename ... on TutorProfileUpdated { tutor { bio avatarUrl embedOrigins email } }
  ... on InvalidInput { message field } ... on NotFound { message } } }"""
PUBLIC = """query($id: ID!) { tutor(id: $id) { displayName bio avatarUrl studentsTaught
  embedOrigins } }"""
STUDENT_PROFILE = """mutation($input: UpdateStudentProfileInput!) {
  updateStudentProfile(input: $input) { __typename
  ... on StudentProfileUpdated { student { id displayName timeZone phone } }
  ... on InvalidInput { message field } } }"""
STUDENT = "query($id: ID!) { node(id: $id) { ... on Student { id phone } } }"
BOOKING = """query($id: ID!) { booking(id: $id) { id contactPhone student { id phone } } }"""


async def update(gql: GraphQLClient, who: str, **input: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await gql(PROFILE, {"input": input}, who))["updateTutorProfile"]
    return result


async def update_student(gql: GraphQLClient, who: str, **input: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await gql(STUDENT_PROFILE, {"input": input}, who))[
        "updateStudentProfile"
    ]
    return result


# ---------------------------------------------------------------- the tutor's public profile


async def test_the_public_profile_is_public_and_the_origins_are_the_tutors_own(
    gql: GraphQLClient,
) -> None:
    ada = await make_tutor(gql, "ada")
    bob = await make_tutor(gql, "bob")
    saved = await update(
        gql,
        ada.token,
        bio="  Piano teacher.\nTwenty years.  ",
        avatarUrl="https://cdn.example/ada.png",
        embedOrigins=["https://school.example", "http://localhost:3000"],
    )
    assert saved["tutor"] == {
        "bio": "Piano teacher.\nTwenty years.",
        "avatarUrl": "https://cdn.example/ada.png",
        "embedOrigins": ["https://school.example", "http://localhost:3000"],
        "email": None,
    }
    public = {
        "displayName": "Ada",
        "bio": "Piano teacher.\nTwenty years.",
        "avatarUrl": "https://cdn.example/ada.png",
        "studentsTaught": 0,
    }
    for viewer in (None, bob.token, token("sam")):
        found = (await gql(PUBLIC, {"id": ada.id}, viewer))["tutor"]
        assert found == {**public, "embedOrigins": []}
    own = (await gql(PUBLIC, {"id": ada.id}, ada.token))["tutor"]
    assert own["embedOrigins"] == ["https://school.example", "http://localhost:3000"]

    # The fields left out stay; the old fields behave as before (email: null removes it).
    kept = await update(gql, ada.token, email="ada@tutoring.example", lowBalanceThreshold=3)
    assert kept["tutor"]["bio"] == "Piano teacher.\nTwenty years."
    assert kept["tutor"]["email"] == "ada@tutoring.example"
    # null (or empty) clears a text; [] clears the origins.
    cleared = await update(gql, ada.token, bio=None, avatarUrl="", embedOrigins=[])
    assert cleared["tutor"] == {
        "bio": None,
        "avatarUrl": None,
        "embedOrigins": [],
        "email": "ada@tutoring.example",
    }


async def test_origins_are_normalized(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    saved = await update(
        gql,
        ada.token,
        embedOrigins=[
            "HTTPS://School.Example:443",
            "https://school.example:8443/",
            "https://bücher.example",
            "https://[2001:DB8::1]",
            "http://127.0.0.1:80",
        ],
    )
    assert saved["tutor"]["embedOrigins"] == [
        "https://school.example",
        "https://school.example:8443",
        "https://xn--bcher-kva.example",
        "https://[2001:db8::1]",
        "http://127.0.0.1",
    ]


@pytest.mark.parametrize(
    ("avatar", "why"),
    [
        ("http://cdn.example/a.png", "https"),
        ("javascript:alert(1)", "https"),
        ("https://user:secret@cdn.example/a.png", "password"),
        ("https:///a.png", "host"),
        ("https://cdn.example:port/a.png", "Not a URL"),
        ("https://cdn.example/a b.png", "spaces"),
        ("https://cdn.example/" + "a" * 500, "500"),
    ],
)
async def test_an_avatar_is_an_https_url(gql: GraphQLClient, avatar: str, why: str) -> None:
    ada = await make_tutor(gql, "ada")
    refused = await update(gql, ada.token, avatarUrl=avatar)
    assert refused["__typename"] == "InvalidInput"
    assert refused["field"] == "input.avatarUrl"
    assert why in refused["message"]
    assert (await gql(PUBLIC, {"id": ada.id}))["tutor"]["avatarUrl"] is None


async def test_a_bio_is_bounded_plain_text(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    longest = "é" * 2000
    assert (await update(gql, ada.token, bio=longest))["tutor"]["bio"] == longest
    for bad in ("é" * 2001, "ring\x07bell"):
        refused = await update(gql, ada.token, bio=bad)
        assert refused["__typename"] == "InvalidInput"
        assert refused["field"] == "input.bio"
    # The central text check answers first for what the database cannot store.
    nul = await update(gql, ada.token, bio="a\x00b")
    assert nul["__typename"] == "InvalidInput"
    assert nul["field"] == "input.bio"
    assert (await gql(PUBLIC, {"id": ada.id}))["tutor"]["bio"] == longest


@pytest.mark.parametrize(
    ("origin", "why"),
    [
        ("http://school.example", "https"),
        ("ftp://school.example", "https"),
        ("school.example", "https"),
        ("https://school.example/widget", "path"),
        ("https://school.example?x=1", "query"),
        ("https://school.example#top", "query"),
        ("https://*.school.example", "wildcard"),
        ("*", "wildcard"),
        ("https://user:pw@school.example", "password"),
        ("https://school.example:99999", "Not a URL"),
        ("https://school.example:0", "Port 0"),
        ("https://school_example.com", "valid name"),
        ("https://", "host"),
        ("", "1 to 300"),
        ("https://" + "a" * 300 + ".example", "1 to 300"),
    ],
)
async def test_a_bad_origin_is_named(gql: GraphQLClient, origin: str, why: str) -> None:
    ada = await make_tutor(gql, "ada")
    refused = await update(gql, ada.token, embedOrigins=["https://ok.example", origin])
    assert refused["__typename"] == "InvalidInput"
    assert refused["field"] == "input.embedOrigins[1]"
    assert why in refused["message"]
    assert (await gql(PUBLIC, {"id": ada.id}, ada.token))["tutor"]["embedOrigins"] == []


async def test_origins_are_distinct_and_few(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    twice = await update(
        gql, ada.token, embedOrigins=["https://a.example", "HTTPS://A.example:443"]
    )
    assert twice["__typename"] == "InvalidInput"
    assert twice["field"] == "input.embedOrigins[1]"
    many = [f"https://s{n}.example" for n in range(21)]
    refused = await update(gql, ada.token, embedOrigins=many)
    assert refused["field"] == "input.embedOrigins"
    assert (await update(gql, ada.token, embedOrigins=many[:20]))["tutor"]["embedOrigins"] == (
        many[:20]
    )


async def test_students_taught_counts_distinct_students_with_a_completed_session(
    gql: GraphQLClient, db: Database
) -> None:
    ada = await make_tutor(gql, "ada")
    bob = await make_tutor(gql, "bob")
    service = (await ada.service())["service"]["id"]
    other = (await bob.service())["service"]["id"]
    kim, lee, max_, ned = [
        pk(await stored_student(db, token(name))) for name in ("kim", "lee", "max", "ned")
    ]
    start = datetime.fromisoformat(at(monday(-3), 9))
    hour = timedelta(hours=1)
    for n, (student, status) in enumerate(
        [
            (kim, BookingStatus.COMPLETED),
            (kim, BookingStatus.COMPLETED),  # twice: still one student
            (lee, BookingStatus.COMPLETED),
            (max_, BookingStatus.NO_SHOW),
            (max_, BookingStatus.CANCELLED),
            (ned, BookingStatus.CONFIRMED),
        ]
    ):
        await add_booking(db, ada.id, service, start + n * hour, status=status, student_id=student)
    await add_booking(db, bob.id, other, start, status=BookingStatus.COMPLETED, student_id=ned)
    assert (await gql(PUBLIC, {"id": ada.id}))["tutor"]["studentsTaught"] == 2
    assert (await gql(PUBLIC, {"id": bob.id}))["tutor"]["studentsTaught"] == 1


async def test_a_list_of_tutors_costs_the_same_statements_however_many(
    gql: GraphQLClient, db: Database
) -> None:
    tutors = [await make_tutor(gql, name) for name in ("ada", "bob", "cy", "dee")]
    studio = await organization(gql, *tutors)
    kim = pk(await stored_student(db, token("kim")))
    query = """query($id: ID!) { service(id: $id) { tutors { id displayName bio avatarUrl
      studentsTaught } } }"""

    async def statements(team: list[Any]) -> int:
        saved = await tutors[0].service(organizationId=studio, tutorIds=[t.id for t in team])
        service = saved["service"]["id"]
        for n, tutor in enumerate(team):
            start = datetime.fromisoformat(at(monday(-2), 9 + n))
            status = BookingStatus.COMPLETED
            await add_booking(db, tutor.id, service, start, status=status, student_id=kim)
        with count_statements(db) as seen:
            found = (await gql(query, {"id": service}))["service"]["tutors"]
        assert len(found) == len(team)
        assert all(t["studentsTaught"] >= 1 for t in found)
        return len(seen)

    assert await statements(tutors[:1]) == await statements(tutors)


# ---------------------------------------------------------------- the student's profile


async def test_a_student_sets_name_zone_and_phone(gql: GraphQLClient) -> None:
    sam = token("sam", name="Sam", email=SAM)
    updated = await update_student(
        gql, sam, displayName="  Sam   Ray ", timeZone="Asia/Tokyo", phone="+1 (415) 555-0123"
    )
    assert updated["__typename"] == "StudentProfileUpdated"
    assert updated["student"]["displayName"] == "Sam Ray"
    assert updated["student"]["timeZone"] == "Asia/Tokyo"
    assert updated["student"]["phone"] == "+14155550123"
    viewer = await gql("{ viewer { student { id displayName timeZone phone } } }", token=sam)
    assert viewer["viewer"]["student"] == updated["student"]
    # Left out: kept; null clears the phone.
    kept = await update_student(gql, sam, displayName="Sam")
    assert kept["student"]["phone"] == "+14155550123"
    assert kept["student"]["timeZone"] == "Asia/Tokyo"
    cleared = await update_student(gql, sam, phone=None)
    assert cleared["student"]["phone"] is None
    assert (await update_student(gql, sam, phone="+442079460958"))["student"]["phone"]
    assert (await update_student(gql, sam, phone=" "))["student"]["phone"] is None

    error = await gql.error(STUDENT_PROFILE, {"input": {"phone": "+14155550123"}})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    "phone",
    [
        "4155550123",  # no country code
        "+04155550123",  # a country code starts 1 to 9
        "+1415555",  # 7 digits
        "+1234567890123456",  # 16 digits
        "+1 415 CALL NOW",
        "+1/415/555/0123",
        "++14155550123",
        "+1" + "0" * 40,
    ],
)
async def test_a_phone_is_e164(gql: GraphQLClient, db: Database, phone: str) -> None:
    sam = token("sam")
    refused = await update_student(gql, sam, phone=phone)
    assert refused["__typename"] == "InvalidInput"
    assert refused["field"] == "input.phone"
    # A guest's phone goes through the same check.
    ada = await make_tutor(gql, "ada")
    service = (await ada.service())["service"]["id"]
    guest = {"name": "Gus", "email": "gus@example.com", "phone": phone}
    made = await book(
        gql, None, serviceId=service, tutorId=ada.id, start=at(monday(), 9), guest=guest
    )
    assert made["__typename"] == "InvalidInput"
    assert made["field"] == "input.guest.phone"


async def test_a_student_name_is_bounded(gql: GraphQLClient) -> None:
    refused = await update_student(gql, token("sam"), displayName="x" * 201)
    assert refused == {
        "__typename": "InvalidInput",
        "message": "The name must be at most 200 characters",
        "field": "input.displayName",
    }


async def test_a_phone_is_for_the_student_and_their_tutors_only(
    gql: GraphQLClient, db: Database
) -> None:
    ada, service, sam = await setup_lessons(gql)
    bob = await make_tutor(gql, "bob")  # another tutor
    dee = await make_tutor(gql, "dee")  # holds a package with Sam, never booked
    olga = await make_tutor(gql, "olga")  # owns Ada's organization
    await organization(gql, olga, ada, role="MEMBER")
    updated = await update_student(gql, sam, phone="+14155550123")
    student_id = updated["student"]["id"]
    made = await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    booking_id = made["booking"]["id"]

    async def phone_in_booking(viewer: str) -> Any:
        return (await gql(BOOKING, {"id": booking_id}, viewer))["booking"]["student"]["phone"]

    assert await phone_in_booking(ada.token) == "+14155550123"
    assert await phone_in_booking(olga.token) == "+14155550123"
    assert await phone_in_booking(sam) == "+14155550123"
    assert (await gql(STUDENT, {"id": student_id}, ada.token))["node"]["phone"] == "+14155550123"
    granted = await grant(
        gql, dee, studentId=student_id, unit="SESSIONS", total=5, sessionDurationMinutes=60
    )
    assert granted["__typename"] == "PackageGranted", granted
    shown = await gql(
        "query($id: ID!) { node(id: $id) { ... on Package { student { id phone } } } }",
        {"id": granted["package"]["id"]},
        dee.token,
    )
    assert shown["node"]["student"] == {"id": student_id, "phone": "+14155550123"}
    # Anyone else: not even the student.
    for viewer in (None, bob.token, token("kim")):
        assert (await gql(STUDENT, {"id": student_id}, viewer))["node"] is None
        assert (await gql(BOOKING, {"id": booking_id}, viewer))["booking"] is None
    # The rule itself, for a viewer who holds the student some other way: no phone.
    bob_identity = decode_token(TEST_SECRET, bob.token)
    assert await roster.phones(db, bob_identity, [pk(student_id)]) == {}
    assert await roster.phones(db, None, [pk(student_id)]) == {}


async def test_contact_phone_is_for_the_tutor_side_and_the_guest(
    gql: GraphQLClient, db: Database
) -> None:
    ada, service, sam = await setup_lessons(gql)
    olga = await make_tutor(gql, "olga")
    await organization(gql, olga, ada, role="MEMBER")
    bob = await make_tutor(gql, "bob")
    guest = {"name": "Gus", "email": "gus@example.com", "phone": "+44 20 7946 0958"}
    made = await book(
        gql, None, serviceId=service, tutorId=ada.id, start=at(monday(), 9), guest=guest
    )
    assert made["__typename"] == "BookingCreated"
    booking_id, secret = made["booking"]["id"], made["manageToken"]
    by_token = await gql(
        "query($t: String!) { bookingByToken(token: $t) { contactPhone } }", {"t": secret}
    )
    assert by_token["bookingByToken"]["contactPhone"] == "+442079460958"
    for manager in (ada.token, olga.token):
        found = (await gql(BOOKING, {"id": booking_id}, manager))["booking"]
        assert found["contactPhone"] == "+442079460958"
    for other in (None, bob.token, sam):
        assert (await gql(BOOKING, {"id": booking_id}, other))["booking"] is None

    # A signed-in student's booking keeps the profile phone they had when booking; they see
    # their own through Student.phone.
    await update_student(gql, sam, phone="+14155550123")
    mine = await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 11))
    await update_student(gql, sam, phone="+14155550199")
    tutor_view = (await gql(BOOKING, {"id": mine["booking"]["id"]}, ada.token))["booking"]
    assert tutor_view["contactPhone"] == "+14155550123"
    assert tutor_view["student"]["phone"] == "+14155550199"
    own_view = (await gql(BOOKING, {"id": mine["booking"]["id"]}, sam))["booking"]
    assert own_view["contactPhone"] is None
    assert own_view["student"]["phone"] == "+14155550199"
    # No phone given: none shown.
    silent = await book(
        gql,
        None,
        serviceId=service,
        tutorId=ada.id,
        start=at(monday(), 13),
        guest={"name": "Ivy", "email": "ivy@example.com"},
    )
    found = (await gql(BOOKING, {"id": silent["booking"]["id"]}, ada.token))["booking"]
    assert found["contactPhone"] is None


@pytest.mark.calendar
async def test_the_next_reminder_shows_the_students_new_zone(
    gql: GraphQLClient, background: Background, inbox: Inbox
) -> None:
    ada, service, sam = await setup_lessons(gql)
    start = datetime.fromisoformat(at(monday(), 10))
    made = await book(gql, sam, serviceId=service, tutorId=ada.id, start=start.isoformat())
    assert made["__typename"] == "BookingCreated"
    await background.run()
    inbox.reset()

    await background.run(start - timedelta(hours=24))
    [first] = inbox.to(SAM)
    assert "10:00–11:00 (UTC," in first.text
    inbox.reset()

    changed = await update_student(gql, sam, timeZone="Asia/Tokyo")
    assert changed["student"]["timeZone"] == "Asia/Tokyo"
    await background.run(start - timedelta(hours=1))
    [second] = inbox.to(SAM)
    tokyo = start.astimezone(ZoneInfo("Asia/Tokyo"))
    assert f"{tokyo:%A %-d %B %Y}, 19:00–20:00 (Asia/Tokyo, JST)" in second.text
    # The booking itself keeps the zone it was made in.
    booked = await gql(
        "query($id: ID!) { booking(id: $id) { studentTimeZone } }",
        {"id": made["booking"]["id"]},
        sam,
    )
    assert booked["booking"]["studentTimeZone"] == "UTC"
