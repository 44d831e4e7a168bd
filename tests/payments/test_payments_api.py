"""Card payments through GraphQL and signed webhooks, against the Stripe-compatible test server.

The app calls the fake through the real `stripe` library; webhook bodies are signed with
`stripe.WebhookSignature` exactly as Stripe signs them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, update
from sqlmodel import col, select

from domain.stripe import Cards
from infra.db import Database
from infra.settings import Settings
from models import Booking, Payment, PaymentRefund, StripeEvent
from tests.fakes.stripe_server import FakeStripe, deliver, outcome, session_of, signed
from tests.helpers import (
    CANCEL,
    CLOCK,
    PAID,
    PRICE,
    REDEEM,
    RESCHEDULE,
    Background,
    GraphQLClient,
    Tutor,
    at,
    book,
    grant,
    make_tutor,
    monday,
    pk,
    reserve,
    search,
    setup_card_lessons,
    stored_student,
    token,
)

# On the awkward days CI picks too (tests/calendar_days.py).
pytestmark = pytest.mark.calendar

BOOKING = f"query($id: ID!) {{ booking(id: $id) {{ {PAID} }} }}"
UPDATE_SERVICE = """mutation($input: UpdateServiceInput!) { updateService(input: $input) {
  __typename } }"""


async def booking(gql: GraphQLClient, booking_id: str, who: str) -> dict[str, Any]:
    found: dict[str, Any] = (await gql(BOOKING, {"id": booking_id}, who))["booking"]
    return found


async def test_a_priced_booking_holds_its_slot_behind_a_checkout(
    card_gql: GraphQLClient, stripe_fake: FakeStripe, db: Database
) -> None:
    ada, service, sam = await setup_card_lessons(card_gql)
    start = at(monday(2), 10)
    before = CLOCK()
    made = await reserve(card_gql, sam, serviceId=service, tutorId=ada.id, start=start)
    held = made["booking"]
    assert (held["status"], held["price"]) == ("PENDING_PAYMENT", PRICE)
    assert [h["action"] for h in held["history"]] == ["CREATED"]
    hold_until = datetime.fromisoformat(held["holdExpiresAt"])
    assert before + timedelta(minutes=15) <= hold_until <= CLOCK() + timedelta(minutes=15)

    checkout = session_of(stripe_fake, held["id"])
    assert held["checkoutUrl"] == checkout["url"]
    assert checkout["line_items"][0]["price_data"]["unit_amount"] == "5000"
    assert checkout["currency"] == "usd" and checkout["customer_email"] == "sam@example.com"
    assert checkout["success_url"].startswith("https://app.example/paid")
    assert checkout["cancel_url"] == "https://app.example/not-paid"
    # Stripe's floor: a Checkout Session lives at least 30 minutes, longer than the hold.
    assert checkout["expires_at"] >= max(hold_until.timestamp(), CLOCK().timestamp() + 1800)
    payment_id = checkout["metadata"]["payment_id"]
    assert ("POST", "/v1/checkout/sessions", f"checkout-{payment_id}") in stripe_fake.requests

    # The hold blocks the time for everyone else.
    window = {"serviceId": service, "from": start, "to": at(monday(2), 12), "timeZone": "UTC"}
    assert [s["start"] for s in (await search(card_gql, **window))["slots"]] == [at(monday(2), 11)]
    kim = token("kim")
    taken = await reserve(card_gql, kim, serviceId=service, tutorId=ada.id, start=start)
    assert taken["__typename"] == "SlotUnavailable"

    # The price is captured: a later change does not alter it.
    changed = {"id": service, "durations": [{"minutes": 60, "price": {**PRICE, "amountMinor": 9}}]}
    assert (await card_gql(UPDATE_SERVICE, {"input": changed}, ada.token))["updateService"][
        "__typename"
    ] == "ServiceSaved"
    assert (await booking(card_gql, held["id"], sam))["price"] == PRICE

    # The moment the hold lapses it stops blocking, whether or not any job has run.
    async with db.transaction() as session:
        await session.exec(
            update(Booking)
            .where(col(Booking.id) == pk(held["id"]))
            .values(hold_expires_at=CLOCK() - timedelta(seconds=1))
        )
    assert at(monday(2), 10) in [s["start"] for s in (await search(card_gql, **window))["slots"]]
    moved = await card_gql(
        RESCHEDULE, {"input": {"bookingId": held["id"], "newStart": at(monday(2), 14)}}, sam
    )
    assert moved["rescheduleBooking"]["policy"] == "INVALID_TRANSITION"


async def test_payment_confirms_once_whatever_is_replayed(
    card_gql: GraphQLClient, card_http: httpx.AsyncClient, stripe_fake: FakeStripe, db: Database
) -> None:
    _, _, sam, held = await hold_a_slot(card_gql)
    paid = stripe_fake.pay(session_of(stripe_fake, held["id"])["id"])
    assert await outcome(card_http, paid) == "paid: confirmed"
    confirmed = await booking(card_gql, held["id"], sam)
    assert confirmed["status"] == "CONFIRMED"
    assert (confirmed["checkoutUrl"], confirmed["holdExpiresAt"]) == (None, None)
    assert confirmed["history"][-1] == {
        "action": "CONFIRMED",
        "actorId": None,
        "reason": "paid by card",
    }

    # Stripe retries deliveries: ten at once change nothing more.
    replays = await asyncio.gather(*(deliver(card_http, paid) for _ in range(10)))
    assert {r.status_code for r in replays} == {200}
    assert {r.json()["outcome"] for r in replays} == {"duplicate: already handled"}
    assert await booking(card_gql, held["id"], sam) == confirmed
    async with db.session() as session:
        assert (await session.exec(select(func.count()).select_from(StripeEvent))).one() == 1

    # Another event about the same payment, and a stale expiry arriving late, find it settled.
    again = stripe_fake.event("checkout.session.async_payment_succeeded", paid["data"]["object"])
    assert await outcome(card_http, again) == "nothing to do: paid already"
    stale = stripe_fake.event("checkout.session.expired", paid["data"]["object"])
    assert await outcome(card_http, stale) == "nothing to do: payment is PAID"
    assert await booking(card_gql, held["id"], sam) == confirmed
    assert stripe_fake.refunds == {}


async def test_only_stripe_signed_fresh_bodies_are_accepted(
    card_gql: GraphQLClient, card_http: httpx.AsyncClient, stripe_fake: FakeStripe, http: Any
) -> None:
    _, _, sam, held = await hold_a_slot(card_gql)
    paid = stripe_fake.pay(session_of(stripe_fake, held["id"])["id"])
    forged = await deliver(card_http, paid, secret="whsec_" + "f" * 32)
    stale = await deliver(card_http, paid, at=int(time.time()) - 600)
    body, headers = signed(paid)
    altered = await card_http.post(
        "/webhooks/stripe", content=body.replace("5000", "1"), headers=headers
    )
    unsigned = await card_http.post("/webhooks/stripe", content=body)
    garbage = await card_http.post(
        "/webhooks/stripe", content=b"\xff\xfe", headers={"Stripe-Signature": "t=1,v1=00"}
    )
    for refused in (forged, stale, altered, unsigned, garbage):
        assert refused.status_code == 400, refused.text
        assert "signature" in refused.json()["error"]
    assert (await booking(card_gql, held["id"], sam))["status"] == "PENDING_PAYMENT"

    other = stripe_fake.event("payment_intent.succeeded", {"object": "payment_intent"})
    assert await outcome(card_http, other) == "ignored: payment_intent.succeeded"
    assert await outcome(card_http, paid) == "paid: confirmed"
    # A server without Stripe has no webhook.
    assert (await http.post("/webhooks/stripe", content=body, headers=headers)).status_code == 404


async def test_signed_but_malformed_events_are_refused_logged_and_change_nothing(
    card_gql: GraphQLClient,
    card_http: httpx.AsyncClient,
    stripe_fake: FakeStripe,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, _, sam, held = await hold_a_slot(card_gql)
    paid = stripe_fake.pay(session_of(stripe_fake, held["id"])["id"])
    checkout = paid["data"]["object"]

    def with_checkout(**changes: Any) -> dict[str, Any]:
        return {**paid, "data": {"object": {**checkout, **changes}}}

    malformed: dict[str, Any] = {
        "data.object.metadata": with_checkout(metadata="x"),
        "data.object.metadata.payment_id": with_checkout(metadata={"payment_id": 5}),
        "data.object.payment_intent": with_checkout(payment_intent="pi_" + "x" * 5000),
        "data.object.id": with_checkout(id=None),
        "data.object": {**paid, "data": {"object": [checkout]}},
        "data": {**paid, "data": "x"},
        "type": {**paid, "type": ["checkout.session.completed"]},
        "id": {**paid, "id": "evt_" + "a" * 5000},
        "id ": {**paid, "id": "evt_1 OR 1=1"},
        "the body": [paid],
    }
    for field, event in malformed.items():
        body, headers = signed(event)
        with caplog.at_level(logging.WARNING, logger="booking_api"):
            response = await card_http.post("/webhooks/stripe", content=body, headers=headers)
        assert response.status_code == 400, (field, response.text)
        assert response.json()["error"].startswith(f"malformed event: {field.strip()}"), field
        assert f"malformed event: {field.strip()}" in caplog.text, field
    async with db.session() as session:
        assert (await session.exec(select(func.count()).select_from(StripeEvent))).one() == 0
    assert (await booking(card_gql, held["id"], sam))["status"] == "PENDING_PAYMENT"

    # An expanded payment intent stands for its id.
    intent = checkout["payment_intent"]
    expanded = with_checkout(payment_intent={"id": intent, "object": "payment_intent"})
    assert await outcome(card_http, expanded) == "paid: confirmed"
    async with db.session() as session:
        assert (await session.exec(select(Payment.payment_intent_id))).all() == [intent]


async def test_an_abandoned_checkout_releases_the_slot_and_a_late_payment_still_counts(
    card_gql: GraphQLClient, card_http: httpx.AsyncClient, stripe_fake: FakeStripe
) -> None:
    ada, service, sam = await setup_card_lessons(card_gql)
    start = at(monday(2), 9)
    held = (await reserve(card_gql, sam, serviceId=service, tutorId=ada.id, start=start))["booking"]
    checkout = session_of(stripe_fake, held["id"])
    assert await outcome(card_http, stripe_fake.walk_away(checkout["id"])) == "expired"
    expired = await booking(card_gql, held["id"], sam)
    assert expired["status"] == "EXPIRED"
    assert expired["history"][-1] == {
        "action": "EXPIRED",
        "actorId": None,
        "reason": "checkout expired",
    }
    window = {"serviceId": service, "from": start, "to": at(monday(2), 10), "timeZone": "UTC"}
    assert [s["start"] for s in (await search(card_gql, **window))["slots"]] == [start]

    # Out of order: the payment's event comes after the expiry's. The time is still free.
    assert await outcome(card_http, stripe_fake.pay(checkout["id"])) == "paid: confirmed"
    late = await booking(card_gql, held["id"], sam)
    assert late["status"] == "CONFIRMED"
    assert late["history"][-1]["reason"] == "paid by card after the hold lapsed"
    assert stripe_fake.refunds == {}


async def test_a_payment_after_the_slot_was_retaken_is_refunded_never_double_booked(
    card_gql: GraphQLClient, card_http: httpx.AsyncClient, stripe_fake: FakeStripe, db: Database
) -> None:
    ada, service, sam = await setup_card_lessons(card_gql)
    free = (await ada.service(title="Chat", durations=[{"minutes": 60}]))["service"]["id"]
    start = at(monday(2), 9)
    held = (await reserve(card_gql, sam, serviceId=service, tutorId=ada.id, start=start))["booking"]
    async with db.transaction() as session:
        await session.exec(
            update(Booking)
            .where(col(Booking.id) == pk(held["id"]))
            .values(hold_expires_at=CLOCK() - timedelta(seconds=1))
        )
    kim = await book(card_gql, token("kim"), serviceId=free, tutorId=ada.id, start=start)
    assert kim["__typename"] == "BookingCreated"

    checkout = session_of(stripe_fake, held["id"])
    paid = stripe_fake.pay(checkout["id"])
    assert await outcome(card_http, paid) == "paid: 1 refund(s) owed"
    refused = await booking(card_gql, held["id"], sam)
    assert refused["status"] == "EXPIRED"
    assert "time was taken: refunded" in refused["history"][-1]["reason"]
    [refund] = stripe_fake.refunds.values()
    assert (refund["amount"], refund["payment_intent"]) == (
        5000,
        paid["data"]["object"]["payment_intent"],
    )
    async with db.session() as session:
        rows = list(await session.exec(select(PaymentRefund)))
        assert [(r.status, r.stripe_refund_id) for r in rows] == [("SUCCEEDED", refund["id"])]
        active = await session.exec(
            select(Booking.id).where(
                Booking.tutor_id == pk(ada.id),
                col(Booking.status).in_(("CONFIRMED", "PENDING_PAYMENT")),
            )
        )
        assert list(active) == [pk(kim["booking"]["id"])]
    assert await outcome(card_http, paid) == "duplicate: already handled"
    assert len(stripe_fake.refunds) == 1


async def test_cancelling_a_paid_booking_refunds_the_card_when_the_policy_does(
    card_gql: GraphQLClient, card_http: httpx.AsyncClient, stripe_fake: FakeStripe
) -> None:
    ada, service, sam = await setup_card_lessons(card_gql)
    soon = (CLOCK() + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)

    async def paid_booking(start: str) -> str:
        made = await reserve(card_gql, sam, serviceId=service, tutorId=ada.id, start=start)
        checkout = session_of(stripe_fake, made["booking"]["id"])
        assert await outcome(card_http, stripe_fake.pay(checkout["id"])) == "paid: confirmed"
        return str(made["booking"]["id"])

    async def cancel(booking_id: str, who: str) -> dict[str, Any]:
        result = await card_gql(CANCEL, {"input": {"bookingId": booking_id}}, who)
        cancelled: dict[str, Any] = result["cancelBooking"]
        assert cancelled["booking"]["status"] == "CANCELLED"
        return cancelled

    early = await paid_booking(at(monday(2), 9))
    assert (await cancel(early, sam))["refund"] == {"kind": "CARD", "amount": 5000}
    [refund] = stripe_fake.refunds.values()
    assert refund["amount"] == 5000
    refund_id = refund["metadata"]["refund_id"]
    assert ("POST", "/v1/refunds", f"refund-{refund_id}") in stripe_fake.requests

    late = await paid_booking(soon.isoformat())
    assert (await cancel(late, sam))["refund"] == {"kind": "NONE", "amount": 0}
    assert len(stripe_fake.refunds) == 1
    by_tutor = await paid_booking((soon + timedelta(hours=1)).isoformat())
    assert (await cancel(by_tutor, ada.token))["refund"] == {"kind": "CARD", "amount": 5000}
    assert len(stripe_fake.refunds) == 2


async def test_cancelling_before_paying_closes_the_checkout_and_refunds_a_payment_that_raced(
    card_gql: GraphQLClient, card_http: httpx.AsyncClient, stripe_fake: FakeStripe
) -> None:
    _, _, sam, held = await hold_a_slot(card_gql)
    cancelled = await card_gql(CANCEL, {"input": {"bookingId": held["id"]}}, sam)
    assert cancelled["cancelBooking"]["refund"] == {"kind": "NONE", "amount": 0}
    checkout = session_of(stripe_fake, held["id"])
    assert checkout["status"] == "expired"
    # The payer had already paid when the cancellation closed the checkout.
    raced = stripe_fake.event(
        "checkout.session.completed",
        {**checkout, "payment_status": "paid", "payment_intent": "pi_test_raced"},
    )
    checkout["payment_intent"] = "pi_test_raced"
    assert await outcome(card_http, raced) == "paid: 1 refund(s) owed"
    assert [r["amount"] for r in stripe_fake.refunds.values()] == [5000]
    assert (await booking(card_gql, held["id"], sam))["status"] == "CANCELLED"


async def hold_a_slot(card_gql: GraphQLClient) -> tuple[Tutor, str, str, dict[str, Any]]:
    """A tutor, their priced service, a student, and the student's booking waiting for its card."""
    ada, service, sam = await setup_card_lessons(card_gql)
    held = (
        await reserve(card_gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(2), 9))
    )["booking"]
    return ada, service, sam, held


