"""The booking page in Chromium: a guest books and gets the email with the manage link; a
time booked in one page leaves the other at once; a paid service goes through the fake
Checkout to the confirmation; the keyboard alone books; a phone's width."""

from __future__ import annotations

import re
from datetime import date as date_cls
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, expect

from infra.db import Database
from tests.fakes.smtp_server import Inbox
from tests.fakes.stripe_server import FakeStripe
from tests.helpers import CLOCK, Background, GraphQLClient, Tutor, book, make_tutor, token, weekly
from tests.pages.conftest import Site, eventually

pytestmark = pytest.mark.browser

STEPS = ("PAGE_VIEW", "DATE_SELECTED", "TIME_SELECTED", "BOOKING_STARTED", "BOOKING_SUCCEEDED")

UPDATE = """mutation($input: UpdateTutorProfileInput!) { updateTutorProfile(input: $input) {
  __typename } }"""


STUDENT_KEY = "booking-api-student-token"
FUNNEL = """query($input: FunnelInput!) { funnel(input: $input) { steps { step visits } } }"""


async def piano(api: GraphQLClient, **settings: object) -> str:
    """Ada, open around the clock with a bio, teaches Piano by the hour: its id."""
    return (await lessons(api, **settings))[1]


async def lessons(api: GraphQLClient, **settings: object) -> tuple[Tutor, str]:
    ada = await make_tutor(api, "ada", "UTC", weekly("00:00", "00:00"))
    await api(UPDATE, {"input": {"bio": "Classical piano, <b>all levels</b>."}}, ada.token)
    made = await ada.service(title="Piano", slotIntervalMinutes=60, **settings)
    return ada, str(made["service"]["id"])


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
    ada, service = await lessons(api)
    await page.goto(f"{site.base}/book/{service}")
    await expect(page.locator("#tutor-name")).to_have_text("Ada")
    # API text goes in as text: the bio's markup is shown, not applied.
    await expect(page.locator(".bio")).to_have_text("Classical piano, <b>all levels</b>.")
    await expect(page.locator("#zone")).to_have_value("America/New_York")
    start = await choose_first_time(page)
    assert start.endswith(("-05:00", "-04:00"))  # the visitor's zone
    await page.get_by_label("Name").fill("Gus Guest")
    await page.get_by_label("Email").fill("gus at example")
    await page.get_by_role("button", name="Book").click()
    # The API's refusal, in words, beside the field it names.
    await expect(page.locator("#f-email-error")).to_contain_text("mail")
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

    # The visit's steps, one visit id from the page view to the booking.
    now = CLOCK()
    span = {
        "tutorId": ada.id,
        "from": (now - timedelta(hours=1)).isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
    }

    async def every_step_once() -> bool:
        steps = (await api(FUNNEL, {"input": span}, ada.token))["funnel"]["steps"]
        visits = {step["step"]: step["visits"] for step in steps}
        return all(visits[step] == 1 for step in STEPS)

    await eventually(every_step_once)


async def test_a_time_booked_in_one_page_leaves_the_other(
    page: Page, site: Site, api: GraphQLClient
) -> None:
    service = await piano(api)
    other = await page.context.new_page()
    await other.goto(f"{site.base}/book/{service}")
    await page.goto(f"{site.base}/book/{service}")
    for each in (page, other):
        await expect(each.locator("body")).to_have_attribute("data-live", "live")
    await other.locator(".day:not([aria-disabled])").first.click()
    start = await choose_first_time(page)
    taken = other.locator(f'#times .time[data-start="{start}"]')
    await expect(taken).to_have_count(1)
    await page.get_by_label("Name").fill("Gus Guest")
    await page.get_by_label("Email").fill("gus@example.com")
    await page.get_by_role("button", name="Book").click()
    await expect(page.locator("#confirmation h1")).to_have_text("You're booked")
    await expect(taken).to_have_count(0, timeout=1000)
    await expect(other.locator("#announcer")).to_contain_text("Just taken by someone else")


async def test_a_paid_service_goes_through_checkout_to_the_confirmation(
    page: Page, site: Site, api: GraphQLClient, stripe_fake: FakeStripe
) -> None:
    stripe_fake.webhook_url = f"{site.base}/webhooks/stripe"
    price = {"amountMinor": 4500, "currency": "USD"}
    service = await piano(api, durations=[{"minutes": 60, "price": price}])
    await page.goto(f"{site.base}/book/{service}")
    await expect(page.locator("#service-title")).to_have_text("Piano")
    await choose_first_time(page)
    await page.get_by_label("Name").fill("Pat Payer")
    await page.get_by_label("Email").fill("pat@example.com")
    await page.get_by_role("button", name="Book and pay").click()
    await expect(page.locator("h1")).to_have_text("Pay 45.00 USD")
    await page.locator("#pay").click()
    await expect(page).to_have_url(re.compile(r"/checkout/success\?session_id=cs_test_"))
    await expect(page.locator("#confirmation h1")).to_have_text("You're booked")
    await expect(page.locator("#confirmation")).to_contain_text("$45.00")


