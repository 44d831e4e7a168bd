"""The pages' live updates across interruptions, served with PostgreSQL's LISTEN/NOTIFY (the
default broker). Delivery is at-most-once, so after the server's broker connection comes back
(EVENTS_MISSED) or the page's own websocket is lost, a page subscribes again and refetches: a
booking written without any event (straight into the database) shows, and events arrive again."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg
import pytest
from playwright.async_api import Locator, Page, WebSocketRoute, expect

from domain.events import bookings_channel, slots_channel
from infra.db import Database
from schema.node import encode_id
from tests.helpers import GraphQLClient, add_booking, at, book, make_tutor, monday, pk, weekly
from tests.helpers import organization as make_organization
from tests.live_client import broker_publish
from tests.pages.conftest import Site, eventually
from tests.pages.test_booking_page import lessons
from tests.pages.test_dashboard import sign_in

pytestmark = pytest.mark.browser

GUEST = {"name": "Gus Guest", "email": "gus@example.com"}
REMOVE = """mutation($input: RemoveMemberInput!) { removeMember(input: $input) { __typename } }"""


@pytest.fixture(scope="module")
def broker() -> str:
    return "postgresql://"


async def kill_listener(session_url: str) -> None:
    """Cut the served app's LISTEN connection, as a network or database failover would."""
    connection = await asyncpg.connect(session_url)
    try:
        killed = await connection.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'booking_api_listener' AND datname = current_database()"
        )
    finally:
        await connection.close()
    assert len(killed) == 1


async def heard(
    session_url: str, channel: str, message: dict[str, str], done: Callable[[], Awaitable[bool]]
) -> None:
    """Publishes `message` on `channel` until `done`: the page's subscription is in place
    (graphql-transport-ws acknowledges none)."""
    for _ in range(40):
        await broker_publish(session_url, channel, [json.dumps(message)])
        await asyncio.sleep(0.25)
        if await done():
            return
    raise AssertionError(f"the page never heard of {message}")


def row(page: Page, booking: uuid.UUID) -> Locator:
    return page.locator(f'tr[data-booking="{encode_id("Booking", booking)}"]')


async def silently(db: Database, tutor_id: str, service: str, hour: int) -> Any:
    """A booking that publishes nothing (the test's Database has no publisher): its key."""
    return await add_booking(db, tutor_id, service, datetime.fromisoformat(at(monday(2), hour)))


async def listening(
    page: Page, session_url: str, db: Database, tutor_id: str, service: str, hour: int
) -> None:
    """The dashboard, loaded, follows the tutor's bookings: an event for a booking written
    silently is published until the page, refetching on the event, shows it."""
    booking = await silently(db, tutor_id, service, hour)
    # Long past: a page resuming from its last event's `at` (since) reads back from its list.
    event = {"action": "CREATED", "booking": str(booking), "at": "2000-01-01T00:00:00+00:00"}
    await heard(
        session_url, bookings_channel(pk(tutor_id)), event, lambda: row(page, booking).is_visible()
    )


async def booked_live(page: Page, api: GraphQLClient, service: str, hour: int) -> None:
    """A booking made through the served API reaches the open dashboard as an event."""
    made = await book(api, None, serviceId=service, start=at(monday(2), hour), guest=GUEST)
    assert made["__typename"] == "BookingCreated", made
    await expect(page.locator(".toast").last).to_contain_text("New booking: Gus Guest")
    await expect(page.locator(f'tr[data-booking="{made["booking"]["id"]}"]')).to_be_visible()


async def piano(api: GraphQLClient) -> tuple[str, str, str]:
    """Ada, open around the clock, teaches Piano by the hour: her token, id and the service."""
    ada = await make_tutor(api, "ada", "UTC", weekly("00:00", "00:00"))
    service = (await ada.service(title="Piano", slotIntervalMinutes=60))["service"]["id"]
    return ada.token, ada.id, service


async def test_the_dashboard_refetches_and_resubscribes_after_events_missed(
    page: Page, site: Site, api: GraphQLClient, db: Database, session_url: str
) -> None:
    secret, ada, service = await piano(api)
    await sign_in(page, site, secret)
    await expect(page.locator("#count")).to_have_text("0 bookings")
    await listening(page, session_url, db, ada, service, 8)
    missed = await silently(db, ada, service, 9)
    await kill_listener(session_url)
    # EVENTS_MISSED ended the subscription: the page subscribed again and refetched.
    await expect(row(page, missed)).to_be_visible(timeout=10_000)
    await expect(page.locator("#live-note")).to_have_text("Reconnected: up to date.")
    await expect(page.locator(".toast", has_text="stopped")).to_have_count(0)
    await listening(page, session_url, db, ada, service, 10)
    await booked_live(page, api, service, 11)
    await expect(page.locator("#count")).to_have_text("4 bookings")


