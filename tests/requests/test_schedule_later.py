"""Schedule later (issue 16, item 2): a student asks, the service's tutors see the open requests,
one is assigned (the student is emailed a link to book them), the student's next booking of the
service fulfils it; every transition and the refused ones, who sees what, and the email."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any

from infra.db import Database
from infra.settings import Settings
from tests.fakes.smtp_server import Inbox
from tests.helpers import (
    Background,
    GraphQLClient,
    Tutor,
    at,
    book,
    count_statements,
    join,
    make_tutor,
    monday,
    organization,
    stored_student,
    token,
)

SAM, KIM = token("sam", email="sam@example.com"), token("kim", email="kim@example.com")
FIELDS = """id status note createdAt service { id title } student { email } tutor { id }
  booking { id tutor { id } }"""
REQUEST = f"""mutation($input: RequestScheduleLaterInput!) {{ requestScheduleLater(input: $input) {{
  __typename ... on ScheduleLaterRequested {{ request {{ {FIELDS} }} }}
  ... on NotEligible {{ message reason }} ... on InvalidInput {{ message field }}
  ... on NotFound {{ message }} }} }}"""
ASSIGN = f"""mutation($input: AssignScheduleRequestInput!) {{
  assignScheduleRequest(input: $input) {{
  __typename ... on ScheduleRequestAssigned {{ request {{ {FIELDS} }} }}
  ... on NotEligible {{ message reason }} ... on PolicyViolation {{ message policy }}
  ... on NotFound {{ message }} }} }}"""
WITHDRAW = f"""mutation($id: ID!) {{ withdrawScheduleRequest(id: $id) {{
  __typename ... on ScheduleRequestWithdrawn {{ request {{ {FIELDS} }} }}
  ... on PolicyViolation {{ message policy }} ... on NotFound {{ message }} }} }}"""
LIST = """query($filter: ScheduleRequestFilter, $first: Int, $after: String) {
  scheduleRequests(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id status student { email } } } } }"""
NODE = "query($id: ID!) { node(id: $id) { id ... on ScheduleRequest { status } } }"
NODE_FIELDS = f"query($id: ID!) {{ node(id: $id) {{ ... on ScheduleRequest {{ {FIELDS} }} }} }}"
MINE = "{ viewer { scheduleRequests { id status service { id } } } }"
ENROLL = """mutation($input: EnrollStudentInput!) { enrollStudent(input: $input) {
  __typename } }"""


@dataclass
class Studio:
    """Ada owns it and Dee administers it; Bob and Cy teach its Course, Max (a member) does
    not; Eve works alone, with her own Lesson."""

    ada: Tutor
    dee: Tutor
    bob: Tutor
    cy: Tutor
    max: Tutor
    eve: Tutor
    course: str
    lesson: str


async def studio(gql: GraphQLClient) -> Studio:
    names = ("ada", "dee", "bob", "cy", "max", "eve")
    ada, dee, bob, cy, max_, eve = [await make_tutor(gql, n) for n in names]
    studio_id = await organization(gql, ada, bob, cy, max_)
    await join(gql, studio_id, ada, dee, "ADMIN")
    course = await ada.service(title="Course", organizationId=studio_id, tutorIds=[bob.id, cy.id])
    lesson = await eve.service(title="Lesson")
    return Studio(ada, dee, bob, cy, max_, eve, course["service"]["id"], lesson["service"]["id"])


async def ask(gql: GraphQLClient, who: str | None, **input: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await gql(REQUEST, {"input": input}, who))["requestScheduleLater"]
    return result


async def assign(gql: GraphQLClient, who: Tutor | str, request: str, tutor: str) -> dict[str, Any]:
    caller = who.token if isinstance(who, Tutor) else who
    variables = {"input": {"requestId": request, "tutorId": tutor}}
    result: dict[str, Any] = (await gql(ASSIGN, variables, caller))["assignScheduleRequest"]
    return result


async def withdraw(gql: GraphQLClient, who: str, request: str) -> dict[str, Any]:
    result: dict[str, Any] = (await gql(WITHDRAW, {"id": request}, who))["withdrawScheduleRequest"]
    return result


async def listed(gql: GraphQLClient, who: str, **variables: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await gql(LIST, variables, who))["scheduleRequests"]
    return result


async def status(gql: GraphQLClient, who: str, request: str) -> str | None:
    node = (await gql(NODE, {"id": request}, who))["node"]
    return None if node is None else str(node["status"])


async def open_request(gql: GraphQLClient, who: str, service: str, **input: Any) -> str:
    asked = await ask(gql, who, serviceId=service, **input)
    assert asked["__typename"] == "ScheduleLaterRequested", asked
    return str(asked["request"]["id"])


# ---------------------------------------------------------------- the whole way


async def test_a_student_asks_a_tutor_takes_it_and_the_students_booking_fulfils_it(
    gql: GraphQLClient, background: Background, inbox: Inbox, mail_settings: Settings
) -> None:
    s = await studio(gql)
    asked = await ask(gql, SAM, serviceId=s.course, note="  Evenings suit me  ")
    assert asked["__typename"] == "ScheduleLaterRequested", asked
    request = asked["request"]
    assert (request["status"], request["note"], request["tutor"], request["booking"]) == (
        "OPEN",
        "Evenings suit me",
        None,
        None,
    )
    assert request["service"] == {"id": s.course, "title": "Course"}
    assert request["student"] == {"email": "sam@example.com"}
    mine = (await gql(MINE, token=SAM))["viewer"]["scheduleRequests"]
    assert mine == [{"id": request["id"], "status": "OPEN", "service": {"id": s.course}}]

    taken = await assign(gql, s.bob, request["id"], s.bob.id)
    assert taken["__typename"] == "ScheduleRequestAssigned", taken
    assert (taken["request"]["status"], taken["request"]["tutor"]) == ("ASSIGNED", {"id": s.bob.id})

    await background.run()
    [mail] = inbox.to("sam@example.com")
    assert mail.subject == "Book Course with Bob"
    link = f"{mail_settings.public_base_url}/book/{s.course}?tutor={s.bob.id}"
    assert link in mail.text
    assert "Bob will take it" in mail.text

    booked = await book(gql, SAM, serviceId=s.course, tutorId=s.bob.id, start=at(monday(3), 10))
    assert booked["__typename"] == "BookingCreated", booked
    seen = (await gql(NODE_FIELDS, {"id": request["id"]}, SAM))["node"]
    assert seen["status"] == "BOOKED"
    assert seen["booking"] == {"id": booked["booking"]["id"], "tutor": {"id": s.bob.id}}
    assert (await gql(MINE, token=SAM))["viewer"]["scheduleRequests"] == []
    await background.run()
    assert len(inbox.to("sam@example.com")) == 2  # the assignment, then the booking's


# ---------------------------------------------------------------- asking


async def test_asking_needs_a_signed_in_student_and_a_service_they_may_book(
    gql: GraphQLClient, db: Database
) -> None:
    s = await studio(gql)
    anonymous = await gql.error(REQUEST, {"input": {"serviceId": s.course}})
    assert anonymous["extensions"]["code"] == "UNAUTHENTICATED"
    for query, variables in (
        (LIST, {}),
        (ASSIGN, {"input": {"requestId": "x", "tutorId": s.bob.id}}),
        (WITHDRAW, {"id": "x"}),
    ):
        refused = await gql.error(query, variables)
        assert refused["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await gql(MINE))["viewer"]["scheduleRequests"] == []

    # The enrollment rule, as booking the service applies it.
    course = (await s.eve.service(title="Closed course", enrollmentRequired=True))["service"]
    refused = await ask(gql, SAM, serviceId=course["id"])
    assert (refused["__typename"], refused["reason"]) == ("NotEligible", "NOT_ENROLLED")
    booking = await book(gql, SAM, serviceId=course["id"], start=at(monday(3), 10))
    assert (booking["__typename"], booking["reason"]) == ("NotEligible", "NOT_ENROLLED")
    sam = await stored_student(db, SAM)
    enrolled = await gql(
        ENROLL, {"input": {"serviceId": course["id"], "studentId": sam}}, s.eve.token
    )
    assert enrolled["enrollStudent"]["__typename"] == "StudentEnrolled"
    assert (await ask(gql, SAM, serviceId=course["id"]))["__typename"] == "ScheduleLaterRequested"


async def test_the_tutor_asked_for_must_teach_the_service_and_input_is_checked(
    gql: GraphQLClient,
) -> None:
    s = await studio(gql)
    wrong = await ask(gql, SAM, serviceId=s.course, tutorId=s.eve.id)
    assert (wrong["__typename"], wrong["reason"]) == ("NotEligible", "NOT_OFFERED_BY_TUTOR")
    nobody = await ask(gql, SAM, serviceId=s.course, tutorId=s.lesson)  # a Service's id
    assert (nobody["__typename"], nobody["field"]) == ("InvalidInput", "input.tutorId")
    gone = "VHV0b3I6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw"  # Tutor:0000…
    assert (await ask(gql, SAM, serviceId=s.course, tutorId=gone))["__typename"] == "NotFound"
    missing = await ask(gql, SAM, serviceId=s.bob.id)  # a Tutor's id
    assert (missing["__typename"], missing["field"]) == ("InvalidInput", "input.serviceId")
    long = await ask(gql, SAM, serviceId=s.course, note="x" * 2001)
    assert (long["__typename"], long["field"]) == ("InvalidInput", "input.note")

    preferred = await ask(gql, SAM, serviceId=s.course, tutorId=s.cy.id, note=" ")
    assert preferred["__typename"] == "ScheduleLaterRequested"
    assert (preferred["request"]["tutor"], preferred["request"]["note"]) == ({"id": s.cy.id}, None)


async def test_one_open_or_assigned_request_per_student_and_service_even_at_once(
    gql: GraphQLClient,
) -> None:
    s = await studio(gql)
    results = await asyncio.gather(*(ask(gql, SAM, serviceId=s.course) for _ in range(6)))
    outcomes = Counter(r["__typename"] for r in results)
    assert outcomes == {"ScheduleLaterRequested": 1, "InvalidInput": 5}
    [first] = [r["request"]["id"] for r in results if r["__typename"] == "ScheduleLaterRequested"]
    assert {r["field"] for r in results if r["__typename"] == "InvalidInput"} == {"input.serviceId"}

    # Assigned still counts; another service or another student does not.
    assert (await assign(gql, s.cy, first, s.cy.id))["__typename"] == "ScheduleRequestAssigned"
    assert (await ask(gql, SAM, serviceId=s.course))["__typename"] == "InvalidInput"
    await open_request(gql, SAM, s.lesson)
    await open_request(gql, KIM, s.course)
    # Once withdrawn (or booked), the student may ask again.
    assert (await withdraw(gql, SAM, first))["__typename"] == "ScheduleRequestWithdrawn"
    await open_request(gql, SAM, s.course)


# ---------------------------------------------------------------- who sees what


async def test_the_student_the_services_tutors_and_the_organizations_managers_see_it(
    gql: GraphQLClient,
) -> None:
    s = await studio(gql)
    request = await open_request(gql, SAM, s.course)
    eves = await open_request(gql, KIM, s.lesson)
    seers = {"sam": SAM, "bob": s.bob.token, "cy": s.cy.token, "ada": s.ada.token}
    seers["dee"] = s.dee.token
    others = {"kim": KIM, "max": s.max.token, "eve": s.eve.token}
    for name, who in seers.items():
        assert await status(gql, who, request) == "OPEN", name
        ids = [e["node"]["id"] for e in (await listed(gql, who))["edges"]]
        assert ids == [request], name
    for name, who in others.items():
        assert await status(gql, who, request) is None, name
        assert request not in [e["node"]["id"] for e in (await listed(gql, who))["edges"]]
    assert [e["node"]["id"] for e in (await listed(gql, s.eve.token))["edges"]] == [eves]
    assert (await gql(MINE, token=KIM))["viewer"]["scheduleRequests"][0]["id"] == eves

    # Assigned to Bob: Cy, who teaches the service too, no longer sees it.
    assert (await assign(gql, s.bob, request, s.bob.id))["__typename"] == "ScheduleRequestAssigned"
    for name, who in seers.items():
        assert await status(gql, who, request) == ("ASSIGNED" if name != "cy" else None), name
    # Withdrawn: the student and the tutor it was assigned to (and their managers) still see it.
    assert (await withdraw(gql, SAM, request))["__typename"] == "ScheduleRequestWithdrawn"
    assert await status(gql, s.bob.token, request) == "WITHDRAWN"
    assert await status(gql, s.ada.token, request) == "WITHDRAWN"
    assert await status(gql, SAM, request) == "WITHDRAWN"
    assert await status(gql, s.cy.token, request) is None
    assert (await gql(MINE, token=SAM))["viewer"]["scheduleRequests"] == []


async def test_the_list_pages_filters_and_loads_its_fields_in_batches(
    gql: GraphQLClient, db: Database
) -> None:
    s = await studio(gql)
    made = [await open_request(gql, token(f"student-{i}"), s.course) for i in range(5)]
    await assign(gql, s.ada, made[1], s.cy.id)
    await assign(gql, s.ada, made[3], s.bob.id)

    page = await listed(gql, s.ada.token, first=2)
    assert page["totalCount"] == 5
    assert [e["node"]["id"] for e in page["edges"]] == made[:2]  # oldest first
    assert page["pageInfo"]["hasNextPage"] and not page["pageInfo"]["hasPreviousPage"]
    rest = await listed(gql, s.ada.token, first=10, after=page["pageInfo"]["endCursor"])
    assert [e["node"]["id"] for e in rest["edges"]] == made[2:]
    assert rest["pageInfo"]["hasPreviousPage"] and not rest["pageInfo"]["hasNextPage"]

    assigned = await listed(gql, s.ada.token, filter={"status": ["ASSIGNED"]})
    assert [e["node"]["id"] for e in assigned["edges"]] == [made[1], made[3]]
    assert (await listed(gql, s.ada.token, filter={"serviceId": s.lesson}))["totalCount"] == 0
    # Cy: the open ones of her service and the one assigned to her.
    assert (await listed(gql, s.cy.token))["totalCount"] == 4

    for variables in ({"first": 0}, {"first": 101}, {"after": "junk"}):
        refused = await gql.error(LIST, variables, s.ada.token)
        assert refused["extensions"]["code"] == "BAD_USER_INPUT", variables
    bad_filter = await gql.error(LIST, {"filter": {"serviceId": "junk"}}, s.ada.token)
    assert bad_filter["extensions"]["field"] == "filter.serviceId"

    # Nested fields load in batches: the same statements for 2 requests as for 5.
    nested = """query($first: Int) { scheduleRequests(first: $first) { edges { node {
      service { id } student { email } tutor { id } booking { id } } } } }"""
    counts = []
    for first in (2, 5):
        with count_statements(db) as statements:
            await gql(nested, {"first": first}, s.ada.token)
        counts.append(len(statements))
    assert counts[0] == counts[1]


# ---------------------------------------------------------------- assigning


async def test_tutors_assign_themselves_and_owners_and_admins_assign_members(
    gql: GraphQLClient,
) -> None:
    s = await studio(gql)
    request = await open_request(gql, SAM, s.course)
    # Cy may take it herself, not give it to Bob; the student may not assign at all.
    for who in (s.cy.token, SAM):
        refused = await gql.error(
            ASSIGN, {"input": {"requestId": request, "tutorId": s.bob.id}}, who
        )
        assert refused["extensions"]["code"] == "FORBIDDEN"
    # Eve, Max and Kim do not see it at all.
    for who in (s.eve.token, s.max.token, KIM):
        assert (await assign(gql, who, request, s.bob.id))["__typename"] == "NotFound"
    # The owner gives it only to a member who teaches the service.
    not_teaching = await assign(gql, s.ada, request, s.max.id)
    assert (not_teaching["__typename"], not_teaching["reason"]) == (
        "NotEligible",
        "NOT_OFFERED_BY_TUTOR",
    )
    outsider = await gql.error(
        ASSIGN, {"input": {"requestId": request, "tutorId": s.eve.id}}, s.ada.token
    )
    assert outsider["extensions"]["code"] == "FORBIDDEN"
    assert (await assign(gql, s.ada, request, "junk"))["__typename"] == "NotFound"
    assert (await assign(gql, s.ada, "junk", s.cy.id))["__typename"] == "NotFound"

    given = await assign(gql, s.ada, request, s.cy.id)
    assert (given["__typename"], given["request"]["tutor"]) == (
        "ScheduleRequestAssigned",
        {"id": s.cy.id},
    )
    # An admin gives it to another member; then Cy no longer sees it.
    again = await assign(gql, s.dee, request, s.bob.id)
    assert again["request"]["tutor"] == {"id": s.bob.id}
    assert (await assign(gql, s.cy, request, s.cy.id))["__typename"] == "NotFound"


async def test_only_the_latest_assignment_is_emailed_and_none_once_withdrawn(
    gql: GraphQLClient, background: Background, inbox: Inbox, mail_settings: Settings
) -> None:
    s = await studio(gql)
    request = await open_request(gql, SAM, s.course)
    await assign(gql, s.ada, request, s.cy.id)
    await assign(gql, s.ada, request, s.bob.id)
    await background.run()
    [mail] = inbox.to("sam@example.com")
    assert f"{mail_settings.public_base_url}/book/{s.course}?tutor={s.bob.id}" in mail.text
    assert f'href="{mail_settings.public_base_url}/book/{s.course}?tutor={s.bob.id}"' in mail.html

    other = await open_request(gql, KIM, s.course)
    await assign(gql, s.cy, other, s.cy.id)
    await withdraw(gql, KIM, other)
    await background.run()
    assert inbox.to("kim@example.com") == []


# ---------------------------------------------------------------- withdrawing, invalid changes


async def test_only_the_student_withdraws_and_finished_requests_do_not_change(
    gql: GraphQLClient,
) -> None:
    s = await studio(gql)
    request = await open_request(gql, SAM, s.course)
    await assign(gql, s.bob, request, s.bob.id)
    refused = await gql.error(WITHDRAW, {"id": request}, s.bob.token)  # sees it, may not
    assert refused["extensions"]["code"] == "FORBIDDEN"
    for stranger in (KIM, s.eve.token, s.cy.token):
        assert (await withdraw(gql, stranger, request))["__typename"] == "NotFound"
    assert (await withdraw(gql, SAM, "junk"))["__typename"] == "NotFound"

    gone = await withdraw(gql, SAM, request)
    assert (gone["__typename"], gone["request"]["status"]) == (
        "ScheduleRequestWithdrawn",
        "WITHDRAWN",
    )
    for change in (withdraw(gql, SAM, request), assign(gql, s.bob, request, s.bob.id)):
        again = await change
        assert (again["__typename"], again["policy"]) == ("PolicyViolation", "INVALID_TRANSITION")

    booked = await open_request(gql, SAM, s.course)
    made = await book(gql, SAM, serviceId=s.course, tutorId=s.bob.id, start=at(monday(3), 10))
    assert made["__typename"] == "BookingCreated"
    assert await status(gql, SAM, booked) == "BOOKED"
    for change in (withdraw(gql, SAM, booked), assign(gql, s.bob, booked, s.bob.id)):
        again = await change
        assert (again["__typename"], again["policy"]) == ("PolicyViolation", "INVALID_TRANSITION")


# ---------------------------------------------------------------- the booking that fulfils it


async def test_any_tutors_booking_fulfils_an_open_request_the_assigned_tutors_an_assigned_one(
    gql: GraphQLClient,
) -> None:
    s = await studio(gql)
    open_one = await open_request(gql, SAM, s.course, tutorId=s.bob.id)
    with_cy = await book(gql, SAM, serviceId=s.course, tutorId=s.cy.id, start=at(monday(3), 9))
    seen = (await gql(NODE_FIELDS, {"id": open_one}, SAM))["node"]
    assert (seen["status"], seen["tutor"], seen["booking"]["id"]) == (
        "BOOKED",
        {"id": s.cy.id},
        with_cy["booking"]["id"],
    )
    # A later booking leaves it as it is.
    await book(gql, SAM, serviceId=s.course, tutorId=s.bob.id, start=at(monday(3), 11))
    assert (await gql(NODE_FIELDS, {"id": open_one}, SAM))["node"] == seen

    assigned = await open_request(gql, KIM, s.course)
    await assign(gql, s.bob, assigned, s.bob.id)
    # Another service, another tutor, a guest with Kim's email: none of them fulfils it.
    await book(gql, KIM, serviceId=s.lesson, start=at(monday(3), 9))
    await book(gql, KIM, serviceId=s.course, tutorId=s.cy.id, start=at(monday(3), 10))
    guest = {"name": "Kim", "email": "kim@example.com"}
    await book(
        gql, None, serviceId=s.course, tutorId=s.bob.id, guest=guest, start=at(monday(3), 12)
    )
    assert await status(gql, KIM, assigned) == "ASSIGNED"
    with_bob = await book(gql, KIM, serviceId=s.course, tutorId=s.bob.id, start=at(monday(3), 14))
    assert with_bob["__typename"] == "BookingCreated", with_bob
    seen = (await gql(NODE_FIELDS, {"id": assigned}, s.bob.token))["node"]
    assert (seen["status"], seen["booking"]["id"]) == ("BOOKED", with_bob["booking"]["id"])
    # The tutor who was booked sees it BOOKED, with its booking; Cy does not see it.
    assert await status(gql, s.cy.token, assigned) is None


async def test_a_failed_booking_leaves_the_request_open(gql: GraphQLClient) -> None:
    s = await studio(gql)
    request = await open_request(gql, SAM, s.course)
    first = await book(gql, KIM, serviceId=s.course, tutorId=s.bob.id, start=at(monday(3), 10))
    assert first["__typename"] == "BookingCreated"
    taken = await book(gql, SAM, serviceId=s.course, tutorId=s.bob.id, start=at(monday(3), 10))
    assert taken["__typename"] == "SlotUnavailable"
    assert await status(gql, SAM, request) == "OPEN"


async def test_a_tutors_booking_for_the_student_fulfils_it_too(
    gql: GraphQLClient, db: Database
) -> None:
    s = await studio(gql)
    request = await open_request(gql, SAM, s.course)
    sam = await stored_student(db, SAM)
    made = await book(
        gql, s.cy.token, serviceId=s.course, tutorId=s.cy.id, studentId=sam, start=at(monday(3), 9)
    )
    assert made["__typename"] == "BookingCreated", made
    seen = (await gql(NODE_FIELDS, {"id": request}, SAM))["node"]
    assert (seen["status"], seen["booking"]["id"]) == ("BOOKED", made["booking"]["id"])
