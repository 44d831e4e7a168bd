"""Webhook tests: a local receiver, and the app and background work aimed at it (private
targets allowed, as in development; a short timeout and few attempts, so nothing waits)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import pytest

from infra.db import Database
from infra.settings import JobSettings, Settings, WebhookSettings
from tests.conftest import app_client
from tests.fakes import webhook_receiver
from tests.fakes.webhook_receiver import FakeReceiver
from tests.helpers import Background, GraphQLClient

ATTEMPTS = 3
TIMEOUT = 0.3


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[FakeReceiver]:
    fake, server = webhook_receiver.start()
    yield fake
    server.should_exit = True


@pytest.fixture
def receiver(receiver_server: FakeReceiver) -> FakeReceiver:
    """The receiver, emptied for this test; its answer past the timeout comes after 1 s."""
    receiver_server.reset()
    receiver_server.slow_seconds = 1.0
    return receiver_server


@pytest.fixture
def hook_settings(mail_settings: Settings) -> Settings:
    return replace(
        mail_settings,
        jobs=JobSettings(max_attempts=ATTEMPTS),
        webhooks=WebhookSettings(allow_private_targets=True, timeout_seconds=TIMEOUT),
    )


@pytest.fixture
def strict_settings(hook_settings: Settings) -> Settings:
    """As in production: https only, internal addresses refused."""
    return replace(
        hook_settings, webhooks=replace(hook_settings.webhooks, allow_private_targets=False)
    )


@pytest.fixture
async def hook_gql(hook_settings: Settings, db: Database) -> AsyncIterator[GraphQLClient]:
    async with app_client(hook_settings, db) as client:
        yield GraphQLClient(client)


@pytest.fixture
async def strict_gql(strict_settings: Settings, db: Database) -> AsyncIterator[GraphQLClient]:
    async with app_client(strict_settings, db) as client:
        yield GraphQLClient(client)


@pytest.fixture
def deliveries(hook_settings: Settings, db: Database, receiver: FakeReceiver) -> Background:
    """Background work on the test's clock; the receiver checks signatures on the same one."""
    background = Background(hook_settings, db)
    receiver.clock = lambda: background.now
    return background
