"""Lesson notes: written by the booking's tutor (or an owner or admin of their organization),
one per booking; private unless shared with the student; never seen by other tutors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from infra.db import Database
from tests.helpers import (
    CLOCK,
    GraphQLClient,
    at,
    book,
    count_statements,
    make_tutor,
    monday,
    organization,
    setup_lessons,
    token,
)

SET = """mutation($input: SetLessonNoteInput!) { setLessonNote(input: $input) { __typename
  ... on LessonNoteSaved { booking { id lessonNote { text sharedWithStudent updatedAt } } }
  ... on InvalidInput { message field } ... on NotFound { message } } }"""
NOTE = "query($id: ID!) { booking(id: $id) { lessonNote { text sharedWithStudent } } }"
BY_TOKEN = "query($t: String!) { bookingByToken(token: $t) { lessonNote { text } } }"


async def set_note(gql: GraphQLClient, who: str | None, **input: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await gql(SET, {"input": input}, who))["setLessonNote"]
    return result


async def note_of(gql: GraphQLClient, booking_id: str, who: str | None) -> Any:
    found = (await gql(NOTE, {"id": booking_id}, who))["booking"]
    return found and found["lessonNote"]


async def test_a_private_note_is_for_the_tutor_side_and_a_shared_one_for_the_student(
    gql: GraphQLClient,
) -> None:
    ada, service, sam = await setup_lessons(gql)
    olga = await make_tutor(gql, "olga")  # owns Ada's organization
    bob = await make_tutor(gql, "bob")  # a member of it, not Ada's manager
    await organization(gql, olga, ada, bob, role="MEMBER")
    made = await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    booking_id = made["booking"]["id"]
    assert await note_of(gql, booking_id, ada.token) is None

    saved = await set_note(gql, ada.token, bookingId=booking_id, text="Scales: C and G major.")
    assert saved["__typename"] == "LessonNoteSaved"
    note = saved["booking"]["lessonNote"]
    assert note["text"] == "Scales: C and G major."
    assert note["sharedWithStudent"] is False  # private by default
    assert abs(datetime.fromisoformat(note["updatedAt"]) - CLOCK()).total_seconds() < 60
    private = {"text": "Scales: C and G major.", "sharedWithStudent": False}
    assert await note_of(gql, booking_id, ada.token) == private
    assert await note_of(gql, booking_id, olga.token) == private
    assert await note_of(gql, booking_id, sam) is None
    assert (await gql(NOTE, {"id": booking_id}, bob.token))["booking"] is None

    # The owner edits it and shares it: one note, replaced.
    shared = await set_note(
        gql, olga.token, bookingId=booking_id, text="Practise scales daily.", sharedWithStudent=True
    )
    assert shared["booking"]["lessonNote"]["sharedWithStudent"] is True
    assert await note_of(gql, booking_id, sam) == {
        "text": "Practise scales daily.",
        "sharedWithStudent": True,
    }
    assert (await gql(NOTE, {"id": booking_id}, bob.token))["booking"] is None
    # Made private again: the student no longer sees it.
    await set_note(gql, ada.token, bookingId=booking_id, text="Needs work.")
    assert await note_of(gql, booking_id, sam) is None
    # A blank note removes it.
    cleared = await set_note(gql, ada.token, bookingId=booking_id, text="  ")
    assert cleared["booking"]["lessonNote"] is None


async def test_only_the_tutor_side_writes_notes(gql: GraphQLClient) -> None:
    ada, service, sam = await setup_lessons(gql)
    bob = await make_tutor(gql, "bob")
    made = await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    booking_id = made["booking"]["id"]
    # Another tutor, or a stranger: no such booking.
    for who in (bob.token, token("kim")):
        refused = await set_note(gql, who, bookingId=booking_id, text="Mine now")
        assert refused["__typename"] == "NotFound"
    # The student sees the booking, but may not write its note.
    error = await gql.error(SET, {"input": {"bookingId": booking_id, "text": "I did well"}}, sam)
    assert error["extensions"]["code"] == "FORBIDDEN"
    error = await gql.error(SET, {"input": {"bookingId": booking_id, "text": "x"}})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert await note_of(gql, booking_id, ada.token) is None

    too_long = await set_note(gql, ada.token, bookingId=booking_id, text="x" * 10_001)
    assert too_long["__typename"] == "InvalidInput"
    assert too_long["field"] == "input.text"
    bad_id = await set_note(gql, ada.token, bookingId=ada.id, text="x")
    assert bad_id == {
        "__typename": "InvalidInput",
        "message": "Not a Booking id",
        "field": "input.bookingId",
    }
    longest = await set_note(gql, ada.token, bookingId=booking_id, text="x" * 10_000)
    assert longest["__typename"] == "LessonNoteSaved"


async def test_a_guest_sees_a_shared_note_by_token(gql: GraphQLClient) -> None:
    ada, service, _ = await setup_lessons(gql)
    guest = {"name": "Gus", "email": "gus@example.com"}
    made = await book(
        gql, None, serviceId=service, tutorId=ada.id, start=at(monday(), 9), guest=guest
    )
    booking_id, secret = made["booking"]["id"], made["manageToken"]
    await set_note(gql, ada.token, bookingId=booking_id, text="Private remark")
    assert (await gql(BY_TOKEN, {"t": secret}))["bookingByToken"]["lessonNote"] is None
    await set_note(gql, ada.token, bookingId=booking_id, text="Homework", sharedWithStudent=True)
    assert (await gql(BY_TOKEN, {"t": secret}))["bookingByToken"]["lessonNote"] == {
        "text": "Homework"
    }


async def test_notes_on_a_list_of_bookings_cost_the_same_statements(
    gql: GraphQLClient, db: Database
) -> None:
    ada, service, sam = await setup_lessons(gql)
    query = """{ bookings(first: 50) { edges { node { id contactPhone lessonNote { text }
      student { phone } } } } }"""

    async def statements(count: int, week: int) -> int:
        for hour in range(count):
            made = await book(
                gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(week), 9 + hour)
            )
            await set_note(gql, ada.token, bookingId=made["booking"]["id"], text=f"n{hour}")
        with count_statements(db) as seen:
            edges = (await gql(query, token=ada.token))["bookings"]["edges"]
        assert all(e["node"]["lessonNote"] for e in edges)
        return len(seen)

    assert await statements(1, 2) == await statements(4, 3)
