"""Outgoing webhooks, end to end: endpoints made through the API, bookings that cause events,
background work that POSTs them to a local receiver which verifies each signature with
`standardwebhooks`; retries, order, pings, deactivation, the secret at rest, organizations,
visibility and input checks. (Refused targets: test_webhook_ssrf.py.)"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import text

from domain.outbox import backoff
from infra.db import Database
from infra.settings import Settings
from tests.conftest import ATTEMPTS, TIMEOUT
from tests.fakes.smtp_server import Inbox, Received
from tests.fakes.webhook_receiver import SLOW, FakeReceiver
from tests.helpers import (
    ADA,
    CANCEL,
    CLOCK,
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
    setup_lessons,
    token,
)

BOOKING_EVENTS = [
    "BOOKING_CREATED",
    "BOOKING_CONFIRMED",
    "BOOKING_RESCHEDULED",
    "BOOKING_CANCELLED",
    "BOOKING_COMPLETED",
    "BOOKING_NO_SHOW",
    "BOOKING_EXPIRED",
]
CREATE_HOOK = """mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) {
    __typename
    ... on WebhookEndpointCreated { secret endpoint { id url events active createdAt } }
    ... on InvalidInput { message field }
    ... on NotFound { message } } }"""
DELIVERY = "id eventType status attempts responseStatus error createdAt deliveredAt"
ENDPOINT = f"""query($id: ID!) {{ node(id: $id) {{ ... on WebhookEndpoint {{
  id url active deliveries(first: 50) {{ {DELIVERY} }} }} }} }}"""
PING = f"""mutation($id: ID!) {{ pingWebhookEndpoint(id: $id) {{
  __typename ... on WebhookPinged {{ delivery {{ {DELIVERY} }} }}
  ... on NotFound {{ message }} }} }}"""
DELETE = """mutation($id: ID!) { deleteWebhookEndpoint(id: $id) {
  __typename ... on WebhookEndpointDeleted { id } ... on NotFound { message } } }"""
REMOVE = """mutation($input: RemoveMemberInput!) { removeMember(input: $input) { __typename } }"""
TUTOR_HOOKS = """query($id: ID!) { tutor(id: $id) { webhookEndpoints { id url } } }"""


async def create_hook(
    gql: GraphQLClient, tutor: Tutor, url: str, events: list[str] | None = None, **input: Any
) -> dict[str, Any]:
    variables = {
        "input": {"url": url, "events": BOOKING_EVENTS if events is None else events, **input}
    }
    result: dict[str, Any] = (await gql(CREATE_HOOK, variables, tutor.token))[
        "createWebhookEndpoint"
    ]
    return result


async def hook(
    gql: GraphQLClient,
    receiver: FakeReceiver,
    tutor: Tutor,
    path: str,
    events: list[str] | None = None,
    **input: Any,
) -> str:
    """An endpoint at the receiver's `path`, its secret registered there: its global id."""
    made = await create_hook(gql, tutor, receiver.url(path), events, **input)
    assert made["__typename"] == "WebhookEndpointCreated", made
    receiver.secrets[path] = made["secret"]
    endpoint_id: str = made["endpoint"]["id"]
    return endpoint_id


