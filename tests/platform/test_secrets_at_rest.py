"""Secrets at rest: read straight from the tables, no manage token or Google token is stored
readable; email and calendar sync still work; a new key put in front still reads what the old
one wrote; rotate-secrets moves every row to the new key; the migration encrypts old rows."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace

import asyncpg
import httpx
import pytest
from alembic import command
from sqlalchemy import text
from sqlmodel import SQLModel

from booking_api.app import build_app
from booking_api.cli import main
from booking_api.migrate import alembic_config, upgrade
from domain.calendar_api import event_id
from infra.crypto import Cipher, Undecryptable, new_key
from infra.db import Database
from infra.settings import Settings
from tests.fakes.google_server import REFRESH_TOKEN, FakeGoogle, connect_google
from tests.fakes.smtp_server import Inbox
from tests.helpers import (
    INVITE,
    TEST_SECRET,
    Background,
    GraphQLClient,
    at,
    book,
    create_database,
    drop_database,
    monday,
    organization,
    pk,
    server_admin_url,
    setup_lessons,
)

GUS = "gus@example.com"
CREATE_HOOK = """mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { ... on WebhookEndpointCreated { secret } } }"""
GUEST = {"name": "Gus", "email": GUS}


async def stored_text(db: Database) -> str:
    """Every row of every table, as PostgreSQL prints it."""
    async with db.engine.connect() as connection:
        rows = [
            row
            for table in SQLModel.metadata.sorted_tables
            for row in await connection.execute(text(f'SELECT CAST(t AS text) FROM "{table}" t'))
        ]
    return "\n".join(row[0] for row in rows)


async def parked_tokens(db: Database) -> list[str]:
    query = "SELECT payload->>'encrypted_token' FROM outbox WHERE kind = 'parked.token'"
    async with db.engine.connect() as connection:
        return [row[0] for row in await connection.execute(text(query))]


async def test_a_guests_manage_token_waits_encrypted_and_the_email_still_carries_it(
    gql: GraphQLClient, settings: Settings, db: Database, background: Background, inbox: Inbox
) -> None:
    ada, service, _ = await setup_lessons(gql)
    made = await book(
        gql, None, serviceId=service, tutorId=ada.id, start=at(monday(), 9), guest=GUEST
    )
    manage = made["manageToken"]
    assert manage not in await stored_text(db)  # before the email job has run
    [sealed] = await parked_tokens(db)
    assert settings.cipher().decrypt(sealed) == manage

    await background.run()
    [mail] = inbox.to(GUS)
    assert f"Reschedule or cancel: https://app.example/manage/{manage}" in mail.text
    assert await parked_tokens(db) == []


async def test_google_tokens_are_stored_encrypted_and_the_sync_still_works(
    hooks_gql: GraphQLClient, hooks_settings: Settings, db: Database, google_fake: FakeGoogle
) -> None:
    ada, service, sam = await setup_lessons(hooks_gql)
    await connect_google(hooks_gql, ada.token)
    [access] = google_fake.access_tokens  # what Google gave for the refresh token, at connect
    stored = await stored_text(db)
    assert REFRESH_TOKEN not in stored
    assert access not in stored

    made = await book(hooks_gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9))
    await Background(hooks_settings, db).run()
    assert list(google_fake.events()) == [event_id(pk(made["booking"]["id"]))]
    # Still one access token: the sync used the one kept encrypted, without refreshing.
    assert google_fake.access_tokens == {access}


async def test_a_new_key_in_front_reads_the_old_rows_and_rotate_secrets_moves_them(
    hooks_settings: Settings,
    db: Database,
    database_url: str,
    google_fake: FakeGoogle,
    inbox: Inbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old, new = new_key(), new_key()
    with_old = replace(hooks_settings, data_encryption_keys=(old,))
    both = replace(hooks_settings, data_encryption_keys=(new, old))
    with_new = replace(hooks_settings, data_encryption_keys=(new,))
    transport = httpx.ASGITransport(app=build_app(with_old, db))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        gql = GraphQLClient(client)
        ada, service, _ = await setup_lessons(gql)
        await connect_google(gql, ada.token)
        first = await book(
            gql, None, serviceId=service, tutorId=ada.id, start=at(monday(), 9), guest=GUEST
        )
        # Workers restarted with a new key in front of the old one still read the old rows.
        await Background(both, db).run()
        second = await book(
            gql, None, serviceId=service, tutorId=ada.id, start=at(monday(), 11), guest=GUEST
        )
        # An invitation's email, not sent yet, keeps its token in the job, encrypted too.
        studio = await organization(gql, ada)
        invite = {"organizationId": studio, "email": "kim@example.com", "role": "MEMBER"}
        invited = (await gql(INVITE, {"input": invite}, ada.token))["inviteTutor"]
        # A webhook endpoint's signing secret (for an event nothing here causes).
        hook = {"url": "https://hooks.example.com/in", "events": ["FORM_SUBMITTED"]}
        made = await gql(CREATE_HOOK, {"input": hook}, ada.token)
        secret = made["createWebhookEndpoint"]["secret"]
    assert f"/manage/{first['manageToken']}" in inbox.to(GUS)[0].text
    assert len(google_fake.events()) == 1

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("AUTH_JWT_SECRET", TEST_SECRET)
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", f"{new},{old}")
    await asyncio.to_thread(main, ["rotate-secrets"])
    # The guest's second manage token, parked, and the invitation's; and both bookings' copies
    # parked for their review requests.
    assert "1 calendar link(s), 4 token(s) in jobs, 1 webhook secret(s)" in capsys.readouterr().out

    async with db.engine.connect() as connection:
        [refresh] = await connection.execute(text("SELECT refresh_token FROM calendar_links"))
        [sealed] = await connection.execute(text("SELECT secret FROM webhook_endpoints"))
    with pytest.raises(Undecryptable):
        Cipher([old]).decrypt(refresh[0])  # the old key can go
    assert Cipher([new]).decrypt(sealed[0]) == secret
    await Background(with_new, db).run()
    assert f"/manage/{second['manageToken']}" in inbox.to(GUS)[-1].text
    assert invited["inviteToken"] in inbox.to("kim@example.com")[-1].text
    assert len(google_fake.events()) == 2


PLAIN_ROWS = """
INSERT INTO tutors (id, user_id, display_name, time_zone, created_at)
  VALUES ('{tutor}', 'ada', 'Ada', 'UTC', now());
