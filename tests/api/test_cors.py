"""Browser apps on other origins (CORS_ORIGINS): allowed ones may call /graphql with a bearer
token, the calendar files and the feed; others get no Access-Control headers; none by default."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from infra.db import Database
from infra.settings import HttpApi, Settings, SettingsError
from tests.conftest import app_client
from tests.helpers import token

APP = "http://localhost:5173"
ELSEWHERE = "https://evil.example"
VIEWER = {"query": "{ viewer { userId } }"}


@pytest.fixture
async def cors_http(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    api = HttpApi(cors_origins=(APP, "https://app.example.com"))
    async with app_client(replace(settings, api=api), db) as client:
        yield client


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }


async def test_preflight_from_an_allowed_origin(cors_http: httpx.AsyncClient) -> None:
    response = await cors_http.options("/graphql", headers=preflight(APP))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed
    assert "content-type" in allowed
    assert "POST" in response.headers["access-control-allow-methods"]


async def test_preflight_from_another_origin_is_refused(cors_http: httpx.AsyncClient) -> None:
    response = await cors_http.options("/graphql", headers=preflight(ELSEWHERE))
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_a_request_with_a_token_from_an_allowed_origin(
    cors_http: httpx.AsyncClient,
) -> None:
    headers = {"Origin": APP, "Authorization": f"Bearer {token('ada')}"}
    response = await cors_http.post("/graphql", json=VIEWER, headers=headers)
    assert response.json() == {"data": {"viewer": {"userId": "ada"}}}
    assert response.headers["access-control-allow-origin"] == APP
    assert response.headers["access-control-allow-credentials"] == "true"


async def test_a_request_with_a_token_from_another_origin_gets_no_grant(
    cors_http: httpx.AsyncClient,
) -> None:
    """The server answers (CORS is the browser's check), but without the headers the browser
    needs to hand the answer to the page."""
    headers = {"Origin": ELSEWHERE, "Authorization": f"Bearer {token('ada')}"}
    response = await cors_http.post("/graphql", json=VIEWER, headers=headers)
    assert "access-control-allow-origin" not in response.headers


async def test_calendar_files_and_feeds_are_covered(cors_http: httpx.AsyncClient) -> None:
    for path in ("/bookings/nothing.ics?sig=x", "/calendar/nothing.ics"):
        response = await cors_http.get(path, headers={"Origin": APP})
        assert response.status_code == 404
        assert response.headers["access-control-allow-origin"] == APP


async def test_no_cors_by_default(http: httpx.AsyncClient) -> None:
    response = await http.options("/graphql", headers=preflight(APP))
    assert response.status_code == 405
    assert "access-control-allow-origin" not in response.headers
    response = await http.post("/graphql", json=VIEWER, headers={"Origin": APP})
    assert "access-control-allow-origin" not in response.headers


async def test_any_origin_for_development(settings: Settings, db: Database) -> None:
    async with app_client(replace(settings, api=HttpApi(cors_origins=("*",))), db) as client:
        response = await client.post("/graphql", json=VIEWER, headers={"Origin": ELSEWHERE})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


def test_origins_setting() -> None:
    env = {"CORS_ORIGINS": " http://localhost:5173, https://app.example.com/ "}
    assert Settings.from_env(env).api.cors_origins == (APP, "https://app.example.com")
    assert Settings.from_env({}).api.cors_origins == ()
    for wrong in ("localhost:5173", "https://app.example.com/graphql", "ftp://x"):
        with pytest.raises(SettingsError, match="CORS_ORIGINS"):
            Settings.from_env({"CORS_ORIGINS": wrong})