async def endpoint(gql: GraphQLClient, tutor: Tutor, endpoint_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (await gql(ENDPOINT, {"id": endpoint_id}, tutor.token))["node"]
    return found


async def test_a_booking_is_posted_signed_and_the_receiver_verifies_it(
    hook_gql: GraphQLClient, receiver: FakeReceiver, deliveries: Background
) -> None:
    ada, service, sam = await setup_lessons(hook_gql)
    endpoint_id = await hook(hook_gql, receiver, ada, "/ada")
    await hook(hook_gql, receiver, ada, "/cancellations", ["BOOKING_CANCELLED"])
    made = await book(hook_gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    booking = made["booking"]

    # Written with the booking, before anything is sent.
    pending = (await endpoint(hook_gql, ada, endpoint_id))["deliveries"]
    assert [(d["eventType"], d["status"], d["attempts"]) for d in pending] == [
        ("BOOKING_CONFIRMED", "PENDING", 0),
        ("BOOKING_CREATED", "PENDING", 0),
    ]
    await deliveries.run()

    got = receiver.at("/ada")
    assert [r.error for r in got] == [None, None]  # both signatures verified
    assert [r.type for r in got] == ["booking.created", "booking.confirmed"]
    assert receiver.at("/cancellations") == []  # not subscribed to these
    payload = got[0].payload
    assert payload is not None
    assert payload["timestamp"].endswith("Z")
    assert payload["data"] == {
        "booking": {
            "id": booking["id"],
            "status": "CONFIRMED",
            "start": at(monday(), 9).replace("+00:00", "Z"),
            "end": at(monday(), 10).replace("+00:00", "Z"),
            "durationMinutes": 60,
            "cancellationReason": None,
            "tutor": {"id": ada.id, "name": "Ada"},
            "service": {"id": service, "title": "Piano"},
            "student": {"id": booking["student"]["id"], "name": "Sam", "email": "sam@example.com"},
        }
    }
    shown = (await endpoint(hook_gql, ada, endpoint_id))["deliveries"]
    assert [d["id"] for d in shown] == [r.id for r in reversed(got)]  # newest first
    assert all(d["id"].startswith("msg_") for d in shown)
    assert [(d["status"], d["attempts"], d["responseStatus"], d["error"]) for d in shown] == [
        ("DELIVERED", 1, 204, None)
    ] * 2
    assert all(d["deliveredAt"] is not None for d in shown)


async def test_a_500_and_a_timeout_are_retried_with_the_same_id_then_the_delivery_fails(
    hook_gql: GraphQLClient, receiver: FakeReceiver, deliveries: Background
) -> None:
    ada, service, sam = await setup_lessons(hook_gql)
    endpoint_id = await hook(hook_gql, receiver, ada, "/ada", ["BOOKING_CREATED"])
    receiver.answer("/ada", 500, SLOW, 503)
    await book(hook_gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))

    start = CLOCK()
    await deliveries.run(start)
    [shown] = (await endpoint(hook_gql, ada, endpoint_id))["deliveries"]
    assert (shown["status"], shown["attempts"], shown["responseStatus"]) == ("PENDING", 1, 500)
    assert shown["error"].startswith("HTTP 500")
    assert len(shown["error"]) <= 300  # the receiver said 100 KB; a little is kept

    await deliveries.run(start + backoff(1) - timedelta(seconds=1))
    assert len(receiver.at("/ada")) == 1  # not before its backoff
    await deliveries.run(start + backoff(1))
    [shown] = (await endpoint(hook_gql, ada, endpoint_id))["deliveries"]
    assert (shown["status"], shown["attempts"]) == ("PENDING", 2)
    assert (shown["responseStatus"], shown["error"]) == (None, f"no answer within {TIMEOUT:g} s")

    await deliveries.run(start + backoff(1) + backoff(2))
    got = receiver.at("/ada")
    assert len(got) == ATTEMPTS
    assert len({r.id for r in got}) == 1  # the same webhook-id every time
    assert len({r.body for r in got}) == 1
    assert [r.error for r in got] == [None] * ATTEMPTS
    [shown] = (await endpoint(hook_gql, ada, endpoint_id))["deliveries"]
    assert (shown["id"], shown["status"], shown["attempts"]) == (got[0].id, "FAILED", ATTEMPTS)
    assert shown["responseStatus"] == 503
    assert shown["deliveredAt"] is None
    await deliveries.run(start + timedelta(days=1))
    assert len(receiver.at("/ada")) == ATTEMPTS  # given up


async def test_a_retry_that_succeeds_delivers_and_redirects_are_not_followed(
    hook_gql: GraphQLClient, receiver: FakeReceiver, deliveries: Background
) -> None:
    ada, service, sam = await setup_lessons(hook_gql)
    endpoint_id = await hook(hook_gql, receiver, ada, "/ada", ["BOOKING_CREATED"])
    receiver.answer("/ada", 307)
    await book(hook_gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    start = CLOCK()
    await deliveries.run(start)
    assert [r.path for r in receiver.received] == ["/ada"]  # not /ada/moved
    await deliveries.run(start + backoff(1))
    [shown] = (await endpoint(hook_gql, ada, endpoint_id))["deliveries"]
    assert (shown["status"], shown["attempts"], shown["responseStatus"], shown["error"]) == (
        "DELIVERED",
        2,
        204,
        None,
    )


async def test_one_bookings_events_arrive_in_the_order_they_happened(
    hook_gql: GraphQLClient, receiver: FakeReceiver, deliveries: Background
) -> None:
    ada, service, sam = await setup_lessons(hook_gql)
    endpoint_id = await hook(hook_gql, receiver, ada, "/ada")
    first = await book(hook_gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    cancel = {"bookingId": first["booking"]["id"], "reason": "ill"}
    cancelled = (await hook_gql(CANCEL, {"input": cancel}, sam))["cancelBooking"]
    assert cancelled["__typename"] == "BookingCancelled"
    receiver.answer("/ada", 500)  # the booking's first event fails once

    start = CLOCK()
    await deliveries.run(start)
    # Its later events wait for the first.
    assert [r.type for r in receiver.at("/ada")] == ["booking.created"]
    waiting = (await endpoint(hook_gql, ada, endpoint_id))["deliveries"]
    assert [(d["eventType"], d["status"], d["attempts"]) for d in waiting] == [
        ("BOOKING_CANCELLED", "PENDING", 0),
        ("BOOKING_CONFIRMED", "PENDING", 0),
        ("BOOKING_CREATED", "PENDING", 1),
    ]
    # Another booking's events do not wait for them.
    second = await book(hook_gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 11))
    await deliveries.run(start + timedelta(seconds=1))
    one, two = first["booking"]["id"], second["booking"]["id"]

    await deliveries.run(start + backoff(1))
    got = receiver.at("/ada")
    assert [r.error for r in got] == [None] * 6
    sent = [(r.type, r.payload["data"]["booking"]["id"]) for r in got if r.payload]
    assert sent == [
        ("booking.created", one),
        ("booking.created", two),
        ("booking.confirmed", two),
        ("booking.created", one),
        ("booking.confirmed", one),
        ("booking.cancelled", one),
    ]
    last = got[-1].payload
    assert last is not None
    assert last["data"]["booking"]["status"] == "CANCELLED"
    assert last["data"]["booking"]["cancellationReason"] == "ill"
    shown = (await endpoint(hook_gql, ada, endpoint_id))["deliveries"]
    assert {d["status"] for d in shown} == {"DELIVERED"}


async def test_ping_sends_a_ping_now(
    hook_gql: GraphQLClient, receiver: FakeReceiver, deliveries: Background
) -> None:
    ada = await make_tutor(hook_gql, "ada")
    eve = await make_tutor(hook_gql, "eve")
    endpoint_id = await hook(hook_gql, receiver, ada, "/ada")
    pinged = (await hook_gql(PING, {"id": endpoint_id}, ada.token))["pingWebhookEndpoint"]
    assert pinged["__typename"] == "WebhookPinged"
    delivery = pinged["delivery"]
    assert (delivery["eventType"], delivery["status"], delivery["attempts"]) == (
        "PING",
        "PENDING",
        0,
    )
    others = (await hook_gql(PING, {"id": endpoint_id}, eve.token))["pingWebhookEndpoint"]
    assert others["__typename"] == "NotFound"

    await deliveries.run()
    [got] = receiver.at("/ada")
    assert (got.error, got.id, got.type) == (None, delivery["id"], "ping")
    assert got.payload is not None
    assert got.payload["data"] == {"endpoint": {"id": endpoint_id}}
    [shown] = (await endpoint(hook_gql, ada, endpoint_id))["deliveries"]
    assert (shown["id"], shown["status"]) == (delivery["id"], "DELIVERED")


def notices(inbox: Inbox) -> list[Received]:
    return [m for m in inbox.to(ADA) if m.subject == "Your webhook endpoint was deactivated"]


async def test_an_endpoint_failing_for_three_days_is_deactivated_and_its_owner_emailed(
    hook_gql: GraphQLClient,
    receiver: FakeReceiver,
    deliveries: Background,
    inbox: Inbox,
    db: Database,
) -> None:
    ada, service, sam = await setup_lessons(hook_gql)
    endpoint_id = await hook(hook_gql, receiver, ada, "/ada", ["BOOKING_CREATED"])
    receiver.answer("/ada", *[500] * 10)
    await book(hook_gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    start = CLOCK()
    await deliveries.run(start)  # failing since now
    await deliveries.run(start + timedelta(days=3) - timedelta(minutes=1))
    assert (await endpoint(hook_gql, ada, endpoint_id))["active"] is True
    assert notices(inbox) == []

    await book(hook_gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 11))
    await deliveries.run(start + timedelta(days=3))
    found = await endpoint(hook_gql, ada, endpoint_id)
    assert found["active"] is False
    [mail] = notices(inbox)
    assert receiver.url("/ada") in mail.text

    # No new deliveries are written; the ones on their way are not sent.
    before = len(found["deliveries"])
    await book(hook_gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 13))
    await deliveries.run(start + timedelta(days=4))
    found = await endpoint(hook_gql, ada, endpoint_id)
    assert len(found["deliveries"]) == before
    assert found["deliveries"][0]["error"] == "not sent: the endpoint is deactivated"
    assert len(notices(inbox)) == 1

    # Fixed: a delivered ping turns it back on.
    receiver.answers.clear()
    await hook_gql(PING, {"id": endpoint_id}, ada.token)
    await deliveries.run(start + timedelta(days=4))
    assert (await endpoint(hook_gql, ada, endpoint_id))["active"] is True
    async with db.engine.connect() as connection:
        [since] = await connection.execute(text("SELECT failing_since FROM webhook_endpoints"))
    assert since[0] is None


async def test_a_success_in_between_starts_the_three_days_again(
    hook_gql: GraphQLClient, receiver: FakeReceiver, deliveries: Background
) -> None:
    ada, service, sam = await setup_lessons(hook_gql)
    endpoint_id = await hook(hook_gql, receiver, ada, "/ada", ["BOOKING_CREATED"])
    receiver.answer("/ada", 500, 204, 500)
    await book(hook_gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    start = CLOCK()
    await deliveries.run(start)
    await deliveries.run(start + timedelta(days=2))  # the retry is delivered
    await book(hook_gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 11))
    await deliveries.run(start + timedelta(days=3, hours=1))  # fails: failing for an instant
    assert (await endpoint(hook_gql, ada, endpoint_id))["active"] is True


async def test_the_secret_is_stored_encrypted(
    hook_gql: GraphQLClient, db: Database, hook_settings: Settings, receiver: FakeReceiver
) -> None:
    ada = await make_tutor(hook_gql, "ada")
    made = await create_hook(hook_gql, ada, receiver.url("/ada"))
    secret = made["secret"]
    assert secret.startswith("whsec_")
    async with db.engine.connect() as connection:
        [row] = await connection.execute(
            text("SELECT CAST(w AS text), secret FROM webhook_endpoints w")
        )
    assert secret not in row[0]
    assert secret.removeprefix("whsec_") not in row[0]
    assert hook_settings.cipher().decrypt(row[1]) == secret


async def test_an_organization_endpoint_hears_every_members_bookings(
    hook_gql: GraphQLClient, receiver: FakeReceiver, deliveries: Background
) -> None:
    ada, service, sam = await setup_lessons(hook_gql)  # a member, with lessons
    ola = await make_tutor(hook_gql, "ola")  # the owner
    kim = await make_tutor(hook_gql, "kim")  # an admin
    studio = await organization(hook_gql, ola, ada)
    await join(hook_gql, studio, ola, kim, "ADMIN")
    await hook(hook_gql, receiver, ola, "/studio", ["BOOKING_CREATED"], organizationId=studio)
    await hook(hook_gql, receiver, kim, "/kim-studio", ["BOOKING_CREATED"], organizationId=studio)
    await hook(hook_gql, receiver, ola, "/ola-own", ["BOOKING_CREATED"])
    await hook(hook_gql, receiver, ada, "/ada-own", ["BOOKING_CREATED"])

    made = await book(hook_gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    await deliveries.run()
    for path in ("/studio", "/kim-studio", "/ada-own"):
        [got] = receiver.at(path)
        assert got.error is None
        assert got.payload is not None
        assert got.payload["data"]["booking"]["id"] == made["booking"]["id"]
    assert receiver.at("/ola-own") == []  # the owner's own endpoint hears only the owner's

    # An admin who leaves no longer hears of the members' bookings.
    removed = await hook_gql(
        REMOVE, {"input": {"organizationId": studio, "tutorId": kim.id}}, ola.token
    )
    assert removed["removeMember"]["__typename"] == "MemberRemoved"
    await book(hook_gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 11))
    await deliveries.run()
    assert len(receiver.at("/kim-studio")) == 1
    assert len(receiver.at("/studio")) == 2
    [kims] = (await hook_gql(TUTOR_HOOKS, {"id": kim.id}, kim.token))["tutor"]["webhookEndpoints"]
    found = await endpoint(hook_gql, kim, kims["id"])
    assert found["active"] is False
    assert found["deliveries"][0]["error"] == (
        "not sent: the endpoint's owner no longer manages its organization"
    )


async def test_only_owners_and_admins_make_an_organizations_endpoint(
    hook_gql: GraphQLClient, receiver: FakeReceiver
) -> None:
    ada = await make_tutor(hook_gql, "ada")
    bob = await make_tutor(hook_gql, "bob")
    eve = await make_tutor(hook_gql, "eve")
    studio = await organization(hook_gql, ada, bob)
    variables = {"input": {"url": receiver.url("/x"), "events": ["BOOKING_CREATED"]}}
    variables["input"]["organizationId"] = studio
    error = await hook_gql.error(CREATE_HOOK, variables, bob.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    outsider = await create_hook(hook_gql, eve, receiver.url("/x"), organizationId=studio)
    assert outsider["__typename"] == "NotFound"
    wrong = await create_hook(hook_gql, ada, receiver.url("/x"), organizationId=ada.id)
    assert (wrong["__typename"], wrong["field"]) == ("InvalidInput", "input.organizationId")
    mine = await create_hook(hook_gql, ada, receiver.url("/x"), organizationId=studio)
    assert mine["__typename"] == "WebhookEndpointCreated"
    student = token("sam")
    error = await hook_gql.error(CREATE_HOOK, variables, None)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    no_profile = (await hook_gql(CREATE_HOOK, variables, student))["createWebhookEndpoint"]
    assert no_profile["__typename"] == "NotFound"


async def test_only_the_owner_sees_or_touches_an_endpoint(
    hook_gql: GraphQLClient, receiver: FakeReceiver
) -> None:
    ada = await make_tutor(hook_gql, "ada")
    bob = await make_tutor(hook_gql, "bob")
    await organization(hook_gql, ada, bob)  # even the owner of bob's organization
    endpoint_id = await hook(hook_gql, receiver, bob, "/bob")
    mine = (await hook_gql(TUTOR_HOOKS, {"id": bob.id}, bob.token))["tutor"]["webhookEndpoints"]
    assert mine == [{"id": endpoint_id, "url": receiver.url("/bob")}]
    for viewer in (ada.token, token("sam"), None):
        seen = (await hook_gql(TUTOR_HOOKS, {"id": bob.id}, viewer))["tutor"]["webhookEndpoints"]
        assert seen == []
        assert (await hook_gql(ENDPOINT, {"id": endpoint_id}, viewer))["node"] is None
    for document in (DELETE, PING):
        result = await hook_gql(document, {"id": endpoint_id}, ada.token)
        assert next(iter(result.values()))["__typename"] == "NotFound"
    gone = (await hook_gql(DELETE, {"id": endpoint_id}, bob.token))["deleteWebhookEndpoint"]
    assert gone == {"__typename": "WebhookEndpointDeleted", "id": endpoint_id}
    assert (await hook_gql(ENDPOINT, {"id": endpoint_id}, bob.token))["node"] is None


async def test_a_deleted_endpoint_gets_nothing_more(
    hook_gql: GraphQLClient, receiver: FakeReceiver, deliveries: Background
) -> None:
    ada, service, sam = await setup_lessons(hook_gql)
    endpoint_id = await hook(hook_gql, receiver, ada, "/ada")
    await book(hook_gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    await hook_gql(DELETE, {"id": endpoint_id}, ada.token)
    await deliveries.run()
    assert receiver.received == []


async def test_input_is_checked(
    hook_gql: GraphQLClient, strict_gql: GraphQLClient, receiver: FakeReceiver
) -> None:
    ada = await make_tutor(hook_gql, "ada")
    good = "https://hooks.example.com/in"
    cases: list[tuple[GraphQLClient, str, list[str], str]] = [
        (hook_gql, "", ["BOOKING_CREATED"], "input.url"),
        (hook_gql, "https://x.example/" + "a" * 2000, ["BOOKING_CREATED"], "input.url"),
        (hook_gql, "ftp://x.example/in", ["BOOKING_CREATED"], "input.url"),
        (hook_gql, "https://user:pw@x.example/in", ["BOOKING_CREATED"], "input.url"),
        (hook_gql, "https://x.example/a b", ["BOOKING_CREATED"], "input.url"),
        (hook_gql, "https://x.example:99999/in", ["BOOKING_CREATED"], "input.url"),
        (hook_gql, "https:///in", ["BOOKING_CREATED"], "input.url"),
        (hook_gql, f"https://{'a' * 64}.example/in", ["BOOKING_CREATED"], "input.url"),
        (strict_gql, "http://x.example/in", ["BOOKING_CREATED"], "input.url"),
        (hook_gql, good, [], "input.events"),
        (hook_gql, good, ["BOOKING_CREATED", "BOOKING_CREATED"], "input.events[1]"),
        (hook_gql, good, ["PING"], "input.events[0]"),
        (hook_gql, good, ["BOOKING_CREATED"] * 50, "input.events"),
    ]
    for gql, url, events, field in cases:
        result = await create_hook(gql, ada, url, events)
        assert (result["__typename"], result.get("field")) == ("InvalidInput", field), (url, events)
    made = await create_hook(strict_gql, ada, good, ["BOOKING_CREATED", "FORM_SUBMITTED"])
    assert made["endpoint"]["events"] == ["BOOKING_CREATED", "FORM_SUBMITTED"]
    assert made["endpoint"]["active"] is True
    for _ in range(9):
        await create_hook(hook_gql, ada, good)
    eleventh = await create_hook(hook_gql, ada, good)
    assert eleventh["__typename"] == "InvalidInput"
    assert "At most 10" in eleventh["message"]
    too_many = """query($id: ID!) { node(id: $id) {
      ... on WebhookEndpoint { deliveries(first: 101) { id } } } }"""
    error = await hook_gql.error(too_many, {"id": made["endpoint"]["id"]}, ada.token)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_booking_with_no_endpoint_costs_one_indexed_query(
    hook_gql: GraphQLClient, db: Database, receiver: FakeReceiver
) -> None:
    ada, service, sam = await setup_lessons(hook_gql)
    with count_statements(db) as statements:
        await book(hook_gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    assert sum("webhook_endpoints" in s for s in statements) == 1
    assert not any("webhook_deliveries" in s for s in statements)
    await hook(hook_gql, receiver, ada, "/ada")
    with count_statements(db) as statements:
        await book(hook_gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 11))
    # Both events (created, confirmed) of the booking: one insert each, one endpoint query.
    assert sum("webhook_endpoints" in s for s in statements) == 1
    assert sum(s.startswith("INSERT INTO webhook_deliveries") for s in statements) == 2
