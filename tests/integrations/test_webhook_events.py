"""The webhook events of other features: a check-in form submitted (FORM_SUBMITTED, with its
answers) and a schedule-later request made (SCHEDULE_REQUEST_CREATED, to the tutor asked for or
else to every tutor of the service, an organization's endpoint once)."""

from __future__ import annotations

from tests.bookings.test_forms import FORM_INPUT, GOOD, answers, asked, book, shown
from tests.fakes.webhook_receiver import FakeReceiver
from tests.helpers import Background, GraphQLClient, at, monday, setup_lessons, token
from tests.integrations.test_webhooks import hook
from tests.requests.test_schedule_later import open_request, studio


async def test_a_submitted_form_is_posted_with_its_answers(
    hook_gql: GraphQLClient, receiver: FakeReceiver, deliveries: Background
) -> None:
    ada, service, sam = await setup_lessons(hook_gql)
    await hook(hook_gql, receiver, ada, "/forms", ["FORM_SUBMITTED"])
    questions = await asked(hook_gql, ada, service)
    # Required answers missing: PENDING, nothing posted.
    pending = await book(
        hook_gql,
        sam,
        serviceId=service,
        tutorId=ada.id,
        start=at(monday(), 9),
        answers=answers(questions, None, ["Later"]),
    )
    assert pending["booking"]["formStatus"] == "PENDING", pending
    done = await book(
        hook_gql,
        sam,
        serviceId=service,
        tutorId=ada.id,
        start=at(monday(), 11),
        answers=answers(questions, *GOOD),
    )
    assert done["booking"]["formStatus"] == "SUBMITTED", done
    await deliveries.run()

    [got] = receiver.at("/forms")
    assert got.error is None and got.type == "form.submitted"
    assert got.payload is not None
    data = got.payload["data"]
    assert data["booking"]["id"] == done["booking"]["id"]
    # What the API shows of the answers (cleaned, in the form's order), and nothing else.
    expected = shown(done["booking"])
    assert [(a["prompt"], a["values"]) for a in data["answers"]] == expected
    assert len(expected) == len(FORM_INPUT)


async def test_a_schedule_later_request_reaches_the_services_tutors_once_each(
    hook_gql: GraphQLClient, receiver: FakeReceiver, deliveries: Background
) -> None:
    s = await studio(hook_gql)
    await hook(hook_gql, receiver, s.bob, "/bob", ["SCHEDULE_REQUEST_CREATED"])
    await hook(hook_gql, receiver, s.cy, "/cy", ["SCHEDULE_REQUEST_CREATED"])
    await hook(hook_gql, receiver, s.max, "/max", ["SCHEDULE_REQUEST_CREATED"])
    organization = await hook_gql("{ viewer { tutor { organization { id } } } }", None, s.ada.token)
    studio_id = organization["viewer"]["tutor"]["organization"]["id"]
    await hook(
        hook_gql,
        receiver,
        s.ada,
        "/studio",
        ["SCHEDULE_REQUEST_CREATED"],
        organizationId=studio_id,
    )
    sam, kim = token("sam"), token("kim")
    anyone = await open_request(hook_gql, sam, s.course, note="Evenings")
    asked_cy = await open_request(hook_gql, kim, s.course, tutorId=s.cy.id)
    await deliveries.run()

    def requests(path: str) -> list[str]:
        found = []
        for r in receiver.at(path):
            assert r.error is None and r.type == "schedule_request.created"
            assert r.payload is not None
            found.append(r.payload["data"]["scheduleRequest"]["id"])
        return found

    assert requests("/bob") == [anyone]  # not the one asking for Cy
    assert sorted(requests("/cy")) == sorted([anyone, asked_cy])
    assert requests("/max") == []  # a member who does not teach the course
    # Once each, though two members hear the first.
    assert sorted(requests("/studio")) == sorted([anyone, asked_cy])
