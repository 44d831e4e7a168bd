"""The guest's manage page in Chromium: the token leaves the address bar, the booking is moved
to another free time and cancelled with a reason, and a pending check-in form is sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.helpers import ATTENDANCE, CLOCK, GraphQLClient, at, book, make_tutor, monday, weekly
from tests.pages.conftest import Site

pytestmark = pytest.mark.browser

BY_TOKEN = """query($token: String!) { bookingByToken(token: $token) {
  status start cancellationReason formStatus } }"""
QUESTIONS = """mutation($input: SetServiceQuestionsInput!) { setServiceQuestions(input: $input) {
  __typename } }"""
GUEST = {"name": "Gus Guest", "email": "gus@example.com"}


async def guest_booking(
    api: GraphQLClient, questions: list[dict[str, Any]] | None = None, **service: Any
) -> str:
    """A guest's booking of Ada's lesson two Mondays ahead: its manage token."""
    ada = await make_tutor(api, "ada", "UTC", weekly("00:00", "00:00"))
    made = await ada.service(title="Piano", slotIntervalMinutes=60, **service)
    service_id = made["service"]["id"]
    if questions:
        await api(
            QUESTIONS, {"input": {"serviceId": service_id, "questions": questions}}, ada.token
        )
    booked = await book(api, None, serviceId=service_id, start=at(monday(2), 10), guest=GUEST)
    return str(booked["manageToken"])


async def test_the_guest_reschedules_then_cancels(
    page: Page, site: Site, api: GraphQLClient
) -> None:
    secret = await guest_booking(api, cancellationNoticeHours=24)
    response = await page.goto(f"{site.base}/manage?token={secret}")
    assert response is not None
    assert response.headers["referrer-policy"] == "no-referrer"
    await expect(page.locator("#status")).to_have_text("Confirmed")
    assert page.url == f"{site.base}/manage"  # the token is gone from the address bar
    await page.get_by_role("button", name="Choose a new time").click()
    await page.locator(".day:not([aria-disabled])").first.click()
    time = page.locator("#times .time").first
    new_start = await time.get_attribute("data-start")
    await time.click()
    await expect(page.locator("#note")).to_contain_text("Moved to")
    moved = (await api(BY_TOKEN, {"token": secret}))["bookingByToken"]
    assert moved["start"] == _utc(str(new_start))

    await expect(page.locator("#refund-rule")).to_contain_text("free")
    await page.get_by_label("Reason (optional)").fill("Sick, sorry")
    await page.get_by_role("button", name="Cancel booking").click()
    await expect(page.locator("#note")).to_contain_text("Cancelled")
    await expect(page.locator("#status")).to_have_text("Cancelled")
    cancelled = (await api(BY_TOKEN, {"token": secret}))["bookingByToken"]
    assert (cancelled["status"], cancelled["cancellationReason"]) == ("CANCELLED", "Sick, sorry")


async def test_a_pending_check_in_form_is_sent(page: Page, site: Site, api: GraphQLClient) -> None:
    questions = [{"prompt": "What do you play?", "type": "TEXT", "required": True}]
    secret = await guest_booking(api, questions=questions)
    await page.goto(f"{site.base}/manage?token={secret}")
    await page.get_by_role("button", name="Send answers").click()
    # The API's refusal, in words, in the form it is about.
    await expect(page.locator("#check-in #form-error")).to_contain_text("What do you play?")
    await page.get_by_label("What do you play? (required)").fill("Cello")
    await page.get_by_role("button", name="Send answers").click()
    await expect(page.locator("#note")).to_have_text("Thank you: your answers were sent.")
    assert (await api(BY_TOKEN, {"token": secret}))["bookingByToken"]["formStatus"] == "SUBMITTED"


async def test_a_completed_session_is_reviewed(page: Page, site: Site, api: GraphQLClient) -> None:
    ada = await make_tutor(api, "ada", "UTC", weekly("00:00", "00:00"))
    service = (await ada.service(title="Piano", slotIntervalMinutes=60))["service"]["id"]
    start = at(monday(2), 10)
    booked = await book(api, None, serviceId=service, start=start, guest=GUEST)
    CLOCK.set(datetime.fromisoformat(start) + timedelta(hours=2))  # the session is over
    marked = await api(
        ATTENDANCE,
        {"input": {"bookingId": booked["booking"]["id"], "status": "COMPLETED"}},
        ada.token,
    )
    assert marked["markAttendance"]["__typename"] == "AttendanceMarked", marked
    await page.goto(f"{site.base}/manage?token={booked['manageToken']}")
    await expect(page.locator("#status")).to_have_text("Completed")
    await expect(page.get_by_role("button", name="Cancel booking")).to_have_count(0)
    await page.get_by_role("button", name="Send review").click()
    await expect(page.locator("#review-error")).to_have_text("Choose a rating from 1 to 5.")
    await page.get_by_label("5").check()
    await page.get_by_label("Comment (optional)").fill("Lovely lesson")
    await page.get_by_role("button", name="Send review").click()
    await expect(page.locator("#note")).to_have_text("Thank you for your review.")
    await expect(page.locator("#review")).to_have_count(0)


async def test_every_page_sends_the_strict_headers(site: Site) -> None:
    async with httpx.AsyncClient(base_url=site.base) as client:
        for path in ("/book/x", "/manage", "/dashboard", "/checkout/success", "/static/gql.js"):
            headers = (await client.get(path)).headers
            policy = headers["content-security-policy"]
            assert "script-src 'self'" in policy and "unsafe-inline" not in policy
            assert "frame-ancestors 'none'" in policy
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "no-referrer"
        assert (await client.get("/static/../app.py")).status_code == 404


def _utc(stamp: str) -> str:
    """An instant written with an offset, as the API writes it in UTC."""
    return datetime.fromisoformat(stamp).astimezone(UTC).isoformat()
