"""axe-core on every page, in the states a visitor reaches: no serious or critical violation."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.helpers import GraphQLClient, at, book, make_tutor, monday, weekly
from tests.pages.conftest import Site, serious_violations

pytestmark = pytest.mark.browser

QUESTIONS = """mutation($input: SetServiceQuestionsInput!) { setServiceQuestions(input: $input) {
  __typename } }"""


async def test_no_serious_violations_on_any_page(
    page: Page, site: Site, api: GraphQLClient, axe: str
) -> None:
    ada = await make_tutor(api, "ada", "UTC", weekly("00:00", "00:00"))
    service = (await ada.service(title="Piano", slotIntervalMinutes=60))["service"]["id"]
    questions = [
        {"prompt": "Level", "type": "SELECT", "options": ["Beginner", "Advanced"]},
        {"prompt": "Goals", "type": "TEXTAREA"},
        {"prompt": "Pieces", "type": "MULTI_SELECT", "options": ["Bach", "Chopin"]},
        {"prompt": "First lesson", "type": "CHECKBOX"},
    ]
    await api(QUESTIONS, {"input": {"serviceId": service, "questions": questions}}, ada.token)
    guest = {"name": "Gus Guest", "email": "gus@example.com"}
    made = await book(api, None, serviceId=service, start=at(monday(2), 10), guest=guest)
    found: dict[str, list[str]] = {}

    await page.goto(f"{site.base}/book/{service}")
    await page.locator(".day:not([aria-disabled])").first.click()
    await page.locator("#times .time").first.click()
    await expect(page.locator("#booking-form")).to_be_visible()
    found["booking form"] = await serious_violations(page, axe)

    await page.goto(f"{site.base}/embed/{service}?theme=dark")
    await page.locator(".day:not([aria-disabled])").first.click()
    await expect(page.locator("#times .time").first).to_be_visible()
    found["dark widget"] = await serious_violations(page, axe)

    await page.goto(f"{site.base}/manage?token={made['manageToken']}")
    await expect(page.locator("#check-in")).to_be_visible()
    found["manage"] = await serious_violations(page, axe)

    await page.goto(f"{site.base}/dashboard")
    found["sign in"] = await serious_violations(page, axe)
    await page.get_by_label("Access token").fill(ada.token)
    await page.get_by_role("button", name="Open dashboard").click()
    await expect(page.locator("#panel tbody tr")).to_have_count(1)
    found["dashboard"] = await serious_violations(page, axe)

    assert found == {name: [] for name in found}
