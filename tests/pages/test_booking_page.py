"""The booking page in Chromium: a guest books and gets the email with the manage link; a
time booked in one page leaves the other at once; a paid service goes through the fake
Checkout to the confirmation; the keyboard alone books; a phone's width."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from infra.db import Database
from tests.fakes.smtp_server import Inbox
from tests.helpers import Background, GraphQLClient, make_tutor, weekly
from tests.pages.conftest import Site

pytestmark = pytest.mark.browser

UPDATE = """mutation($input: UpdateTutorProfileInput!) { updateTutorProfile(input: $input) {
  __typename } }"""


async def piano(api: GraphQLClient, **settings: object) -> str:
    """Ada, open around the clock with a bio, teaches Piano by the hour: its id."""
    ada = await make_tutor(api, "ada", "UTC", weekly("00:00", "00:00"))
    await api(UPDATE, {"input": {"bio": "Classical piano, <b>all levels</b>."}}, ada.token)
    made = await ada.service(title="Piano", slotIntervalMinutes=60, **settings)
    return str(made["service"]["id"])


async def choose_first_time(page: Page) -> str:
    """Clicks the first day with times, then its first time: the time's instant."""
    await page.locator(".day:not([aria-disabled])").first.click()
    time = page.locator("#times .time").first
    start = await time.get_attribute("data-start")
    await time.click()
    assert start is not None
    return start


async def test_a_guest_books_and_gets_the_manage_link(
    page: Page, site: Site, api: GraphQLClient, jobs: Background, inbox: Inbox, db: Database
) -> None:
    service = await piano(api)
    await page.goto(f"{site.base}/book/{service}")
    await expect(page.locator("#tutor-name")).to_have_text("Ada")
    # API text goes in as text: the bio's markup is shown, not applied.
    await expect(page.locator(".bio")).to_have_text("Classical piano, <b>all levels</b>.")
    await expect(page.locator("#zone")).to_have_value("America/New_York")
    start = await choose_first_time(page)
    assert start.endswith(("-05:00", "-04:00"))  # the visitor's zone
    await page.get_by_label("Name").fill("Gus Guest")
    await page.get_by_label("Email").fill("gus@example.com")
    await page.get_by_role("button", name="Book").click()
    confirmation = page.locator("#confirmation")
    await expect(confirmation.locator("h1")).to_have_text("You're booked")
    await expect(page.locator("#ics")).to_have_attribute("href", re.compile(r"\.ics\?sig="))
    await expect(page.locator("#manage-note a")).to_have_attribute(
        "href", re.compile(r"^/manage\?token=")
    )

    await jobs.run()
    [email] = inbox.to("gus@example.com")
    assert f"{site.base}/manage?token=" in email.text
