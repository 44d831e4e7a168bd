"""Reviews through the API: who may review which booking and when, the tutor's maintained
rating, the public author name, replies, the review request email, the REVIEW_SUBMITTED
webhook, and reviews as nodes."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from domain import review_requests
from domain.reviews import author_name
from infra.db import Database
from models import OutboxJob
from tests.fakes.smtp_server import Inbox
from tests.fakes.webhook_receiver import FakeReceiver
from tests.helpers import (
    ATTENDANCE,
    CANCEL,
    CLOCK,
    SAM,
    Background,
    GraphQLClient,
    TestClock,
    Tutor,
    at,
    book,
    count_statements,
    make_tutor,
    monday,
    organization,
    pk,
    setup_lessons,
    token,
    weekly,
)
from tests.integrations.test_webhooks import hook

REVIEW = "id rating comment authorName createdAt reply service { title }"
SUBMIT = f"""mutation($input: SubmitReviewInput!) {{ submitReview(input: $input) {{
  __typename ... on ReviewSubmitted {{ review {{ {REVIEW} }} }}
  ... on InvalidInput {{ message field }} ... on PolicyViolation {{ message policy }}
  ... on NotFound {{ message }} }} }}"""
REPLY = f"""mutation($input: ReplyToReviewInput!) {{ replyToReview(input: $input) {{
  __typename ... on ReviewReplied {{ review {{ {REVIEW} }} }}
  ... on InvalidInput {{ message field }} ... on NotFound {{ message }} }} }}"""
TUTOR = """query($id: ID!, $first: Int, $after: String) { tutor(id: $id) {
  rating reviewCount
  reviews(first: $first, after: $after) {
    totalCount edges { cursor node { id rating authorName comment reply } }
    pageInfo { hasNextPage hasPreviousPage endCursor } } } }"""
GUS = "gus@example.com"


@pytest.fixture
def day(clock: TestClock) -> date:
    """The Monday the tests' lessons are on, fixed before a test moves the clock."""
    return monday()


async def lesson(
    gql: GraphQLClient,
    ada: Tutor,
    service: str,
    who: str | None,
    day: date,
    hour: int,
    **input: Any,
) -> dict[str, Any]:
    start = at(day, hour)
    made = await book(gql, who, serviceId=service, tutorId=ada.id, start=start, **input)
    assert made["__typename"] == "BookingCreated", made
    return made


def after_lessons(day: date, hours: float = 0) -> None:
    """The clock moved to the end of that Monday's lessons (hour 23), plus `hours`."""
    CLOCK.set(datetime.fromisoformat(at(day, 23)) + timedelta(hours=hours))


async def mark(gql: GraphQLClient, ada: Tutor, booking: dict[str, Any], status: str) -> None:
    variables = {"input": {"bookingId": booking["booking"]["id"], "status": status}}
    marked = (await gql(ATTENDANCE, variables, ada.token))["markAttendance"]
    assert marked["__typename"] == "AttendanceMarked", marked


async def submit(gql: GraphQLClient, who: str | None, **input: Any) -> dict[str, Any]:
    input.setdefault("rating", 5)
    result: dict[str, Any] = (await gql(SUBMIT, {"input": input}, who))["submitReview"]
    return result


async def review_of(
    gql: GraphQLClient, who: str | None, booking: dict[str, Any], **input: Any
) -> dict[str, Any]:
    return await submit(gql, who, bookingId=booking["booking"]["id"], **input)


async def tutor_reviews(gql: GraphQLClient, tutor: Tutor, **variables: Any) -> dict[str, Any]:
    found: dict[str, Any] = (await gql(TUTOR, {"id": tutor.id, **variables}))["tutor"]
    return found


def test_author_names_show_the_first_name_and_the_last_initial() -> None:
    assert author_name("Maria Lopez") == "Maria L."
    assert author_name("  Maria   de la  Cruz ") == "Maria C."
    assert author_name("Cher") == "Cher"
    assert author_name("  Cher ") == "Cher"
    assert author_name("Zoë Ångström") == "Zoë Å."
    # A decomposed accent stays with its letter.
    assert author_name("Ana E\u0301lise") == "Ana É."
    assert author_name("Юлия Иванова") == "Юлия И."
    assert author_name("") == "A student"