async def test_the_dashboard_reconnects_a_lost_websocket_and_refetches(
    page: Page, site: Site, api: GraphQLClient, db: Database, session_url: str
) -> None:
    secret, ada, service = await piano(api)
    sockets: list[WebSocketRoute] = []

    def through(socket: WebSocketRoute) -> None:
        # The page's first socket opens but never hears from the server (held here).
        if sockets:
            socket.connect_to_server()
        sockets.append(socket)

    await page.route_web_socket(re.compile(r"/graphql$"), through)
    await sign_in(page, site, secret)
    await expect(page.locator("#count")).to_have_text("0 bookings")

    async def opened() -> bool:
        return len(sockets) == 1

    await eventually(opened)
    # Lost before it was ever acknowledged: what was written meanwhile is fetched after all.
    first = await silently(db, ada, service, 9)
    await sockets[0].close(code=1012)
    await expect(row(page, first)).to_be_visible()
    await expect(page.locator("#live-note")).to_have_text("Reconnected: up to date.")
    await listening(page, session_url, db, ada, service, 10)
    # Lost once live: reconnected, subscribed again, refetched.
    second = await silently(db, ada, service, 11)
    await sockets[1].close(code=1012)
    await expect(row(page, second)).to_be_visible()
    await listening(page, session_url, db, ada, service, 12)
    await booked_live(page, api, service, 13)
    assert len(sockets) == 3


async def choose_a_time_with_another(page: Page) -> str:
    """Clicks the first day with two times or more (its button says how many: late in the
    visitor's evening today has one), then its first time: the instant."""
    several = page.locator('.day:not([aria-disabled]):not([aria-label$=", 1 times"])')
    await expect(page.locator(".day").first).to_be_visible()
    await page.wait_for_load_state("networkidle")
    if await several.count() == 0:  # the month's last day
        await page.get_by_label("Next month").click()
    day = str(await several.first.get_attribute("data-date"))
    await several.first.click()
    time = page.locator(f'#times .time[data-start^="{day}"]').first
    start = str(await time.get_attribute("data-start"))
    await time.click()
    return start


async def test_the_booking_page_refetches_its_times_after_events_missed(
    page: Page, site: Site, api: GraphQLClient, db: Database, session_url: str
) -> None:
    ada, service = await lessons(api)
    await page.goto(f"{site.base}/book/{service}")
    start = await choose_a_time_with_another(page)
    # The page follows the time: another time of the day, taken silently, goes on its event.
    times = page.locator("#times .time")
    other = str(await times.nth(1).get_attribute("data-start"))
    await add_booking(db, ada.id, service, datetime.fromisoformat(other))
    event = {"kind": "TAKEN", "tutor": str(pk(ada.id)), "service": str(pk(service))}
    event |= {"start": other, "end": other}
    gone = page.locator(f'#times .time[data-start="{other}"]')
    await heard(session_url, slots_channel(pk(ada.id)), event, gone.is_hidden)
    await add_booking(db, ada.id, service, datetime.fromisoformat(start))
    await kill_listener(session_url)
    # The visitor's time was taken without an event: the refetch after EVENTS_MISSED shows it.
    await expect(page.locator("#form-error")).to_contain_text("Someone else just booked")
    await expect(page.locator(f'#times .time[data-start="{start}"]')).to_have_count(0)