async def test_the_keyboard_alone_books(page: Page, site: Site, api: GraphQLClient) -> None:
    service = await piano(api)
    await page.goto(f"{site.base}/book/{service}")
    first = page.locator(".day:not([aria-disabled])").first
    date = await first.get_attribute("data-date")
    await first.focus()
    await page.keyboard.press("ArrowRight")  # the next day, in the next month if need be
    following = (date_cls.fromisoformat(str(date)) + timedelta(days=1)).isoformat()
    await expect(page.locator(f'.day[data-date="{following}"]')).to_be_focused()
    await page.keyboard.press("ArrowLeft")
    await expect(page.locator(f'.day[data-date="{date}"]')).to_be_focused()
    await page.keyboard.press("Enter")
    # Picking a day moves the focus to its first time.
    await expect(page.locator("#times .time").first).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("button", name="Choose another time")).to_be_focused()
    await page.keyboard.press("Tab")
    await page.keyboard.type("Kim Keys")
    await page.keyboard.press("Tab")
    await page.keyboard.type("kim@example.com")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Book")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("#confirmation h1")).to_be_focused()


async def test_a_phone_wide_page_lists_times_in_one_column(
    context: BrowserContext, site: Site, api: GraphQLClient, tmp_path: Path
) -> None:
    service = await piano(api)
    page = await context.new_page()
    await page.set_viewport_size({"width": 360, "height": 740})
    await page.goto(f"{site.base}/book/{service}")
    await page.locator(".day:not([aria-disabled])").first.click()
    times = page.locator("#times .time")
    await expect(times.first).to_be_visible()
    boxes = [await times.nth(i).bounding_box() for i in range(min(3, await times.count()))]
    assert len({box["x"] for box in boxes if box}) == 1  # one column
    assert all(box and box["height"] >= 44 for box in boxes)  # large touch targets
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360  # nothing wider than the screen
    shot = await page.screenshot(path=str(tmp_path / "book-360.png"), full_page=True)
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"


async def test_a_time_taken_meanwhile_offers_alternatives(
    page: Page, site: Site, api: GraphQLClient
) -> None:
    service = await piano(api)
    await page.goto(f"{site.base}/book/{service}")
    await expect(page.locator("body")).to_have_attribute("data-live", "live")
    start = await choose_first_time(page)
    await page.get_by_label("Name").fill("Gus Guest")
    await page.get_by_label("Email").fill("gus@example.com")
    someone = {"name": "Sue Quick", "email": "sue@example.com"}
    taken = await book(api, None, serviceId=service, start=start, guest=someone)
    assert taken["__typename"] == "BookingCreated", taken
    # Live: the page says so before the visitor even tries.
    await expect(page.locator("#form-error")).to_contain_text("Someone else just booked")
    await page.get_by_role("button", name="Book").click()
    await expect(page.locator("#form-error .error")).to_contain_text("is not available")
    alternatives = page.get_by_role("list", name="Other times").get_by_role("button")
    await expect(alternatives.first).to_be_visible()
    other = await alternatives.first.get_attribute("data-start")
    await alternatives.first.click()
    await page.get_by_label("Name").fill("Gus Guest")
    await page.get_by_label("Email").fill("gus@example.com")
    await page.get_by_role("button", name="Book").click()
    await expect(page.locator("#confirmation")).to_be_visible()
    assert other != start


async def test_a_signed_in_student_books_or_joins_the_waitlist(
    context: BrowserContext, site: Site, api: GraphQLClient
) -> None:
    sam = token("sam", name="Sam Student", email="sam@example.com")
    await context.add_init_script(f"sessionStorage.setItem({STUDENT_KEY!r}, {sam!r})")
    page = await context.new_page()
    service = await piano(api)
    await page.goto(f"{site.base}/book/{service}")
    await choose_first_time(page)
    await expect(page.locator("#booking-form")).to_contain_text("Booking as Sam Student")
    await page.get_by_role("button", name="Book").click()
    await expect(page.locator("#confirmation h1")).to_have_text("You're booked")
    await expect(page.locator("#manage-note")).to_have_count(0)  # theirs to manage signed in

    bea = await make_tutor(api, "bea", "UTC", [])  # no hours at all
    closed = (await bea.service(title="Closed"))["service"]["id"]
    await page.goto(f"{site.base}/book/{closed}")
    await expect(page.locator("#no-days")).to_be_visible()
    await page.get_by_role("button", name="Join the waitlist").click()
    await expect(page.locator("#waitlist")).to_contain_text("You are on the waitlist")
