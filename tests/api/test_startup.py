"""What the commands say at start-up: one line for a database that does not answer (after
retrying for DB_WAIT_SECONDS), where GraphiQL is, and the URL seed-demo prints."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from booking_api.startup import announce, public_url, wait_for_database, where
from infra.settings import Settings


def test_an_unreachable_database_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ended:
        wait_for_database("postgresql://nobody:secret@127.0.0.1:1/none", seconds=1)
    message = str(ended.value.code)
    assert message.startswith("booking-api: the database at 127.0.0.1:1 does not answer")
    assert "gave up after 1 s (DB_WAIT_SECONDS)" in message
    assert "\n" not in message
    assert "secret" not in message
    retries = capsys.readouterr().err.splitlines()
    assert retries
    assert all("retrying in" in line for line in retries)


def test_where_names_host_and_port() -> None:
    assert where("postgresql://u:p@db.internal:6543/booking") == "db.internal:6543"
    assert where("postgresql://u@db.internal/booking") == "db.internal:5432"


def test_serve_says_where_things_are_and_seed_demo_repeats_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = replace(Settings(), data_dir=tmp_path)
    announce(settings, "0.0.0.0", 8123)
    said = capsys.readouterr().out
    assert f"embedded PostgreSQL started in {tmp_path / 'pg'}" in said
    assert "GraphiQL at http://127.0.0.1:8123/graphql" in said
    assert "booking-api graphiql install" in said
    assert public_url(settings, explicit=False) == "http://127.0.0.1:8123"
    assert public_url(settings, explicit=True) == settings.public_base_url
    assert public_url(replace(settings, data_dir=tmp_path / "new"), explicit=False) == (
        settings.public_base_url
    )
    assert Settings.from_env({"DB_WAIT_SECONDS": "0"}).db_wait_seconds == 0