async def held_and_a_package(
    card_gql: GraphQLClient, db: Database
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A student's booking waiting for its card, and a one-session package from its tutor."""
    ada, _, sam, held = await hold_a_slot(card_gql)
    package = (
        await grant(
            card_gql, ada, studentId=await stored_student(db, sam), unit="SESSIONS", total=1
        )
    )["package"]
    return sam, held, package


async def test_a_cancellation_refunding_package_credit_still_closes_the_checkout(
    card_gql: GraphQLClient, stripe_fake: FakeStripe, db: Database
) -> None:
    """Every step after the commit runs on every path: a booking both waiting for its card and
    holding package credit (no path makes one today) still has its checkout closed."""
    sam, held, package = await held_and_a_package(card_gql, db)
    async with db.transaction() as unit:
        await unit.exec(
            update(Booking)
            .where(col(Booking.id) == pk(held["id"]))
            .values(package_id=pk(package["id"]), package_credit=1)
        )
    cancelled = await card_gql(CANCEL, {"input": {"bookingId": held["id"]}}, sam)
    assert cancelled["cancelBooking"]["refund"] == {"kind": "PACKAGE_CREDIT", "amount": 1}
    assert session_of(stripe_fake, held["id"])["status"] == "expired"


async def test_package_credit_pays_a_booking_waiting_for_a_card(
    card_gql: GraphQLClient, card_http: httpx.AsyncClient, stripe_fake: FakeStripe, db: Database
) -> None:
    sam, held, package = await held_and_a_package(card_gql, db)
    redeemed = await card_gql(
        REDEEM, {"input": {"bookingId": held["id"], "packageId": package["id"]}}, sam
    )
    assert redeemed["redeemPackage"]["booking"]["status"] == "CONFIRMED"
    checkout = session_of(stripe_fake, held["id"])
    assert checkout["status"] == "expired"
    paid_anyway = stripe_fake.event(
        "checkout.session.completed",
        {**checkout, "payment_status": "paid", "payment_intent": "pi_test_twice"},
    )
    checkout["payment_intent"] = "pi_test_twice"
    assert await outcome(card_http, paid_anyway) == "paid: 1 refund(s) owed"
    assert [r["amount"] for r in stripe_fake.refunds.values()] == [5000]
    kept = await booking(card_gql, held["id"], sam)
    assert (kept["status"], kept["price"]) == ("CONFIRMED", None)


async def test_when_stripe_cannot_be_reached_nothing_is_booked(
    card_gql: GraphQLClient, stripe_fake: FakeStripe
) -> None:
    ada, service, sam = await setup_card_lessons(card_gql)
    start = at(monday(2), 9)
    stripe_fake.down = True
    input = {"serviceId": service, "tutorId": ada.id, "start": start, "idempotencyKey": "k1"}
    refused = await reserve(card_gql, sam, **input)
    assert (refused["__typename"], refused["policy"]) == ("PolicyViolation", "PAYMENT_UNAVAILABLE")
    window = {"serviceId": service, "from": start, "to": at(monday(2), 10), "timeZone": "UTC"}
    assert [s["start"] for s in (await search(card_gql, **window))["slots"]] == [start]
    stripe_fake.down = False
    retried = await reserve(card_gql, sam, **input)
    assert retried["booking"]["status"] == "PENDING_PAYMENT"
    assert retried["booking"]["checkoutUrl"].startswith(stripe_fake.base)


async def test_tutor_bookings_of_priced_lengths_are_confirmed_at_once(
    card_gql: GraphQLClient, stripe_fake: FakeStripe, db: Database
) -> None:
    ada, service, sam = await setup_card_lessons(card_gql)
    sam_id = await stored_student(db, sam)
    made = await reserve(
        card_gql,
        ada.token,
        serviceId=service,
        tutorId=ada.id,
        start=at(monday(2), 9),
        studentId=sam_id,
    )
    assert (made["booking"]["status"], made["booking"]["price"]) == ("CONFIRMED", PRICE)
    assert made["booking"]["checkoutUrl"] is None and stripe_fake.sessions == {}


TEMPLATE = """id name unit total sessionDurationMinutes validDays price { amountMinor currency }
  archived tutor { id }"""
SAVE_TEMPLATE = f"""mutation($input: CreatePackageTemplateInput!) {{
  createPackageTemplate(input: $input) {{ __typename
  ... on PackageTemplateSaved {{ template {{ {TEMPLATE} }} }}
  ... on InvalidInput {{ message field }} }} }}"""
ARCHIVE = """mutation($id: ID!) { archivePackageTemplate(id: $id) { __typename
  ... on PackageTemplateSaved { template { archived } } ... on NotFound { message } } }"""
GRANT_FROM = """mutation($input: GrantPackageFromTemplateInput!) {
  grantPackageFromTemplate(input: $input) { __typename
  ... on PackageGranted { package { unit total remaining sessionDurationMinutes expiresAt notes } }
  ... on InvalidInput { message field } ... on NotFound { message } } }"""
BUY = """mutation($input: BuyPackageInput!) { buyPackage(input: $input) { __typename
  ... on PackageCheckoutStarted { checkoutUrl expiresAt template { name } }
  ... on InvalidInput { message field } ... on NotFound { message }
  ... on PolicyViolation { message policy } } }"""
OFFERED = f"query($id: ID!) {{ tutor(id: $id) {{ packageTemplates {{ {TEMPLATE} }} }} }}"
MY_PACKAGES = "{ viewer { packages { unit total remaining expiresAt adjustments { delta } } } }"


async def test_package_templates_granted_and_bought_by_card(
    card_gql: GraphQLClient,
    card_http: httpx.AsyncClient,
    stripe_fake: FakeStripe,
    gql: GraphQLClient,
    db: Database,
) -> None:
    ada, _, sam = await setup_card_lessons(card_gql)

    async def save(who: str = ada.token, **input: Any) -> dict[str, Any]:
        input.setdefault("name", "Eight lessons")
        input.setdefault("unit", "SESSIONS")
        input.setdefault("total", 8)
        result: dict[str, Any] = (await card_gql(SAVE_TEMPLATE, {"input": input}, who))[
            "createPackageTemplate"
        ]
        return result

    assert (await save(name=" "))["field"] == "input.name"
    assert (await save(total=0))["field"] == "input.total"
    assert (await save(validDays=0))["field"] == "input.validDays"
    assert (await save(unit="MINUTES", sessionDurationMinutes=60))[
        "field"
    ] == "input.sessionDurationMinutes"
    bad_price = await save(price={"amountMinor": 100, "currency": "XYZ"})
    assert bad_price["field"] == "input.price.currency"
    denied = await card_gql.error(
        SAVE_TEMPLATE, {"input": {"name": "x", "unit": "SESSIONS", "total": 1}}, sam
    )
    assert denied["extensions"]["code"] == "FORBIDDEN"

    eight = (
        await save(
            sessionDurationMinutes=60, validDays=90, price={"amountMinor": 40000, "currency": "eur"}
        )
    )["template"]
    assert (eight["price"], eight["validDays"], eight["archived"]) == (
        {"amountMinor": 40000, "currency": "EUR"},
        90,
        False,
    )
    trial = (await save(name="Trial minutes", unit="MINUTES", total=120))["template"]
    offered = (await card_gql(OFFERED, {"id": ada.id}))["tutor"]["packageTemplates"]
    assert [t["name"] for t in offered] == ["Eight lessons", "Trial minutes"]

    # A tutor grants from a template: its credit, and an expiry counted from today.
    sam_id = await stored_student(db, sam)
    granted = (
        await card_gql(
            GRANT_FROM, {"input": {"templateId": trial["id"], "studentId": sam_id}}, ada.token
        )
    )["grantPackageFromTemplate"]["package"]
    assert (granted["unit"], granted["total"], granted["notes"]) == (
        "MINUTES",
        120,
        "Trial minutes",
    )
    assert granted["expiresAt"] is None
    from_eight = (
        await card_gql(
            GRANT_FROM, {"input": {"templateId": eight["id"], "studentId": sam_id}}, ada.token
        )
    )["grantPackageFromTemplate"]["package"]
    expires = datetime.fromisoformat(from_eight["expiresAt"])
    assert abs(expires - (CLOCK() + timedelta(days=90))) < timedelta(minutes=1)
    bob = await make_tutor(card_gql, "bob")
    foreign = await card_gql(
        GRANT_FROM, {"input": {"templateId": eight["id"], "studentId": sam_id}}, bob.token
    )
    assert foreign["grantPackageFromTemplate"]["__typename"] == "NotFound"

    # A student buys the priced one by card; the package arrives with the payment, once.
    assert (await card_gql(BUY, {"input": {"templateId": trial["id"]}}, sam))["buyPackage"][
        "message"
    ] == "This package is not for sale"
    started = (await card_gql(BUY, {"input": {"templateId": eight["id"]}}, sam))["buyPackage"]
    [checkout] = stripe_fake.sessions.values()
    assert started["checkoutUrl"] == checkout["url"]
    assert (checkout["amount_total"], checkout["currency"]) == (40000, "eur")
    assert checkout["metadata"]["purpose"] == "PACKAGE"
    before = (await card_gql(MY_PACKAGES, token=sam))["viewer"]["packages"]
    paid = stripe_fake.pay(checkout["id"])
    assert (await outcome(card_http, paid)).startswith("paid: package")
    assert await outcome(card_http, paid) == "duplicate: already handled"
    after = (await card_gql(MY_PACKAGES, token=sam))["viewer"]["packages"]
    assert len(after) == len(before) + 1
    bought = after[-1]
    assert (bought["unit"], bought["total"], bought["remaining"]) == ("SESSIONS", 8, 8)
    assert bought["adjustments"] == [{"delta": 8}]

    # Archived: no longer offered, bought or granted; what was granted stays.
    assert (await card_gql(ARCHIVE, {"id": eight["id"]}, bob.token))["archivePackageTemplate"][
        "__typename"
    ] == "NotFound"
    assert (await card_gql(ARCHIVE, {"id": eight["id"]}, ada.token))["archivePackageTemplate"][
        "template"
    ] == {"archived": True}
    offered = (await card_gql(OFFERED, {"id": ada.id}))["tutor"]["packageTemplates"]
    assert [t["name"] for t in offered] == ["Trial minutes"]
    assert (await card_gql(BUY, {"input": {"templateId": eight["id"]}}, sam))["buyPackage"][
        "__typename"
    ] == "NotFound"
    assert len((await card_gql(MY_PACKAGES, token=sam))["viewer"]["packages"]) == len(after)

    # Without Stripe configured, nothing can be bought.
    unconfigured = (await gql(BUY, {"input": {"templateId": trial["id"]}}, sam))["buyPackage"]
    assert unconfigured["field"] == "input.templateId"
    assert "not configured" in unconfigured["message"]


async def cancel_while_stripe_is_down(
    card_gql: GraphQLClient, card_http: httpx.AsyncClient, stripe_fake: FakeStripe
) -> dict[str, Any]:
    """A paid booking, cancelled (with a card refund owed) while Stripe is unreachable."""
    ada, service, sam = await setup_card_lessons(card_gql)
    made = await reserve(card_gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(2), 9))
    checkout = session_of(stripe_fake, made["booking"]["id"])
    assert await outcome(card_http, stripe_fake.pay(checkout["id"])) == "paid: confirmed"
    stripe_fake.down = True
    cancelled = await card_gql(CANCEL, {"input": {"bookingId": made["booking"]["id"]}}, sam)
    result: dict[str, Any] = cancelled["cancelBooking"]
    return result


