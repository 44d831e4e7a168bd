"""Check-in forms (issue 16, item 1): a service's questions set, kept and retired; answers at
booking and later, each rule of a value; PENDING, SUBMITTED and NONE; the tutor's email with the
answers; one reminder of a pending form; who sees the answers; the CSV's form status; and a
list's answers in a constant number of statements."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from domain.forms import MAX_OPTION, MAX_OPTIONS, MAX_PROMPT, MAX_QUESTIONS, MAX_TEXT
from infra.db import Database
from infra.settings import Settings
from models import QuestionType
from schema.node import encode_id
from tests.fakes.smtp_server import Inbox
from tests.helpers import (
    ADA,
    CANCEL,
    CLOCK,
    ERRORS,
    RESCHEDULE,
    SAM,
    Background,
    GraphQLClient,
    Tutor,
    at,
    count_statements,
    join,
    make_tutor,
    monday,
    organization,
    setup_lessons,
    token,
)

pytestmark = pytest.mark.calendar

QUESTION = "id prompt type options required"
SET = f"""mutation($input: SetServiceQuestionsInput!) {{ setServiceQuestions(input: $input) {{
  __typename ... on ServiceQuestionsSaved {{ service {{ id questions {{ {QUESTION} }} }} }}
  ... on InvalidInput {{ message field }} ... on NotFound {{ message }} }} }}"""
FORM = "formStatus formSubmittedAt formAnswers { question { id prompt type } values }"
BOOK = f"""mutation($input: CreateBookingInput!) {{ createBooking(input: $input) {{
  __typename ... on BookingCreated {{ manageToken booking {{ id {FORM} }} }} {ERRORS} }} }}"""
SUBMIT = f"""mutation($input: SubmitBookingFormInput!) {{ submitBookingForm(input: $input) {{
  __typename ... on BookingFormSubmitted {{ booking {{ id {FORM} }} }}
  ... on InvalidInput {{ message field }} ... on PolicyViolation {{ message policy }}
  ... on NotFound {{ message }} }} }}"""
NODE = f"query($id: ID!) {{ node(id: $id) {{ ... on Booking {{ id {FORM} }} }} }}"
BY_TOKEN = f"query($token: String!) {{ bookingByToken(token: $token) {{ id {FORM} }} }}"
SERVICE = f"query($id: ID!) {{ service(id: $id) {{ questions {{ {QUESTION} }} }} }}"
GUS = "gus@example.com"

# One question of each type; the first and the third are required.
FORM_INPUT: list[dict[str, Any]] = [
    {"prompt": "What would you like to work on?", "type": "TEXT", "required": True},
    {"prompt": "Anything else?", "type": "TEXTAREA"},
    {"prompt": "Level", "type": "SELECT", "options": ["Beginner", "Advanced"], "required": True},
    {"prompt": "Topics", "type": "MULTI_SELECT", "options": ["Scales", "Chords", "Pieces"]},
    {"prompt": "First lesson?", "type": "CHECKBOX"},
]
# A full set of good values, one per question above.
GOOD = [["  Sight reading  "], ["Line one\nline two"], ["Advanced"], ["Chords", "Scales"], ["true"]]


async def set_form(
    gql: GraphQLClient, who: str, service: str, questions: list[dict[str, Any]]
) -> dict[str, Any]:
    input = {"serviceId": service, "questions": questions}
    result: dict[str, Any] = (await gql(SET, {"input": input}, who))["setServiceQuestions"]
    return result


async def asked(gql: GraphQLClient, tutor: Tutor, service: str) -> list[dict[str, Any]]:
    saved = await set_form(gql, tutor.token, service, FORM_INPUT)
    assert saved["__typename"] == "ServiceQuestionsSaved", saved
    questions: list[dict[str, Any]] = saved["service"]["questions"]
    return questions


def answers(questions: list[dict[str, Any]], *values: list[str] | None) -> list[dict[str, Any]]:
    """Answers to `questions` in order; None skips one."""
    return [
        {"questionId": q["id"], "values": v}
        for q, v in zip(questions, values, strict=False)
        if v is not None
    ]


async def book(gql: GraphQLClient, who: str | None, **input: Any) -> dict[str, Any]:
    input.setdefault("timeZone", "UTC")
    result: dict[str, Any] = (await gql(BOOK, {"input": input}, who))["createBooking"]
    return result


async def submit(gql: GraphQLClient, who: str | None, **input: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await gql(SUBMIT, {"input": input}, who))["submitBookingForm"]
    return result


async def seen(gql: GraphQLClient, booking_id: str, who: str) -> dict[str, Any] | None:
    node: dict[str, Any] | None = (await gql(NODE, {"id": booking_id}, who))["node"]
    return node


def shown(form: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(a["question"]["prompt"], a["values"]) for a in form["formAnswers"]]


async def test_every_type_answered_at_booking_is_submitted(gql: GraphQLClient) -> None:
    ada, service, sam = await setup_lessons(gql)
    questions = await asked(gql, ada, service)
    assert [(q["prompt"], q["type"], q["options"], q["required"]) for q in questions] == [
        ("What would you like to work on?", "TEXT", [], True),
        ("Anything else?", "TEXTAREA", [], False),
        ("Level", "SELECT", ["Beginner", "Advanced"], True),
        ("Topics", "MULTI_SELECT", ["Scales", "Chords", "Pieces"], False),
        ("First lesson?", "CHECKBOX", [], False),
    ]
    public = (await gql(SERVICE, {"id": service}))["service"]["questions"]
    assert public == questions  # the form is as public as the service

    made = await book(
        gql, sam, serviceId=service, start=at(monday(), 9), answers=answers(questions, *GOOD)
    )
    assert made["__typename"] == "BookingCreated", made
    booking = made["booking"]
    assert booking["formStatus"] == "SUBMITTED"
    assert booking["formSubmittedAt"] is not None
    assert shown(booking) == [
        ("What would you like to work on?", ["Sight reading"]),
        ("Anything else?", ["Line one\nline two"]),
        ("Level", ["Advanced"]),
        ("Topics", ["Chords", "Scales"]),
        ("First lesson?", ["true"]),
    ]


async def test_pending_submitted_and_none(gql: GraphQLClient) -> None:
    ada, service, sam = await setup_lessons(gql)
    day = monday()
    plain = await book(gql, sam, serviceId=service, start=at(day, 8))
    assert plain["booking"]["formStatus"] == "NONE"  # asked nothing, then and now
    questions = await asked(gql, ada, service)
    assert (await seen(gql, plain["booking"]["id"], sam))["formStatus"] == "PENDING"  # type: ignore[index]

    # Required answers missing: booked all the same, PENDING, with what was given.
    partial = await book(
        gql, sam, serviceId=service, start=at(day, 9), answers=answers(questions, GOOD[0])
    )
    assert partial["__typename"] == "BookingCreated", partial
    booking = partial["booking"]
    assert booking["formStatus"] == "PENDING" and booking["formSubmittedAt"] is None
    assert shown(booking) == [("What would you like to work on?", ["Sight reading"])]
    none_given = await book(gql, sam, serviceId=service, start=at(day, 10))
    assert none_given["booking"]["formStatus"] == "PENDING"
    assert none_given["booking"]["formAnswers"] == []
    # An empty text or an empty choice is no answer: still missing.
    blank = await book(
        gql, sam, serviceId=service, start=at(day, 11), answers=answers(questions, [" "], [], [])
    )
    assert blank["booking"]["formStatus"] == "PENDING" and blank["booking"]["formAnswers"] == []

    # Submitted later, it must be complete: the missing question is named.
    refused = await submit(
        gql, sam, bookingId=booking["id"], answers=answers(questions, GOOD[0], GOOD[1])
    )
    assert refused["__typename"] == "InvalidInput" and refused["field"] == "input.answers"
    assert "Level" in refused["message"]
    done = await submit(gql, sam, bookingId=booking["id"], answers=answers(questions, *GOOD[:3]))
    assert done["__typename"] == "BookingFormSubmitted", done
    assert done["booking"]["formStatus"] == "SUBMITTED"
    first_at = done["booking"]["formSubmittedAt"]
    # A later submission replaces the earlier one: only the required two now.
    again = await submit(
        gql,
        sam,
        bookingId=booking["id"],
        answers=answers(questions, ["Chords"], None, ["Beginner"]),
    )
    assert shown(again["booking"]) == [
        ("What would you like to work on?", ["Chords"]),
        ("Level", ["Beginner"]),
    ]
    assert again["booking"]["formSubmittedAt"] >= first_at

    # Optional questions only: nothing given at booking is PENDING; an empty submission submits.
    await set_form(gql, ada.token, service, [{"prompt": "Notes", "type": "TEXTAREA"}])
    optional = await book(gql, sam, serviceId=service, start=at(day, 12))
    assert optional["booking"]["formStatus"] == "PENDING"
    sent = await submit(gql, sam, bookingId=optional["booking"]["id"], answers=[])
    assert sent["booking"]["formStatus"] == "SUBMITTED"

    # No questions left: nothing to submit, and a pending form is no longer one.
    cleared = await set_form(gql, ada.token, service, [])
    assert cleared["service"]["questions"] == []
    assert (await seen(gql, none_given["booking"]["id"], sam))["formStatus"] == "NONE"  # type: ignore[index]
    assert (await seen(gql, booking["id"], sam))["formStatus"] == "SUBMITTED"  # type: ignore[index]
    nothing = await submit(gql, sam, bookingId=none_given["booking"]["id"], answers=[])
    assert nothing["__typename"] == "InvalidInput" and nothing["field"] == "input.answers"


async def test_each_rule_of_a_value_names_the_answer(gql: GraphQLClient) -> None:
    ada, service, sam = await setup_lessons(gql)
    questions = await asked(gql, ada, service)
    other = (await ada.service(title="Other"))["service"]["id"]
    foreign = (await set_form(gql, ada.token, other, [{"prompt": "Why?", "type": "TEXT"}]))[
        "service"
    ]["questions"][0]["id"]
    text, area, select, multi, box = questions
    ok = {"questionId": text["id"], "values": ["Fine"]}

    def bad(question: dict[str, Any] | str, *values: str) -> dict[str, Any]:
        key = question if isinstance(question, str) else question["id"]
        return {"questionId": key, "values": list(values)}

    cases = {
        "not an id": bad("nonsense", "x"),
        "another service's question": bad(foreign, "x"),
        "a service id": bad(service, "x"),
        "answered twice": ok,
        "two texts": bad(text, "a", "b"),
        "a text too long": bad(text, "x" * (MAX_TEXT[QuestionType.TEXT] + 1)),
        "a long text too long": bad(area, "x" * (MAX_TEXT[QuestionType.TEXTAREA] + 1)),
        "not an option": bad(select, "Expert"),
        "two options for SELECT": bad(select, "Beginner", "Advanced"),
        "an option twice": bad(multi, "Scales", "Scales"),
        "one option unknown": bad(multi, "Scales", "Jazz"),
        "a checkbox's yes": bad(box, "yes"),
        "a checkbox's True": bad(box, "True"),
        "a checkbox twice": bad(box, "true", "false"),
    }
    day = monday()
    pending = await book(gql, sam, serviceId=service, start=at(day, 9))
    booking_id = pending["booking"]["id"]
    for case, answer in cases.items():
        wrong = [ok, answer]
        made = await book(gql, sam, serviceId=service, start=at(day, 10), answers=wrong)
        assert (made["__typename"], made.get("field")) == ("InvalidInput", "input.answers[1]"), (
            case,
            made,
        )
        sent = await submit(gql, sam, bookingId=booking_id, answers=wrong)
        assert (sent["__typename"], sent.get("field")) == ("InvalidInput", "input.answers[1]"), (
            case,
            sent,
        )
    # Nothing was booked by the refused requests, nothing stored by the refused submissions.
    query = "{ bookings(first: 100) { totalCount } }"
    assert (await gql(query, token=sam))["bookings"]["totalCount"] == 1
    assert (await seen(gql, booking_id, sam))["formAnswers"] == []  # type: ignore[index]
    # More answers than the bound: refused as a whole.
    many = [ok] * (MAX_QUESTIONS + 1)
    assert (await submit(gql, sam, bookingId=booking_id, answers=many))["field"] == "input.answers"


async def test_each_rule_of_a_question_names_its_field(gql: GraphQLClient) -> None:
    ada, service, _ = await setup_lessons(gql)
    other = (await ada.service(title="Other"))["service"]["id"]
    foreign = await set_form(gql, ada.token, other, [{"prompt": "Why?", "type": "TEXT"}])
    foreign_id = foreign["service"]["questions"][0]["id"]
    kept = (await asked(gql, ada, service))[0]  # a TEXT question
    select = {"prompt": "Level", "type": "SELECT"}
    cases: list[tuple[list[dict[str, Any]], str]] = [
        ([{"prompt": "  ", "type": "TEXT"}], "input.questions[0].prompt"),
        ([{"prompt": "x" * (MAX_PROMPT + 1), "type": "TEXT"}], "input.questions[0].prompt"),
        ([{**select, "options": []}], "input.questions[0].options"),
        ([select], "input.questions[0].options"),
        ([{**select, "options": ["a", "b", " a "]}], "input.questions[0].options[2]"),
        ([{**select, "options": ["a", ""]}], "input.questions[0].options[1]"),
        ([{**select, "options": ["x" * (MAX_OPTION + 1)]}], "input.questions[0].options[0]"),
        (
            [{**select, "options": [str(i) for i in range(MAX_OPTIONS + 1)]}],
            "input.questions[0].options",
        ),
        ([{"prompt": "Ok?", "type": "CHECKBOX", "options": ["yes"]}], "input.questions[0].options"),
        ([{"prompt": "Why?", "type": "TEXT", "options": ["a"]}], "input.questions[0].options"),
        ([{"prompt": "Q", "type": "TEXT"}] * (MAX_QUESTIONS + 1), "input.questions"),
        ([{"id": foreign_id, "prompt": "Why?", "type": "TEXT"}], "input.questions[0].id"),
        ([{"id": "nonsense", "prompt": "Why?", "type": "TEXT"}], "input.questions[0].id"),
        ([{"id": ada.id, "prompt": "Why?", "type": "TEXT"}], "input.questions[0].id"),
        ([{**kept, "options": None}, {**kept, "options": None}], "input.questions[1].id"),
        ([{"id": kept["id"], "prompt": "Level", "type": "TEXTAREA"}], "input.questions[0].type"),
    ]
    for questions, field in cases:
        result = await set_form(gql, ada.token, service, questions)
        assert (result["__typename"], result.get("field")) == ("InvalidInput", field), result
    # Nothing of the refused forms was kept.
    assert (await gql(SERVICE, {"id": service}))["service"]["questions"][0] == kept
    not_a_service = await set_form(gql, ada.token, ada.id, [])
    assert not_a_service["__typename"] == "InvalidInput"
    assert not_a_service["field"] == "input.serviceId"
    unknown = await set_form(gql, ada.token, encode_id("Service", uuid.uuid4()), [])
    assert unknown["__typename"] == "NotFound"


async def test_kept_questions_keep_their_answers_and_retired_ones_still_show(
    gql: GraphQLClient,
) -> None:
    ada, service, sam = await setup_lessons(gql)
    text, area, select, *_ = await asked(gql, ada, service)
    day = monday()
    old = await book(
        gql,
        sam,
        serviceId=service,
        start=at(day, 9),
        answers=answers([text, select], *[GOOD[0], GOOD[2]]),
    )
    assert old["booking"]["formStatus"] == "SUBMITTED"

    # Keep Level (reworded, moved first), add a question; the rest are retired.
    saved = await set_form(
        gql,
        ada.token,
        service,
        [
            {
                "id": select["id"],
                "prompt": "Your level",
                "type": "SELECT",
                "options": ["Beginner", "Advanced", "Expert"],
                "required": True,
            },
            {"prompt": "Goal", "type": "TEXT"},
        ],
    )
    now = saved["service"]["questions"]
    assert [q["prompt"] for q in now] == ["Your level", "Goal"]
    assert now[0]["id"] == select["id"] and now[1]["id"] not in (text["id"], area["id"])

    # The old answers: the retired question as it was, the kept one under its new wording.
    form = await seen(gql, old["booking"]["id"], sam)
    assert form is not None and form["formStatus"] == "SUBMITTED"
    assert [
        (a["question"]["id"], a["question"]["prompt"], a["values"]) for a in form["formAnswers"]
    ] == [
        (text["id"], "What would you like to work on?", ["Sight reading"]),
        (select["id"], "Your level", ["Advanced"]),
    ]
    # A retired question is no longer asked.
    refused = await book(
        gql, sam, serviceId=service, start=at(day, 10), answers=answers([text], ["Hi"])
    )
    assert refused["__typename"] == "InvalidInput" and refused["field"] == "input.answers[0]"
    made = await book(
        gql, sam, serviceId=service, start=at(day, 10), answers=answers(now, ["Expert"])
    )
    assert made["booking"]["formStatus"] == "SUBMITTED"
    # A retired question may be asked again, with its old answers.
    revived = await set_form(
        gql, ada.token, service, [{"id": text["id"], "prompt": "Work on?", "type": "TEXT"}]
    )
    assert [q["id"] for q in revived["service"]["questions"]] == [text["id"]]


async def test_who_may_set_a_services_questions(gql: GraphQLClient) -> None:
    ada, bob, dee, eve = [await make_tutor(gql, n) for n in ("ada", "bob", "dee", "eve")]
    studio = await organization(gql, ada, bob, dee)
    shared = await ada.service(title="Studio lesson", organizationId=studio, tutorIds=[bob.id])
    assert shared["__typename"] == "ServiceSaved", shared
    service = shared["service"]["id"]
    form = [{"prompt": "Goal", "type": "TEXT"}]
    # The owner (not one of its tutors) and its tutor may; a plain member or an outsider not.
    assert (await set_form(gql, ada.token, service, form))["__typename"] == "ServiceQuestionsSaved"
    assert (await set_form(gql, bob.token, service, form))["__typename"] == "ServiceQuestionsSaved"
    for who in (dee, eve):
        error = await gql.error(
            SET, {"input": {"serviceId": service, "questions": form}}, who.token
        )
        assert error["extensions"]["code"] == "FORBIDDEN"
    error = await gql.error(SET, {"input": {"serviceId": service, "questions": form}}, token("sam"))
    assert error["extensions"]["code"] == "FORBIDDEN"  # no tutor profile
    error = await gql.error(SET, {"input": {"serviceId": service, "questions": form}})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    own = (await eve.service())["service"]["id"]
    await join(gql, studio, ada, eve, "ADMIN")
    # Even an admin does not change a member's own service: it is not the organization's.
    error = await gql.error(SET, {"input": {"serviceId": own, "questions": form}}, ada.token)
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_who_sees_the_answers_and_who_submits(gql: GraphQLClient) -> None:
    ada, bob, dee, eve = [await make_tutor(gql, n) for n in ("ada", "bob", "dee", "eve")]
    await organization(gql, ada, bob, dee)  # Ada owns it; Bob and Dee are members
    service = (await bob.service())["service"]["id"]
    questions = await asked(gql, bob, service)
    sam, sue = token("sam", email=SAM), token("sue")
    day = monday()
    made = await book(
        gql, sam, serviceId=service, start=at(day, 9), answers=answers(questions, *GOOD)
    )
    booking_id = made["booking"]["id"]
    for who in (sam, bob.token, ada.token):  # the student, the tutor, the organization's owner
        form = await seen(gql, booking_id, who)
        assert form is not None and len(form["formAnswers"]) == 5
    for who in (dee.token, eve.token, sue):  # a member, another tutor, another student
        assert await seen(gql, booking_id, who) is None

    # Submitting: the tutor may not (FORBIDDEN); others do not see the booking (NotFound).
    sent = {"input": {"bookingId": booking_id, "answers": answers(questions, *GOOD)}}
    error = await gql.error(SUBMIT, sent, bob.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    for who in (sue, dee.token, eve.token):
        assert (await submit(gql, who, **sent["input"]))["__typename"] == "NotFound"
    assert (await submit(gql, None, **sent["input"]))["__typename"] == "NotFound"

    # A guest: by their token only, seeing their own answers.
    guest = await book(
        gql,
        None,
        serviceId=service,
        start=at(day, 11),
        guest={"name": "Gus", "email": GUS},
        answers=answers(questions, GOOD[0]),
    )
    secret = guest["manageToken"]
    assert guest["booking"]["formStatus"] == "PENDING"
    assert shown(guest["booking"]) == [("What would you like to work on?", ["Sight reading"])]
    by_token = (await gql(BY_TOKEN, {"token": secret}))["bookingByToken"]
    assert by_token["formStatus"] == "PENDING" and len(by_token["formAnswers"]) == 1
    done = await submit(gql, None, token=secret, answers=answers(questions, *GOOD))
    assert done["__typename"] == "BookingFormSubmitted", done
    assert done["booking"]["formStatus"] == "SUBMITTED" and len(done["booking"]["formAnswers"]) == 5
    wrong = await submit(gql, None, token=secret + "x", answers=answers(questions, *GOOD))
    assert wrong["__typename"] == "NotFound"
    nothing = await submit(gql, None, answers=[])
    assert nothing["__typename"] == "InvalidInput" and nothing["field"] == "input.bookingId"
    # Gus's booking is not Sam's; it is Bob's.
    assert await seen(gql, guest["booking"]["id"], sam) is None
    assert (await seen(gql, guest["booking"]["id"], bob.token))["formAnswers"]  # type: ignore[index]


async def test_no_submission_once_the_session_started_or_was_cancelled(
    gql: GraphQLClient,
) -> None:
    ada, service, sam = await setup_lessons(gql)
    questions = await asked(gql, ada, service)
    day = monday()
    made = await book(gql, sam, serviceId=service, start=at(day, 9))
    cancelled = await book(gql, sam, serviceId=service, start=at(day, 10))
    await gql(CANCEL, {"input": {"bookingId": cancelled["booking"]["id"]}}, sam)
    late = await submit(
        gql, sam, bookingId=cancelled["booking"]["id"], answers=answers(questions, *GOOD)
    )
    assert late["__typename"] == "PolicyViolation" and late["policy"] == "INVALID_TRANSITION"

    CLOCK.set(datetime.fromisoformat(at(day, 9)) + timedelta(seconds=1))
    started = await submit(
        gql, sam, bookingId=made["booking"]["id"], answers=answers(questions, *GOOD)
    )
    assert started["__typename"] == "PolicyViolation" and started["policy"] == "INVALID_TRANSITION"
    assert (await seen(gql, made["booking"]["id"], sam))["formStatus"] == "PENDING"  # type: ignore[index]


async def test_the_tutor_gets_the_answers_by_email(
    gql: GraphQLClient, background: Background, inbox: Inbox
) -> None:
    ada, service, sam = await setup_lessons(gql)
    questions = await asked(gql, ada, service)
    day = monday()
    values = [["<b>Bach</b> & scales"], *GOOD[1:]]
    made = await book(
        gql, sam, serviceId=service, start=at(day, 9), answers=answers(questions, *values)
    )
    pending = await book(gql, sam, serviceId=service, start=at(day, 10))
    await background.run()
    [mail] = [r for r in inbox.to(ADA) if r.subject.startswith("Check-in answers")]
    assert mail.subject == "Check-in answers: Piano with Sam"
    text = mail.text.replace("\r\n", "\n")
    assert "Sam answered the check-in questions." in text
    assert "What would you like to work on?\n<b>Bach</b> & scales" in text
    assert "Level\nAdvanced" in text and "Topics\nChords, Scales" in text
    assert "First lesson?\nYes" in text and "Line one\nline two" in text
    assert "&lt;b&gt;Bach&lt;/b&gt; &amp; scales" in mail.html and "<b>Bach" not in mail.html
    assert inbox.to(SAM) and not any("Check-in" in r.subject for r in inbox.to(SAM))

    # A pending form sends nothing until it is submitted; then the tutor hears again.
    inbox.reset()
    await gql(
        SUBMIT,
        {"input": {"bookingId": pending["booking"]["id"], "answers": answers(questions, *GOOD)}},
        sam,
    )
    await background.run()
    [again] = inbox.to(ADA)
    assert again.subject == "Check-in answers: Piano with Sam" and "Sight reading" in again.text
    assert made["booking"]["formStatus"] == "SUBMITTED"


async def test_a_pending_form_is_reminded_once_and_never_when_submitted_or_cancelled(
    gql: GraphQLClient, background: Background, inbox: Inbox, mail_settings: Settings
) -> None:
    t0 = datetime(2031, 5, 5, 12, tzinfo=UTC)
    CLOCK.set(t0)
    ada, service, sam = await setup_lessons(gql)
    questions = await asked(gql, ada, service)

    def hours(n: int) -> str:
        return (t0 + timedelta(hours=n)).isoformat()

    reminded = await book(gql, sam, serviceId=service, start=hours(40))
    submitted = await book(
        gql, sam, serviceId=service, start=hours(41), answers=answers(questions, *GOOD)
    )
    cancelled = await book(gql, sam, serviceId=service, start=hours(42))
    await gql(CANCEL, {"input": {"bookingId": cancelled["booking"]["id"]}}, sam)
    guest = await book(
        gql, None, serviceId=service, start=hours(43), guest={"name": "Gus", "email": GUS}
    )
    assert guest["booking"]["formStatus"] == "PENDING"
    # Moved into the window, then submitted: no reminder.
    moved = await book(gql, sam, serviceId=service, start=hours(100))
    await gql(
        RESCHEDULE, {"input": {"bookingId": moved["booking"]["id"], "newStart": hours(44)}}, sam
    )
    await gql(
        SUBMIT,
        {"input": {"bookingId": moved["booking"]["id"], "answers": answers(questions, *GOOD)}},
        sam,
    )
    later = await book(gql, sam, serviceId=service, start=hours(60))  # not yet in the window
    assert submitted["booking"]["formStatus"] == "SUBMITTED"

    def reminders(to: str) -> list[str]:
        subject = "Before your session: Piano with Ada"
        return [r.text.replace("\r\n", "\n") for r in inbox.to(to) if r.subject == subject]

    await background.run(t0)
    [to_sam] = reminders(SAM)
    assert "Ada asks a few questions before your session" in to_sam
    assert (
        "• What would you like to work on? (required)" in to_sam and "• Anything else?\n" in to_sam
    )
    assert "Wednesday 7 May 2031, 04:00" in to_sam
    [to_gus] = reminders(GUS)
    assert "through the link in your booking email" in to_gus

    # The next sweeps: nothing again, even for the reminded booking moved within the window.
    period = timedelta(seconds=mail_settings.jobs.sweep_seconds)
    await background.run(t0 + period)
    await gql(
        RESCHEDULE, {"input": {"bookingId": reminded["booking"]["id"], "newStart": hours(46)}}, sam
    )
    await background.run(t0 + 2 * period)
    assert len(reminders(SAM)) == 1 and len(reminders(GUS)) == 1

    # The later booking enters the window 48 hours before it starts: reminded then, once.
    await background.run(t0 + timedelta(hours=12, minutes=1))
    await background.run(t0 + timedelta(hours=12, minutes=1) + period)
    texts = reminders(SAM)
    assert len(texts) == 2 and "Thursday 8 May 2031, 00:00" in texts[1]
    assert later["booking"]["formStatus"] == "PENDING"

    # Moved ten days on, into the window again after its email job was pruned (a week): the
    # record of the reminder, not the job, keeps it from coming twice.
    ten_days = hours(46 + 240)
    moved_on = {"bookingId": reminded["booking"]["id"], "newStart": ten_days}
    assert (await gql(RESCHEDULE, {"input": moved_on}, sam))["rescheduleBooking"]["booking"]
    for step in range(3):
        await background.run(t0 + timedelta(hours=240) + step * period)
    assert len(reminders(SAM)) == 2


async def test_the_csv_export_shows_each_form_status(
    gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    ada, service, sam = await setup_lessons(gql)
    day = monday()
    none = await book(
        gql, sam, serviceId=(await ada.service(title="Chat"))["service"]["id"], start=at(day, 8)
    )
    questions = await asked(gql, ada, service)
    pending = await book(gql, sam, serviceId=service, start=at(day, 9))
    done = await book(
        gql, sam, serviceId=service, start=at(day, 10), answers=answers(questions, *GOOD)
    )
    query = "query($tz: TimeZone!) { bookingsCsvUrl(timeZone: $tz) }"
    url = (await gql(query, {"tz": "UTC"}, ada.token))["bookingsCsvUrl"]
    response = await http.get(url.removeprefix("http://127.0.0.1:8000"))
    assert response.status_code == 200
    got = {r["id"]: r["form_status"] for r in csv.DictReader(io.StringIO(response.text))}
    assert got == {
        none["booking"]["id"]: "NONE",
        pending["booking"]["id"]: "PENDING",
        done["booking"]["id"]: "SUBMITTED",
    }


async def test_a_lists_forms_take_a_constant_number_of_statements(
    gql: GraphQLClient, db: Database
) -> None:
    ada, service, sam = await setup_lessons(gql)
    questions = await asked(gql, ada, service)
    day = monday()
    for hour in range(8, 14):
        made = await book(
            gql, sam, serviceId=service, start=at(day, hour), answers=answers(questions, *GOOD)
        )
        assert made["__typename"] == "BookingCreated"
    query = f"""query($first: Int!) {{ bookings(first: $first) {{ edges {{ node {{
      id {FORM} service {{ questions {{ id }} }} }} }} }} }}"""
    counts = []
    for first in (1, 6):
        with count_statements(db) as statements:
            data = await gql(query, {"first": first}, sam)
        edges = data["bookings"]["edges"]
        assert len(edges) == first and all(len(e["node"]["formAnswers"]) == 5 for e in edges)
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
