from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime

import httpx
import pytest
from sqlmodel import SQLModel

import models  # noqa: F401  (every table)
from booking_api.app import build_app
from booking_api.migrate import upgrade
from infra.db import Database, service_database
from infra.settings import (
    GoogleSettings,
    JobSettings,
    MeetingProvider,
    RateLimits,
    Settings,
    SmtpSettings,
    StripeSettings,
    WebhookSettings,
)
from tests import calendar_days
from tests.fakes import fixtures, google_server, stripe_server, webhook_receiver
from tests.fakes import smtp_server as smtp_test_server
from tests.fakes.webhook_receiver import FakeReceiver
from tests.helpers import (
    CLOCK,
    TEST_DATA_KEY,
    TEST_RATE,
    TEST_SECRET,
    Background,
    GraphQLClient,
    TestClock,
    create_database,
    direct_of,
    drop_database,
    server_admin_url,
)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """The database of this run, built by the migrations.

    TEST_DATABASE_URL is used as it is (it must be disposable); otherwise a fresh database is
    made on DATABASE_URL's server or on the embedded one, and dropped at the end.
    """
    explicit = os.environ.get("TEST_DATABASE_URL")
    if explicit:
        upgrade(direct_of(explicit) or explicit)
        yield explicit
        return
    admin = server_admin_url()
    url = create_database(admin)
    try:
        upgrade(direct_of(url) or url)
        yield url
    finally:
        drop_database(admin, url)


@pytest.fixture(scope="session")
def session_url(database_url: str) -> str:
    """The database for connections that keep a session (LISTEN): past PgBouncer if the suite
    runs through it (DATABASE_DIRECT_URL)."""
    return direct_of(database_url) or database_url


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        database_direct_url=direct_of(database_url),
        auth_jwt_secret=TEST_SECRET,
        data_encryption_keys=(TEST_DATA_KEY,),
        rate_limits=RateLimits(anonymous=TEST_RATE, authenticated=TEST_RATE),
    )


@pytest.fixture(scope="session")
async def shared_db(settings: Settings) -> AsyncIterator[Database]:
    db = service_database(settings, str(settings.database_url), pool_size=10)
    yield db
    await db.engine.dispose()


@pytest.fixture(autouse=True)
def clock(request: pytest.FixtureRequest) -> TestClock:
    """Each test starts on the configured day (BOOKING_TEST_NOW) or today, or on the awkward day
    it is repeated for (BOOKING_TEST_DAYS, below)."""
    CLOCK.reset()
    day: datetime | None = getattr(request, "param", None)
    if day is not None:
        CLOCK.set(day)
    return CLOCK


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """With BOOKING_TEST_DAYS (lines of `python -m tests.calendar_days`), each `calendar` test
    runs once per day listed, in this one session."""
    days = calendar_days.parse(os.environ.get("BOOKING_TEST_DAYS", ""))
    if days and metafunc.definition.get_closest_marker("calendar"):
        labels = [label for label, _ in days]
        metafunc.parametrize("clock", [at for _, at in days], indirect=True, ids=labels)


@pytest.fixture
async def db(shared_db: Database) -> Database:
    """The database, emptied: every test starts from nothing.

    DELETE, children first, in one round trip: a test leaves a few rows, and TRUNCATE's new
    files for each of the tables and their indexes cost 0.3-0.9 s per test where this costs
    20-50 ms (measured on the embedded server)."""
    async with shared_db.engine.begin() as connection:
        await connection.exec_driver_sql(EMPTY_ALL)
    return shared_db


EMPTY_ALL = "DO $$ BEGIN {} END $$".format(
    " ".join(f'DELETE FROM "{t.name}";' for t in reversed(SQLModel.metadata.sorted_tables))
)