async def test_a_refund_stripe_could_not_take_is_kept_and_sent_later(
    card_gql: GraphQLClient,
    card_http: httpx.AsyncClient,
    card_settings: Any,
    stripe_fake: FakeStripe,
    db: Database,
) -> None:
    cancelled = await cancel_while_stripe_is_down(card_gql, card_http, stripe_fake)
    # The refund is owed and recorded with the cancellation, whatever Stripe says right now.
    assert cancelled["refund"] == {"kind": "CARD", "amount": 5000}
    async with db.session() as session:
        [owed] = list(await session.exec(select(PaymentRefund)))
    assert (owed.status, owed.attempts) == ("PENDING", 1) and owed.last_error
    stripe_fake.down = False
    cards = Cards(card_settings.stripe, card_settings.payment_hold_minutes)
    assert await cards.settle_pending(db) == (1, 0)  # `booking-api settle-refunds`
    assert await cards.settle_pending(db) == (0, 0)
    assert [r["amount"] for r in stripe_fake.refunds.values()] == [5000]


async def test_the_periodic_refund_sweep_sends_what_stripe_could_not_take(
    card_gql: GraphQLClient,
    card_http: httpx.AsyncClient,
    card_settings: Settings,
    stripe_fake: FakeStripe,
    db: Database,
) -> None:
    await cancel_while_stripe_is_down(card_gql, card_http, stripe_fake)
    background = Background(card_settings, db)
    t0 = CLOCK()
    await background.run(t0)
    assert stripe_fake.refunds == {}  # still down: owed
    stripe_fake.down = False
    await background.run(t0 + timedelta(seconds=card_settings.jobs.sweep_seconds))
    await background.run(t0 + timedelta(seconds=2 * card_settings.jobs.sweep_seconds))
    assert [r["amount"] for r in stripe_fake.refunds.values()] == [5000]
    async with db.session() as session:
        [refund] = list(await session.exec(select(PaymentRefund)))
    assert refund.status != "PENDING"