async def test_the_student_reviews_a_completed_session_once_within_30_days(
    gql: GraphQLClient, day: date
) -> None:
    ada, service, _ = await setup_lessons(gql)
    maria = token("maria", name="Maria Lopez", email="maria@example.com")
    done = await lesson(gql, ada, service, maria, day, 9)
    upcoming = await lesson(gql, ada, service, maria, day, 11)
    after_lessons(day)
    await mark(gql, ada, done, "COMPLETED")

    # Not completed yet (confirmed, session over but not marked).
    refused = await review_of(gql, maria, upcoming)
    assert (refused["__typename"], refused["policy"]) == ("PolicyViolation", "NOT_COMPLETED")
    # A rating out of range, a comment too long: named.
    for bad, field in [({"rating": 0}, "input.rating"), ({"rating": 6}, "input.rating")]:
        result = await review_of(gql, maria, done, **bad)
        assert (result["__typename"], result["field"]) == ("InvalidInput", field)
    long = await review_of(gql, maria, done, comment="x" * 2001)
    assert (long["__typename"], long["field"]) == ("InvalidInput", "input.comment")
    nul = await review_of(gql, maria, done, comment="bad\x00")
    assert nul["__typename"] == "InvalidInput"
    assert nul["field"] == "input.comment"

    # Someone else (another student, the anonymous, the tutor): no such booking.
    for who in (token("bob", name="Bob", email="bob@example.com"), None, ada.token):
        assert (await review_of(gql, who, done))["__typename"] == "NotFound"

    made = await review_of(gql, maria, done, rating=4, comment="  Patient and clear.  ")
    assert made["__typename"] == "ReviewSubmitted", made
    review = made["review"]
    assert (review["rating"], review["comment"], review["authorName"]) == (
        4,
        "Patient and clear.",
        "Maria L.",
    )
    assert review["service"]["title"] == "Piano"
    assert review["reply"] is None
    again = await review_of(gql, maria, done, rating=1)
    assert (again["__typename"], again["policy"]) == ("PolicyViolation", "ALREADY_REVIEWED")

    # Booking.review shows it to whoever sees the booking.
    query = """query($id: ID!) { node(id: $id) { ... on Booking { review { id rating } } } }"""
    seen = (await gql(query, {"id": done["booking"]["id"]}, maria))["node"]
    assert seen["review"] == {"id": review["id"], "rating": 4}
    unseen = (await gql(query, {"id": upcoming["booking"]["id"]}, maria))["node"]
    assert unseen["review"] is None


async def test_two_reviews_at_once_make_one(gql: GraphQLClient, day: date) -> None:
    ada, service, sam = await setup_lessons(gql)
    booking = await lesson(gql, ada, service, sam, day, 9)
    after_lessons(day)
    await mark(gql, ada, booking, "COMPLETED")
    results = await asyncio.gather(*(review_of(gql, sam, booking, rating=r) for r in (5, 1)))
    kinds = sorted(r["__typename"] for r in results)
    assert kinds == ["PolicyViolation", "ReviewSubmitted"]
    found = await tutor_reviews(gql, ada)
    assert (found["reviewCount"], found["reviews"]["totalCount"]) == (1, 1)
    [kept] = [r["review"]["rating"] for r in results if r["__typename"] == "ReviewSubmitted"]
    assert found["rating"] == kept


async def test_the_window_closes_30_days_after_the_session(gql: GraphQLClient, day: date) -> None:
    ada, service, sam = await setup_lessons(gql)
    first = await lesson(gql, ada, service, sam, day, 9)
    second = await lesson(gql, ada, service, sam, day, 11)
    after_lessons(day)
    await mark(gql, ada, first, "COMPLETED")
    await mark(gql, ada, second, "COMPLETED")
    # 30 days after the 12:00 end: still open; after the 10:00 end: closed.
    CLOCK.set(datetime.fromisoformat(at(day, 11)) + timedelta(days=30))
    late = await review_of(gql, sam, first)
    assert (late["__typename"], late["policy"]) == ("PolicyViolation", "REVIEW_WINDOW")
    ok = await review_of(gql, sam, second)
    assert ok["__typename"] == "ReviewSubmitted", ok


