"""Fakes of Zoom and Microsoft Graph and settings that point the service at them; webhook
settings as in production (the receiver and its development settings are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from infra.db import Database
from infra.settings import (
    MeetingProvider,
    MicrosoftSettings,
    Settings,
    ZoomSettings,
)
from tests.conftest import app_client
from tests.fakes import fixtures, graph_server, zoom_server
from tests.helpers import GraphQLClient


@pytest.fixture
def strict_settings(hook_settings: Settings) -> Settings:
    """As in production: https only, internal addresses refused."""
    return replace(
        hook_settings, webhooks=replace(hook_settings.webhooks, allow_private_targets=False)
    )


@pytest.fixture
async def strict_gql(strict_settings: Settings, db: Database) -> AsyncIterator[GraphQLClient]:
    async with app_client(strict_settings, db) as client:
        yield GraphQLClient(client)


zoom_fake_server, zoom_fake = fixtures("zoom_fake", zoom_server.start)
graph_fake_server, graph_fake = fixtures("graph_fake", graph_server.start)


@pytest.fixture
def zoom_settings(hooks_settings: Settings, zoom_fake: zoom_server.FakeZoom) -> Settings:
    """Email, Google Calendar (the fake) and Zoom meetings (the fake)."""
    zoom = ZoomSettings(
        account_id=zoom_server.ACCOUNT_ID,
        client_id=zoom_server.CLIENT_ID,
        client_secret=zoom_server.CLIENT_SECRET,
        api_base=f"{zoom_fake.base}/v2",
        oauth_url=f"{zoom_fake.base}/oauth/token",
    )
    return replace(hooks_settings, zoom=zoom, meeting_provider=MeetingProvider.ZOOM)


@pytest.fixture
def meet_settings(hooks_settings: Settings) -> Settings:
    """Email, and Google Calendar (the fake) with Google Meet links."""
    return replace(hooks_settings, meeting_provider=MeetingProvider.GOOGLE_MEET)


@pytest.fixture
def outlook_settings(hooks_settings: Settings, graph_fake: graph_server.FakeGraph) -> Settings:
    """Email, Google Calendar and Outlook (the fakes), and meeting rooms."""
    microsoft = MicrosoftSettings(
        client_id=graph_server.CLIENT_ID,
        client_secret=graph_server.CLIENT_SECRET,
        tenant=graph_server.TENANT,
        graph_base=f"{graph_fake.base}/v1.0",
        login_base=graph_fake.base,
    )
    return replace(hooks_settings, microsoft=microsoft)


@pytest.fixture
async def zoom_gql(zoom_settings: Settings, db: Database) -> AsyncIterator[GraphQLClient]:
    async with app_client(zoom_settings, db) as client:
        yield GraphQLClient(client)


@pytest.fixture
async def meet_gql(meet_settings: Settings, db: Database) -> AsyncIterator[GraphQLClient]:
    async with app_client(meet_settings, db) as client:
        yield GraphQLClient(client)


@pytest.fixture
async def outlook_gql(outlook_settings: Settings, db: Database) -> AsyncIterator[GraphQLClient]:
    async with app_client(outlook_settings, db) as client:
        yield GraphQLClient(client)