@asynccontextmanager
async def app_client(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the app built with these settings, in process."""
    transport = httpx.ASGITransport(app=build_app(settings, db, clock=CLOCK))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
async def http(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings, db) as client:
        yield client


@pytest.fixture
def gql(http: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(http)


# The Stripe-compatible test server, emptied for each test.
stripe_fake_server, stripe_fake = fixtures("stripe_fake", stripe_server.start)


@pytest.fixture
def card_settings(settings: Settings, stripe_fake: stripe_server.FakeStripe) -> Settings:
    stripe = StripeSettings(
        secret_key=stripe_server.API_KEY,
        webhook_secret=stripe_server.WEBHOOK_SECRET,
        api_base=stripe_fake.base,
        success_url="https://app.example/paid?session={CHECKOUT_SESSION_ID}",
        cancel_url="https://app.example/not-paid",
    )
    return replace(settings, stripe=stripe)


@pytest.fixture
async def card_http(card_settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The app with card payments on, aimed at the fake Stripe."""
    async with app_client(card_settings, db) as client:
        yield client


@pytest.fixture
def card_gql(card_http: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(card_http)


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[smtp_test_server.Inbox]:
    inbox, controller = smtp_test_server.start()
    yield inbox
    inbox.open.set()
    controller.stop()


@pytest.fixture
def inbox(smtp_server: smtp_test_server.Inbox) -> smtp_test_server.Inbox:
    """The SMTP test server's mailbox, emptied for this test."""
    smtp_server.reset()
    return smtp_server


@pytest.fixture
def mail_settings(settings: Settings, inbox: smtp_test_server.Inbox) -> Settings:
    smtp = SmtpSettings(host="127.0.0.1", port=inbox.port, sender="bookings@tutoring.example")
    return replace(settings, smtp=smtp, manage_url="https://app.example/manage/{token}")


@pytest.fixture
async def background(mail_settings: Settings, db: Database) -> Background:
    """Background work on a clock the test sets: no sleeping."""
    return Background(mail_settings, db)


google_fake_server, google_fake = fixtures("google_fake", google_server.start)


@pytest.fixture
def hooks_settings(mail_settings: Settings, google_fake: google_server.FakeGoogle) -> Settings:
    """Email, Google Calendar (the fake) and meeting rooms all on."""
    google = GoogleSettings(
        client_id=google_server.CLIENT_ID,
        client_secret=google_server.CLIENT_SECRET,
        api_base=google_fake.base,
        token_url=f"{google_fake.base}/token",
    )
    return replace(
        mail_settings,
        google=google,
        meeting_url_template="https://meet.example/lesson-{room}",
        meeting_provider=MeetingProvider.ROOM,
    )


@pytest.fixture
async def hooks_gql(hooks_settings: Settings, db: Database) -> AsyncIterator[GraphQLClient]:
    async with app_client(hooks_settings, db) as client:
        yield GraphQLClient(client)


# ---------------------------------------------------------------- outgoing webhooks
# A local receiver that checks signatures, and the app and background work aimed at it (private
# targets allowed, as in development; few attempts and a timeout short of the receiver's slow
# answer (2 s), yet long enough that a loaded machine's ordinary answer is not cut off: at 0.3 s
# one was, on a 2-core machine at load 8).

ATTEMPTS = 3
TIMEOUT = 1.0


receiver_server, receiver = fixtures("receiver", webhook_receiver.start)


@pytest.fixture
def hook_settings(mail_settings: Settings) -> Settings:
    return replace(
        mail_settings,
        jobs=JobSettings(max_attempts=ATTEMPTS),
        webhooks=WebhookSettings(allow_private_targets=True, timeout_seconds=TIMEOUT),
    )


@pytest.fixture
async def hook_gql(hook_settings: Settings, db: Database) -> AsyncIterator[GraphQLClient]:
    async with app_client(hook_settings, db) as client:
        yield GraphQLClient(client)


@pytest.fixture
def deliveries(hook_settings: Settings, db: Database, receiver: FakeReceiver) -> Background:
    """Background work on the test's clock; the receiver checks signatures on the same one."""
    background = Background(hook_settings, db)
    receiver.clock = lambda: background.now
    return background


# One chromium for the session: the GraphiQL test's and the pages' (tests/browsers.py).
pytest_plugins = ["tests.browsers"]