async def test_cancelled_and_no_show_sessions_are_not_reviewed(
    gql: GraphQLClient, day: date
) -> None:
    ada, service, sam = await setup_lessons(gql)
    cancelled = await lesson(gql, ada, service, sam, day, 9)
    missed = await lesson(gql, ada, service, sam, day, 11)
    variables = {"input": {"bookingId": cancelled["booking"]["id"]}}
    assert (await gql(CANCEL, variables, sam))["cancelBooking"]["__typename"] == "BookingCancelled"
    after_lessons(day)
    await mark(gql, ada, missed, "NO_SHOW")
    for booking in (cancelled, missed):
        refused = await review_of(gql, sam, booking)
        assert (refused["__typename"], refused["policy"]) == ("PolicyViolation", "NOT_COMPLETED")
    assert (await tutor_reviews(gql, ada))["reviewCount"] == 0


async def test_a_guest_reviews_by_the_manage_token(gql: GraphQLClient, day: date) -> None:
    ada, service, _ = await setup_lessons(gql)
    guest = await lesson(gql, ada, service, None, day, 9, guest={"name": "Gus Grant", "email": GUS})
    after_lessons(day)
    await mark(gql, ada, guest, "COMPLETED")
    assert (await submit(gql, None))["__typename"] == "InvalidInput"  # neither id nor token
    assert (await submit(gql, None, token="not-the-token"))["__typename"] == "NotFound"
    # The booking's id without its token is someone else's booking.
    assert (await review_of(gql, None, guest))["__typename"] == "NotFound"
    made = await submit(gql, None, token=guest["manageToken"], rating=5, comment="Great")
    assert made["__typename"] == "ReviewSubmitted", made
    assert made["review"]["authorName"] == "Gus G."


async def test_the_rating_is_kept_exact_and_costs_no_query_per_tutor(
    gql: GraphQLClient, db: Database, day: date
) -> None:
    ada, service, _ = await setup_lessons(gql)
    students = [token(f"s{i}", name=f"Student {i}", email=f"s{i}@example.com") for i in range(4)]
    booked = [await lesson(gql, ada, service, s, day, 8 + i) for i, s in enumerate(students)]
    empty = await tutor_reviews(gql, ada)
    assert (empty["rating"], empty["reviewCount"], empty["reviews"]["totalCount"]) == (None, 0, 0)
    after_lessons(day)
    ratings = [5, 4, 4, 2]
    for student, booking, rating in zip(students, booked, ratings, strict=True):
        await mark(gql, ada, booking, "COMPLETED")
        assert (await review_of(gql, student, booking, rating=rating))["__typename"] == (
            "ReviewSubmitted"
        )
        CLOCK.set(CLOCK() + timedelta(minutes=1))  # each review later than the one before
    found = await tutor_reviews(gql, ada, first=3)
    assert found["rating"] == pytest.approx(15 / 4)
    assert found["reviewCount"] == 4
    page = found["reviews"]
    assert page["totalCount"] == 4
    # Newest first, three, then the last one after the cursor.
    assert [e["node"]["rating"] for e in page["edges"]] == [2, 4, 4]
    names = [e["node"]["authorName"] for e in page["edges"]]
    assert names == ["Student 3.", "Student 2.", "Student 1."]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = await tutor_reviews(gql, ada, first=3, after=page["pageInfo"]["endCursor"])
    assert [e["node"]["rating"] for e in rest["reviews"]["edges"]] == [5]
    assert rest["reviews"]["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": True,
        "endCursor": rest["reviews"]["edges"][0]["cursor"],
    }
    # Bounds and bad cursors are the caller's to fix.
    for variables in ({"first": 51}, {"first": 0}, {"after": "bm90IGEgY3Vyc29y"}):
        error = await gql.error(TUTOR, {"id": ada.id, **variables})
        assert error["extensions"]["code"] == "BAD_USER_INPUT"

    # A list of tutors: one read of the totals for one tutor as for three, and no aggregate.
    others = [await make_tutor(gql, name, "UTC", weekly("09:00", "17:00")) for name in ("bo", "cy")]
    listing = """query($ids: [ID!]!) { nodes(ids: $ids) { ... on Tutor { rating reviewCount } } }"""
    with count_statements(db) as one:
        assert (await gql(listing, {"ids": [ada.id]}))["nodes"] == [
            {"rating": pytest.approx(3.75), "reviewCount": 4}
        ]
    with count_statements(db) as three:
        found_all = (await gql(listing, {"ids": [ada.id] + [t.id for t in others]}))["nodes"]
    assert [t["reviewCount"] for t in found_all] == [4, 0, 0]
    assert [t["rating"] for t in found_all][1:] == [None, None]
    for statements in (one, three):
        assert sum("tutor_review_stats" in s for s in statements) == 1
        assert not any("FROM reviews" in s for s in statements)