INSERT INTO calendar_links (tutor_id, provider, calendar_id, refresh_token, access_token,
    access_expires_at, created_at)
  VALUES ('{tutor}', 'google', 'primary', '1//plain-refresh', 'ya29.plain', now(), now());
INSERT INTO outbox (id, kind, key, payload, attempts, created_at)
  VALUES ('{job}', 'parked.token', 'manage-token:x', '{{"token": "plain-manage"}}', 0, now());
"""
ROWS = """SELECT refresh_token, access_token, payload FROM calendar_links, outbox"""


async def _rows(url: str, insert: str | None = None) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        if insert is not None:
            await connection.execute(insert)
        return list(await connection.fetch(ROWS))
    finally:
        await connection.close()


def test_the_migration_encrypts_what_was_stored_in_plain() -> None:
    admin = server_admin_url()
    url = create_database(admin, prefix="booking_secrets")
    cipher = Cipher([new_key()])
    config = alembic_config(url)
    config.attributes["cipher"] = cipher
    try:
        upgrade(url, "0006")
        asyncio.run(_rows(url, PLAIN_ROWS.format(tutor=uuid.uuid4(), job=uuid.uuid4())))
        command.upgrade(config, "head")
        [(refresh, access, payload)] = asyncio.run(_rows(url))
        assert "plain" not in f"{refresh} {access} {payload}"
        assert cipher.decrypt(refresh) == "1//plain-refresh"
        assert access is None  # dropped: the next sync gets a fresh one
        assert cipher.decrypt(json.loads(payload)["encrypted_token"]) == "plain-manage"

        command.downgrade(config, "0006")
        [(refresh, _, payload)] = asyncio.run(_rows(url))
        assert (refresh, json.loads(payload)) == ("1//plain-refresh", {"token": "plain-manage"})
    finally:
        drop_database(admin, url)