async def test_a_late_payment_racing_a_new_booking_never_double_books(
    card_gql: GraphQLClient, card_http: httpx.AsyncClient, stripe_fake: FakeStripe, db: Database
) -> None:
    """Sam's hold has lapsed; Sam's payment and Kim's booking of the same hour arrive at once."""
    ada, service, sam = await setup_card_lessons(card_gql)
    free = (await ada.service(title="Chat", durations=[{"minutes": 60}]))["service"]["id"]
    outcomes = set()
    for hour in range(9, 17):
        start = at(monday(2), hour)
        held = await reserve(card_gql, sam, serviceId=service, tutorId=ada.id, start=start)
        async with db.transaction() as lapse:
            await lapse.exec(
                update(Booking)
                .where(col(Booking.id) == pk(held["booking"]["id"]))
                .values(hold_expires_at=CLOCK() - timedelta(seconds=1))
            )
        paid = stripe_fake.pay(session_of(stripe_fake, held["booking"]["id"])["id"])
        kim = token(f"kim{hour}")

        async def books(who: str, start: str, delay: float) -> dict[str, Any]:
            await asyncio.sleep(delay)  # staggered, so either side gets there first sometimes
            return await book(card_gql, who, serviceId=free, tutorId=ada.id, start=start)

        webhook, booked = await asyncio.gather(
            outcome(card_http, paid), books(kim, start, (hour % 4) * 0.01)
        )
        outcomes.add((webhook, booked["__typename"]))
        async with db.session() as session:
            active = list(
                await session.exec(
                    select(Booking.status).where(
                        Booking.tutor_id == pk(ada.id),
                        Booking.start_at == datetime.fromisoformat(start),
                        col(Booking.status).in_(("CONFIRMED", "PENDING_PAYMENT")),
                    )
                )
            )
        assert active == ["CONFIRMED"], (hour, webhook, booked["__typename"])
    # Whichever won, the loser was told: a refund, or SlotUnavailable.
    assert outcomes <= {
        ("paid: confirmed", "SlotUnavailable"),
        ("paid: 1 refund(s) owed", "BookingCreated"),
    }
