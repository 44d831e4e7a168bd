"""The tutor's dashboard in Chromium: signed in by a pasted token, a booking made elsewhere
arrives live with a toast, a past session is marked completed, and an owner switches members."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Page, expect

from infra.db import Database
from tests.helpers import CLOCK, GraphQLClient, add_booking, at, book, make_tutor, monday, weekly
from tests.helpers import organization as make_organization
from tests.pages.conftest import Site

pytestmark = pytest.mark.browser

MOVED = "query($token: String!) { bookingByToken(token: $token) { start } }"
SCHEDULES = "{ viewer { tutor { schedules { rules { weekday } } } } }"


async def sign_in(page: Page, site: Site, secret: str) -> None:
    await page.goto(f"{site.base}/dashboard")
    await page.get_by_label("Access token").fill(secret)
    await page.get_by_role("button", name="Open dashboard").click()


async def test_a_new_booking_arrives_live(page: Page, site: Site, api: GraphQLClient) -> None:
    ada = await make_tutor(api, "ada", "UTC", weekly("00:00", "00:00"))
    service = (await ada.service(title="Piano", slotIntervalMinutes=60))["service"]["id"]
    await sign_in(page, site, ada.token)
    await expect(page.locator("h1")).to_have_text("Ada's bookings")
    await expect(page.locator("#count")).to_have_text("0 bookings")
    await expect(page.locator("body")).to_have_attribute("data-live", "live")
    guest = {"name": "Gus Guest", "email": "gus@example.com"}
    made = await book(api, None, serviceId=service, start=at(monday(2), 10), guest=guest)
    assert made["__typename"] == "BookingCreated", made
    await expect(page.locator(".toast")).to_contain_text("New booking: Gus Guest")
    row = page.locator(f'tr[data-booking="{made["booking"]["id"]}"]')
    await expect(row).to_contain_text("gus@example.com")
    await expect(row.locator(".badge")).to_have_text("Confirmed")
    # The token is kept for this tab only, never in the address.
    assert "token" not in page.url


async def test_a_past_session_is_marked_completed(
    page: Page, site: Site, api: GraphQLClient, db: Database
) -> None:
    ada = await make_tutor(api, "ada", "UTC", weekly("00:00", "00:00"))
    service = (await ada.service(title="Piano"))["service"]["id"]
    start = CLOCK().replace(microsecond=0) - timedelta(hours=3)
    await add_booking(db, ada.id, service, start)
    await sign_in(page, site, ada.token)
    await page.get_by_role("tab", name="Past").click()
    badge = page.locator("#panel tbody .badge")
    await expect(badge).to_have_text("Confirmed")
    await page.get_by_role("button", name="Completed").click()
    await expect(badge).to_have_text("Completed")
    await expect(page.locator(".toast", has_text="Marked completed")).to_have_count(1)


async def test_an_owner_switches_between_members(
    page: Page, site: Site, api: GraphQLClient
) -> None:
    ada = await make_tutor(api, "ada", "UTC", weekly("00:00", "00:00"))
    bob = await make_tutor(api, "bob", "UTC", weekly("00:00", "00:00"))
    await make_organization(api, ada, bob)
    service = (await bob.service(title="Cello", slotIntervalMinutes=60))["service"]["id"]
    guest = {"name": "Gus Guest", "email": "gus@example.com"}
    await book(api, None, serviceId=service, start=at(monday(2), 10), guest=guest)
    await sign_in(page, site, ada.token)
    # Side by side: each member's coming weeks.
    await expect(page.locator(f'#agenda [data-tutor="{bob.id}"]')).to_contain_text("Cello")
    await expect(page.locator(f'#agenda [data-tutor="{ada.id}"]')).to_contain_text("Nothing")
    await expect(page.locator("#count")).to_have_text("0 bookings")
    await page.get_by_label("Bookings of").select_option(label="Bob")
    await expect(page.locator("#count")).to_have_text("1 bookings")
    await expect(page.locator("#panel tbody")).to_contain_text("Cello")


async def test_hours_are_edited_in_place_with_the_conflicts_shown(
    page: Page, site: Site, api: GraphQLClient
) -> None:
    ada = await make_tutor(api, "ada", "UTC", weekly("09:00", "17:00", ["MONDAY"]))
    service = (await ada.service(title="Piano", slotIntervalMinutes=60))["service"]["id"]
    day = monday(2)
    guest = {"name": "Gus Guest", "email": "gus@example.com"}
    made = await book(api, None, serviceId=service, start=at(day, 10), guest=guest)
    assert made["__typename"] == "BookingCreated", made
    await sign_in(page, site, ada.token)
    await expect(page.get_by_label("Start of row 1")).to_have_value("09:00")
    await page.get_by_role("button", name="Add hours").click()
    await page.get_by_label("Day of row 2").select_option("TUESDAY")
    await page.get_by_role("button", name="Save weekly hours").click()
    await expect(page.locator("#hours-note")).to_have_text("Weekly hours saved.")
    rules = (await api(SCHEDULES, token=ada.token))["viewer"]["tutor"]["schedules"][0]["rules"]
    assert [rule["weekday"] for rule in rules] == ["MONDAY", "TUESDAY"]

    await page.get_by_label("Date").fill(day.isoformat())
    await page.get_by_role("button", name="Add change").click()
    await expect(page.locator("#conflicts")).to_contain_text("Gus Guest")
    await expect(page.locator("#overrides")).to_contain_text("blocked, whole day")


async def test_a_booking_is_moved_to_a_free_time(
    page: Page, site: Site, api: GraphQLClient
) -> None:
    ada = await make_tutor(api, "ada", "UTC", weekly("00:00", "00:00"))
    service = (await ada.service(title="Piano", slotIntervalMinutes=60))["service"]["id"]
    guest = {"name": "Gus Guest", "email": "gus@example.com"}
    made = await book(api, None, serviceId=service, start=at(monday(2), 10), guest=guest)
    await sign_in(page, site, ada.token)
    row = page.locator(f'tr[data-booking="{made["booking"]["id"]}"]')
    await row.get_by_role("button", name="Reschedule").click()
    await row.locator(".day:not([aria-disabled])").first.click()
    time = row.locator("#times .time").first
    new_start = str(await time.get_attribute("data-start"))
    await time.click()
    # The booking's own event (its toast "Moved: …") may come before the mutation's answer.
    await expect(page.locator(".toast", has_text="Booking moved")).to_have_count(1)
    moved = await api(MOVED, {"token": made["manageToken"]})
    assert moved["bookingByToken"]["start"] == (
        datetime.fromisoformat(new_start).astimezone(UTC).isoformat()
    )