async def test_the_tutor_and_an_organization_owner_reply_and_others_cannot(
    gql: GraphQLClient, day: date
) -> None:
    ada, service, sam = await setup_lessons(gql)
    owner = await make_tutor(gql, "olga")
    await organization(gql, owner, ada)
    booking = await lesson(gql, ada, service, sam, day, 9)
    after_lessons(day)
    await mark(gql, ada, booking, "COMPLETED")
    review = (await review_of(gql, sam, booking, comment="Good"))["review"]

    def reply(who: str | None, text: str) -> Any:
        return gql(REPLY, {"input": {"reviewId": review["id"], "reply": text}}, who)

    stranger = await make_tutor(gql, "stan")
    for who in (stranger.token, sam):
        assert (await reply(who, "Mine"))["replyToReview"]["__typename"] == "NotFound"
    assert (await gql.error(REPLY, {"input": {"reviewId": review["id"], "reply": "x"}}))[
        "extensions"
    ]["code"] == "UNAUTHENTICATED"
    blank = (await reply(ada.token, "   "))["replyToReview"]
    assert (blank["__typename"], blank["field"]) == ("InvalidInput", "input.reply")
    long = (await reply(ada.token, "x" * 2001))["replyToReview"]
    assert (long["__typename"], long["field"]) == ("InvalidInput", "input.reply")

    first = (await reply(ada.token, "Thank you, Sam!"))["replyToReview"]
    assert first["review"]["reply"] == "Thank you, Sam!"
    edited = (await reply(owner.token, "Thanks from the studio."))["replyToReview"]
    assert edited["review"]["reply"] == "Thanks from the studio."
    shown = (await tutor_reviews(gql, ada))["reviews"]["edges"][0]["node"]
    assert shown["reply"] == "Thanks from the studio."


async def test_reviews_are_public_nodes(gql: GraphQLClient, day: date) -> None:
    ada, service, sam = await setup_lessons(gql)
    booking = await lesson(gql, ada, service, sam, day, 9)
    after_lessons(day)
    await mark(gql, ada, booking, "COMPLETED")
    review = (await review_of(gql, sam, booking, rating=3))["review"]
    one = """query($id: ID!) { node(id: $id) { id ... on Review { rating authorName } } }"""
    assert (await gql(one, {"id": review["id"]}))["node"] == {
        "id": review["id"],
        "rating": 3,
        "authorName": "Sam",
    }
    many = """query($ids: [ID!]!) { nodes(ids: $ids) { ... on Review { id rating } } }"""
    unknown = review["id"][:-4] + "AAAA"
    found = (await gql(many, {"ids": [review["id"], unknown]}, sam))["nodes"]
    assert found[0] == {"id": review["id"], "rating": 3}
    assert found[1] is None