async def test_a_subscription_refused_stays_ended_after_a_reconnect(
    page: Page, site: Site, api: GraphQLClient, db: Database, session_url: str
) -> None:
    ada = await make_tutor(api, "ada", "UTC", weekly("00:00", "00:00"))
    bob = await make_tutor(api, "bob", "UTC", weekly("00:00", "00:00"))
    studio = await make_organization(api, ada, bob, role="ADMIN")
    service = (await bob.service(title="Cello", slotIntervalMinutes=60))["service"]["id"]
    sockets: list[WebSocketRoute] = []
    sent: list[str] = []  # the types of the page's messages on its latest socket

    def through(socket: WebSocketRoute) -> None:
        server = socket.connect_to_server()
        sockets.append(socket)
        sent.clear()

        def forward(message: str | bytes) -> None:
            sent.append(json.loads(message)["type"])
            server.send(message)

        socket.on_message(forward)

    await page.route_web_socket(re.compile(r"/graphql$"), through)
    await sign_in(page, site, bob.token)
    await expect(page.locator("#count")).to_have_text("0 bookings")
    await listening(page, session_url, db, bob.id, service, 8)
    # Bob, an admin following the studio's bookings, is removed: FORBIDDEN, an error as before.
    input = {"organizationId": studio, "tutorId": bob.id}
    removed = await api(REMOVE, {"input": input}, ada.token)
    assert removed["removeMember"]["__typename"] == "MemberRemoved", removed
    await expect(page.locator(".toast", has_text="Live updates stopped")).to_have_count(1)
    # Its socket lost, the page does not send the subscription the server ended again.
    await sockets[0].close(code=1012)
    await expect(page.locator("#live-note")).to_contain_text("Reconnected")
    assert (len(sockets), sent) == (2, ["connection_init"])


async def test_a_token_refused_on_reconnecting_is_not_tried_again(
    page: Page, site: Site, api: GraphQLClient, db: Database, session_url: str
) -> None:
    secret, ada, service = await piano(api)
    sockets: list[WebSocketRoute] = []

    def through(socket: WebSocketRoute) -> None:
        server = socket.connect_to_server()
        sockets.append(socket)
        if len(sockets) == 1:
            return
        # From the second socket on, the token is one the server no longer accepts (as when it
        # expired): the server itself refuses the connection (4403).

        def forward(message: str | bytes) -> None:
            sent = json.loads(message)
            if sent["type"] == "connection_init":
                sent["payload"] = {"Authorization": "Bearer expired"}
            server.send(json.dumps(sent))

        socket.on_message(forward)

    await page.route_web_socket(re.compile(r"/graphql$"), through)
    await sign_in(page, site, secret)
    await expect(page.locator("#count")).to_have_text("0 bookings")
    await listening(page, session_url, db, ada, service, 8)
    await sockets[0].close(code=1012)
    await expect(page.locator("#live-note")).to_contain_text("no longer accepts this access token")
    assert await page.evaluate("document.body.dataset.live") == "refused"
    # Retrying would have opened a third socket within a second (the backoff starts at 0.5 s).
    await asyncio.sleep(3)
    assert len(sockets) == 2


async def test_the_dashboard_resumes_from_its_last_event_and_shows_what_it_missed(
    page: Page, site: Site, api: GraphQLClient, db: Database, session_url: str
) -> None:
    secret, ada, service = await piano(api)
    sockets: list[WebSocketRoute] = []

    def through(socket: WebSocketRoute) -> None:
        # The second socket opens but never hears from the server (held here): the page has
        # no subscription while a booking is made.
        if len(sockets) != 1:
            socket.connect_to_server()
        sockets.append(socket)

    await page.route_web_socket(re.compile(r"/graphql$"), through)
    await sign_in(page, site, secret)
    await expect(page.locator("#count")).to_have_text("0 bookings")
    await listening(page, session_url, db, ada, service, 8)
    await page.evaluate(
        """() => { window.shown = []; new MutationObserver((changes) => changes.forEach((c) =>
          c.addedNodes.forEach((n) => window.shown.push(n.textContent)))
        ).observe(document.querySelector("#toasts"), { childList: true }); }"""
    )
    await sockets[0].close(code=1012)

    async def held() -> bool:
        return len(sockets) == 2

    await eventually(held)
    made = await book(api, None, serviceId=service, start=at(monday(2), 9), guest=GUEST)
    assert made["__typename"] == "BookingCreated", made
    await sockets[1].close(code=1012)
    # Resumed with `since`, the subscription replays the booking: its toast, as if live.
    missed = page.locator(".toast", has_text="New booking: Gus Guest")
    await expect(missed).to_have_count(1)
    await expect(page.locator(f'tr[data-booking="{made["booking"]["id"]}"]')).to_be_visible()
    await booked_live(page, api, service, 10)
    # Each once, though the replay may send an event again.
    shown = await page.evaluate("window.shown")
    assert sum("New booking: Gus Guest" in text for text in shown) == 2, shown
    assert len(sockets) == 3
