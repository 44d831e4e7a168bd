"""The pages against a real served app: one server per test module (uvicorn in a thread, live
updates through an in-memory hub unless the module's `broker` names another), Chromium through
Playwright, the data made through the served API, and the SMTP and Stripe fakes of the suite."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page
from starlette.applications import Starlette

from booking_api.app import build_app
from infra.db import Database, create_engine
from infra.pubsub import Hub, backend_for
from infra.settings import Settings, SmtpSettings, StripeSettings
from tests.fakes import stripe_server
from tests.fakes.smtp_server import Inbox
from tests.helpers import CLOCK, Background, GraphQLClient
from tests.processes import free_port, serve_in_thread

# EMBED_ORIGINS of the served app: a site that may frame every widget.
EVERY_WIDGET = "https://directory.example"


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 5) -> None:
    """Waits until `check` holds (polling, as Playwright's expect does), or fails."""
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    assert await check(), f"{check} never held"


@dataclass
class Site:
    base: str
    settings: Settings


@pytest.fixture(scope="module")
def broker() -> str:
    """The served app's BROADCAST_URL; a module that needs a real broker overrides it."""
    return "memory://"


@pytest.fixture(scope="module")
def site(
    settings: Settings,
    session_url: str,
    broker: str,
    smtp_server: Inbox,
    stripe_fake_server: stripe_server.FakeStripe,
) -> Iterator[Site]:
    """The app on a loopback port, with email (the SMTP fake) and cards (the Stripe fake)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    served = replace(
        settings,
        public_base_url=base,
        api=replace(settings.api, embed_origins=(EVERY_WIDGET,)),
        manage_url=f"{base}/manage?token={{token}}",
        smtp=SmtpSettings(host="127.0.0.1", port=smtp_server.port, sender="bookings@t.example"),
        stripe=StripeSettings(
            secret_key=stripe_server.API_KEY,
            webhook_secret=stripe_server.WEBHOOK_SECRET,
            api_base=stripe_fake_server.base,
            success_url=f"{base}/checkout/success?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{base}/checkout/cancelled",
        ),
    )
    assert settings.database_url is not None
    hub = Hub(backend_for(broker, lambda: session_url))
    db = Database(create_engine(settings.database_url, pool_size=4), publish=hub.publish_all)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await hub.connect()
        yield
        await hub.disconnect()
        await db.engine.dispose()

    server = serve_in_thread(build_app(served, db, lifespan, hub, clock=CLOCK), port)
    yield Site(base, served)
    server.should_exit = True


@pytest.fixture
async def api(site: Site, db: Database) -> AsyncIterator[GraphQLClient]:
    """The served app's GraphQL endpoint (so its changes reach the pages live); the database
    emptied first."""
    async with httpx.AsyncClient(base_url=site.base, timeout=30) as client:
        yield GraphQLClient(client)


@pytest.fixture
def jobs(site: Site, db: Database) -> Background:
    """The served app's background work (emails), run when the test says."""
    return Background(site.settings, db)


AXE = "axe-core@4.14.1"


@pytest.fixture(scope="session")
def axe(tmp_path_factory: pytest.TempPathFactory) -> str:
    """axe-core's script, installed from the npm registry for this run (never committed)."""
    if shutil.which("npm") is None:
        if os.environ.get("CI"):
            raise AssertionError("npm is missing: the accessibility checks install axe-core")
        pytest.skip("npm is not installed: the accessibility checks install axe-core with it")
    folder = tmp_path_factory.mktemp("axe")
    done = subprocess.run(
        ["npm", "install", "--prefix", str(folder), "--no-audit", "--no-fund", "--silent", AXE],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return (folder / "node_modules" / "axe-core" / "axe.min.js").read_text()


async def serious_violations(page: Page, axe: str) -> list[str]:
    """What axe-core finds serious or critical on the page as it is now (run through the
    devtools protocol, which the page's CSP does not govern)."""
    await page.evaluate(axe)
    found = await page.evaluate("async () => (await axe.run()).violations")
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile in New York's zone, so the page's detected zone is not UTC."""
    context = await browser.new_context(timezone_id="America/New_York", locale="en-US")
    yield context
    await context.close()


@pytest.fixture
async def page(context: BrowserContext) -> AsyncIterator[Page]:
    page = await context.new_page()
    errors: list[Any] = []
    page.on("pageerror", lambda error: errors.append(error))
    yield page
    assert errors == [], errors
