"""The widget on a tutor's own site, another origin: the loader script makes the iframe and
keeps it as tall as its page; a site the tutor did not list cannot frame it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.async_api import Page, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from tests.helpers import GraphQLClient, make_tutor, weekly
from tests.pages.conftest import EVERY_WIDGET, Site, eventually
from tests.processes import free_port, serve_in_thread

pytestmark = pytest.mark.browser

UPDATE = """mutation($input: UpdateTutorProfileInput!) { updateTutorProfile(input: $input) {
  __typename ... on InvalidInput { message field } } }"""


def tutor_site(base: str) -> Iterator[str]:
    """A tutor's own site on its own loopback origin: `/?service=…` embeds that widget."""

    async def home(request: Request) -> HTMLResponse:
        service = request.query_params["service"]
        return HTMLResponse(
            '<!doctype html><html lang="en"><title>School</title><h1>Our school</h1>'
            f'<script src="{base}/static/embed.js" data-service="{service}" '
            'data-accent="#aa3300" data-theme="dark"></script><p id="after">Footer</p></html>'
        )

    port = free_port()
    server = serve_in_thread(Starlette(routes=[Route("/", home)]), port)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True


@pytest.fixture(scope="module")
def school(site: Site) -> Iterator[str]:
    yield from tutor_site(site.base)


@pytest.fixture(scope="module")
def stranger(site: Site) -> Iterator[str]:
    yield from tutor_site(site.base)


async def lesson(api: GraphQLClient, origins: list[str]) -> str:
    ada = await make_tutor(api, "ada", "UTC", weekly("00:00", "00:00"))
    updated = await api(UPDATE, {"input": {"embedOrigins": origins}}, ada.token)
    assert updated["updateTutorProfile"]["__typename"] == "TutorProfileUpdated", updated
    made = await ada.service(title="Piano", slotIntervalMinutes=60)
    return str(made["service"]["id"])


async def test_the_widget_fits_its_iframe_on_the_tutors_site(
    page: Page, site: Site, api: GraphQLClient, school: str
) -> None:
    service = await lesson(api, [school])
    await page.goto(f"{school}/?service={service}")
    frame_element = page.locator("iframe")
    widget = page.frame_locator("iframe")
    await expect(widget.locator("#tutor-name")).to_have_text("Ada")
    assert await frame_element.get_attribute("title") == "Book a lesson"
    # The theme from the snippet: dark, with the tutor's accent.
    html = widget.locator("html")
    await expect(html).to_have_attribute("data-theme", "dark")
    await expect(html).to_have_attribute("style", "--accent: #aa3300;")
    # The iframe takes its page's height, and follows it as the page grows.
    await expect(frame_element).not_to_have_attribute("style", "height: 600px")
    before = await _height(page)
    await widget.locator(".day:not([aria-disabled])").first.click()
    await expect(widget.locator("#times .time").first).to_be_visible()
    await eventually(lambda: _taller(page, before))
    inner = await widget.locator("html").evaluate(
        "e => Math.ceil(e.getBoundingClientRect().height)"
    )
    assert abs(await _height(page) - inner) <= 1


async def _height(page: Page) -> float:
    box = await page.locator("iframe").bounding_box()
    return box["height"] if box else 0.0


async def _taller(page: Page, than: float) -> bool:
    return await _height(page) > than


async def _said(console: list[str], words: str) -> bool:
    return any(words in text for text in console)


async def test_a_site_not_listed_may_not_frame_the_widget(
    page: Page, site: Site, api: GraphQLClient, school: str, stranger: str
) -> None:
    service = await lesson(api, [school])
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text))
    await page.goto(f"{stranger}/?service={service}")
    await eventually(lambda: _said(refused, "frame-ancestors"))
    frame = page.frames[-1]
    assert frame is not page.main_frame
    assert await frame.locator("#tutor-name").count() == 0
    async with httpx.AsyncClient(base_url=site.base) as client:
        policy = (await client.get(f"/embed/{service}")).headers["content-security-policy"]
        assert f"frame-ancestors 'self' {EVERY_WIDGET} {school}" in policy
        assert stranger not in policy
