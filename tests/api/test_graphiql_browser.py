"""GraphiQL in a real browser (Debian's chromium, driven by Playwright) with every request to
the outside blocked: after `booking-api graphiql install` it runs an operation from this server
alone; without the install, the page says what to run."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, Route

from booking_api.app import build_app
from booking_api.graphiql import is_installed
from infra.db import Database, create_engine
from infra.settings import Settings
from tests.processes import BIN, free_port, serve_in_thread

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session")
def graphiql_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with GraphiQL installed by the command users run (npm, once a session)."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: `booking-api graphiql install` needs it")
    data_dir = tmp_path_factory.mktemp("data")
    done = subprocess.run(
        [str(BIN), "graphiql", "install"],
        env={**os.environ, "BOOKING_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert is_installed(data_dir)
    return data_dir


@pytest.fixture
def served(settings: Settings) -> Iterator[tuple[str, Path]]:
    """The app on a loopback port, with a data folder of its own (GraphiQL not installed).
    `{ viewer }` needs no database: a fresh engine is enough, whatever loop it ends up on."""
    data_dir = Path(tempfile.mkdtemp(prefix="graphiql-test-"))
    assert settings.database_url is not None
    db = Database(create_engine(settings.database_url, pool_size=1))
    port = free_port()
    server = serve_in_thread(build_app(replace(settings, data_dir=data_dir), db), port)
    yield f"http://127.0.0.1:{port}", data_dir
    server.should_exit = True
    shutil.rmtree(data_dir, ignore_errors=True)


async def offline_page(browser: Browser) -> tuple[Page, list[str]]:
    """A page whose requests off this machine fail, as without internet; what it tried, listed."""
    page = await browser.new_page()
    blocked: list[str] = []

    async def gate(route: Route) -> None:
        url = route.request.url
        if url.startswith(("http://127.0.0.1:", "ws://127.0.0.1:")):
            await route.continue_()
        else:
            blocked.append(url)
            await route.abort("internetdisconnected")

    await page.route("**/*", gate)
    return page, blocked


async def test_graphiql_runs_an_operation_offline(
    browser: Browser, served: tuple[str, Path], graphiql_data_dir: Path
) -> None:
    base, data_dir = served
    page, blocked = await offline_page(browser)
    try:
        # Installed after the server started: it is picked up without a restart.
        shutil.copytree(graphiql_data_dir / "graphiql", data_dir / "graphiql")
        await page.goto(f"{base}/graphql")
        editor = page.locator(".graphiql-query-editor .CodeMirror")
        await editor.wait_for(timeout=20_000)
        # The example operations are there as tabs.
        assert await page.locator(".graphiql-tab").count() == 5
        await page.evaluate(
            "document.querySelector('.graphiql-query-editor .CodeMirror')"
            ".CodeMirror.setValue('{ viewer { userId } }')"
        )
        await page.locator(".graphiql-execute-button").click()
        result = page.locator(".graphiql-response .CodeMirror-code")
        await result.filter(has_text="userId").wait_for(timeout=10_000)
        text = await result.inner_text()
        assert '"viewer"' in text
        assert '"userId": null' in text
        assert blocked == []
    finally:
        await page.close()


async def test_without_the_install_the_page_says_what_to_run(
    browser: Browser, served: tuple[str, Path]
) -> None:
    base, _ = served
    page, blocked = await offline_page(browser)
    try:
        await page.goto(f"{base}/graphql")
        note = page.locator("#graphiql-note.failed")
        await note.wait_for(timeout=10_000)
        assert "booking-api graphiql install" in await note.inner_text()
        assert await note.is_visible()
        assert any(url.startswith("https://unpkg.com/graphiql@") for url in blocked)
    finally:
        await page.close()