async def test_the_review_request_goes_once_after_completion_not_for_no_shows(
    gql: GraphQLClient, inbox: Inbox, background: Background, day: date
) -> None:
    ada, service, sam = await setup_lessons(gql)
    done = await lesson(gql, ada, service, sam, day, 8)
    missed = await lesson(gql, ada, service, sam, day, 10)
    quiet = await lesson(gql, ada, service, sam, day, 12, remindersEnabled=False)
    guest = await lesson(gql, ada, service, None, day, 14, guest={"name": "Gus", "email": GUS})
    after_lessons(day)
    await background.run()
    inbox.reset()

    for booking, status in [(done, "COMPLETED"), (missed, "NO_SHOW"), (quiet, "COMPLETED")]:
        await mark(gql, ada, booking, status)
    await mark(gql, ada, guest, "COMPLETED")
    await background.run()
    requests = [r for r in inbox.to(SAM) if r.subject.startswith("How was")]
    assert len(requests) == 1  # not for the no-show, nor the booking without reminders
    assert "Piano with Ada" in requests[0].subject
    assert "in the app" in requests[0].text
    [to_guest] = [r for r in inbox.to(GUS) if r.subject.startswith("How was")]
    link = f"https://app.example/manage/{guest['manageToken']}"
    assert link in to_guest.text  # the guest's link carries their manage token
    assert link in to_guest.html

    # Never twice: later runs send nothing more.
    after_lessons(day, hours=2)
    await background.run()
    assert len([r for r in inbox.to(SAM) + inbox.to(GUS) if r.subject.startswith("How was")]) == 2


async def test_parked_review_tokens_go_once_a_booking_cannot_be_reviewed(
    gql: GraphQLClient, db: Database, day: date
) -> None:
    ada, service, _ = await setup_lessons(gql)
    kept = await lesson(gql, ada, service, None, day, 9, guest={"name": "Gus", "email": GUS})
    ida = {"name": "Ida", "email": "ida@example.com"}
    dropped = await lesson(gql, ada, service, None, day, 11, guest=ida)
    variables = {"input": {"token": dropped["manageToken"]}}
    assert (await gql(CANCEL, variables))["cancelBooking"]["__typename"] == "BookingCancelled"

    async def sweep_and_list(now: datetime) -> list[str]:
        async with db.transaction() as session:
            await review_requests.drop_stale_tokens(session, now)
        async with db.session() as session:
            rows = await session.exec(
                select(OutboxJob).where(OutboxJob.kind == review_requests.PARKED_REVIEW_TOKEN.kind)
            )
            return [r.payload["booking"] for r in rows]

    assert await sweep_and_list(CLOCK()) == [str(pk(kept["booking"]["id"]))]
    # Never marked, and the review window after the session is over: nothing left to review.
    end = datetime.fromisoformat(at(day, 10))
    assert await sweep_and_list(end + timedelta(days=29)) == [str(pk(kept["booking"]["id"]))]
    assert await sweep_and_list(end + timedelta(days=31)) == []


async def test_a_review_is_posted_to_webhooks(
    hook_gql: GraphQLClient, receiver: FakeReceiver, deliveries: Background, day: date
) -> None:
    ada, service, sam = await setup_lessons(hook_gql)
    await hook(hook_gql, receiver, ada, "/reviews", ["REVIEW_SUBMITTED"])
    booking = await lesson(hook_gql, ada, service, sam, day, 9)
    after_lessons(day)
    await mark(hook_gql, ada, booking, "COMPLETED")
    review = (await review_of(hook_gql, sam, booking, rating=5, comment="Lovely"))["review"]
    await deliveries.run(CLOCK())
    [got] = receiver.at("/reviews")
    assert got.error is None
    assert got.type == "review.submitted"
    assert got.payload is not None
    data = got.payload["data"]
    assert data["review"] == {
        "id": review["id"],
        "rating": 5,
        "comment": "Lovely",
        "authorName": "Sam",
    }
    assert data["booking"]["id"] == booking["booking"]["id"]
    assert data["booking"]["status"] == "COMPLETED"
