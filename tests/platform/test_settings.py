"""Settings from the environment, and the signing secret's rules."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from infra.crypto import new_key
from infra.settings import HttpLimits, RateLimits, Settings, SettingsError

SECRET = "s" * 40
PRODUCTION = {"DATABASE_URL": "postgresql://db.example/booking", "AUTH_JWT_SECRET": SECRET}


def test_production_needs_a_secret() -> None:
    key = new_key()
    with pytest.raises(SettingsError, match="AUTH_JWT_SECRET"):
        Settings.from_env({"DATABASE_URL": "postgresql://db.example/booking"})
    with pytest.raises(SettingsError, match="DATA_ENCRYPTION_KEY is not set"):
        Settings.from_env(PRODUCTION)
    settings = Settings.from_env({**PRODUCTION, "DATA_ENCRYPTION_KEY": key})
    assert settings.jwt_secret() == SECRET
    assert settings.data_encryption_keys == (key,)
    assert settings.database_url == "postgresql://db.example/booking"


@pytest.mark.parametrize("keys", ["short", "{key},", "{key}, not-a-key"])
def test_data_encryption_keys_must_be_fernet_keys(keys: str) -> None:
    with pytest.raises(SettingsError, match="DATA_ENCRYPTION_KEY must be comma-separated"):
        Settings.from_env({**PRODUCTION, "DATA_ENCRYPTION_KEY": keys.format(key=new_key())})


def test_the_first_key_encrypts_and_every_key_decrypts() -> None:
    old, new = new_key(), new_key()
    before = Settings.from_env({**PRODUCTION, "DATA_ENCRYPTION_KEY": old}).cipher()
    after = Settings.from_env({**PRODUCTION, "DATA_ENCRYPTION_KEY": f"{new}, {old}"}).cipher()
    sealed = before.encrypt("1//refresh")
    assert after.decrypt(sealed) == "1//refresh"
    rotated = after.rotate(sealed)
    assert Settings(data_encryption_keys=(new,)).cipher().decrypt(rotated) == "1//refresh"


def test_refusals_name_the_variable() -> None:
    with pytest.raises(SettingsError, match="AUTH_JWT_SECRET"):
        Settings.from_env({"AUTH_JWT_SECRET": "short"})
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        Settings.from_env({"DATABASE_URL": "mysql://x/y", "AUTH_JWT_SECRET": SECRET})
    with pytest.raises(SettingsError, match="GRAPHQL_MAX_DEPTH"):
        Settings.from_env({"GRAPHQL_MAX_DEPTH": "deep"})


def test_a_direct_url_beside_a_pooler_and_the_shutdown_grace() -> None:
    production = {**PRODUCTION, "DATA_ENCRYPTION_KEY": new_key()}
    plain = Settings.from_env(production)
    assert (plain.database_direct_url, plain.shutdown_grace_seconds) == (None, 20)
    direct = "postgresql://db.example:5432/booking"
    pooled = Settings.from_env(
        {**production, "DATABASE_DIRECT_URL": direct, "SHUTDOWN_GRACE_SECONDS": "0"}
    )
    assert (pooled.database_direct_url, pooled.shutdown_grace_seconds) == (direct, 0)
    with pytest.raises(SettingsError, match="DATABASE_DIRECT_URL"):
        Settings.from_env({"DATABASE_DIRECT_URL": direct})  # no DATABASE_URL
    with pytest.raises(SettingsError, match="DATABASE_DIRECT_URL"):
        Settings.from_env({**production, "DATABASE_DIRECT_URL": "mysql://x/y"})
    with pytest.raises(SettingsError, match="SHUTDOWN_GRACE_SECONDS"):
        Settings.from_env({**production, "SHUTDOWN_GRACE_SECONDS": "-1"})


def test_defaults_and_overrides(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "BOOKING_DATA_DIR": str(tmp_path),
            "PUBLIC_BASE_URL": "https://book.example/",
            "LOG_LEVEL": "debug",
            "GRAPHQL_MAX_ALIASES": "5",
        }
    )
    assert settings.database_url is None
    assert settings.data_dir == tmp_path
    assert settings.public_base_url == "https://book.example"
    assert settings.log_level == "DEBUG"
    assert settings.limits.max_aliases == 5
    assert settings.http == HttpLimits(max_body_bytes=1_048_576, read_timeout=20)
    tight = Settings.from_env({"MAX_BODY_BYTES": "4096", "REQUEST_READ_TIMEOUT": "5"})
    assert (tight.http.max_body_bytes, tight.http.read_timeout) == (4096, 5)
    with pytest.raises(SettingsError, match="MAX_BODY_BYTES"):
        Settings.from_env({"MAX_BODY_BYTES": "1M"})


def _secret_in(path: str) -> str:
    return Settings.from_env({"BOOKING_DATA_DIR": path}).jwt_secret()


def test_embedded_data_key_is_made_once_and_kept(tmp_path: Path) -> None:
    sealed = Settings.from_env({"BOOKING_DATA_DIR": str(tmp_path)}).cipher().encrypt("token")
    # Another process (a worker, the next start) reads it with the key kept in the folder.
    assert Settings(data_dir=tmp_path).cipher().decrypt(sealed) == "token"
    assert (tmp_path / "data-key").stat().st_mode & 0o077 == 0
    (tmp_path / "data-key").write_text("garbage\n")
    with pytest.raises(SettingsError, match="data-key is not a Fernet key"):
        Settings(data_dir=tmp_path).cipher()


def test_embedded_secret_is_made_once_and_shared(tmp_path: Path) -> None:
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        secrets = pool.map(_secret_in, [str(tmp_path)] * 8)
    assert len(set(secrets)) == 1
    assert len(secrets[0]) >= 32
    assert _secret_in(str(tmp_path)) == secrets[0]
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o077 == 0


def test_stripe_needs_its_webhook_secret() -> None:
    assert Settings.from_env({}).stripe is None
    with pytest.raises(SettingsError, match="STRIPE_WEBHOOK_SECRET"):
        Settings.from_env({"STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_WEBHOOK_SECRET": " "})
    settings = Settings.from_env(
        {
            "STRIPE_SECRET_KEY": "sk_test_x",
            "STRIPE_WEBHOOK_SECRET": "whsec_x",
            "STRIPE_API_BASE": "http://127.0.0.1:12111/",
            "PUBLIC_BASE_URL": "https://book.example",
            "PAYMENT_HOLD_MINUTES": "20",
        }
    )
    assert settings.stripe is not None and settings.payment_hold_minutes == 20
    assert settings.stripe.api_base == "http://127.0.0.1:12111"
    assert settings.stripe.success_url.startswith("https://book.example/checkout/success")
    assert settings.stripe.cancel_url == "https://book.example/checkout/cancelled"
    with pytest.raises(SettingsError, match="PAYMENT_HOLD_MINUTES"):
        Settings.from_env({"PAYMENT_HOLD_MINUTES": "0"})


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"BROKER_URL": "kafka://x"}, "BROKER_URL"),
        ({"SMTP_URL": "http://mail.example"}, "SMTP_URL"),
        ({"SMTP_URL": "smtp://mail.example:587"}, "EMAIL_FROM"),
        ({"MANAGE_URL": "https://app.example/manage"}, "MANAGE_URL"),
        ({"DAILY_SUMMARY_HOUR": "24"}, "DAILY_SUMMARY_HOUR"),
        ({"GOOGLE_CLIENT_ID": "id"}, "GOOGLE_CLIENT_SECRET"),
        ({"MEETING_URL_TEMPLATE": "https://meet.example/room"}, "MEETING_URL_TEMPLATE"),
        ({"OUTBOX_LEASE_SECONDS": "0"}, "OUTBOX_LEASE_SECONDS"),
    ],
)
def test_background_work_settings_are_checked(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"RATE_LIMIT_ANONYMOUS": "lots"}, "RATE_LIMIT_ANONYMOUS"),
        ({"RATE_LIMIT_AUTHENTICATED": "30 a minute"}, "RATE_LIMIT_AUTHENTICATED"),
        ({"RATE_LIMIT_STORAGE_URL": "memcached://cache:11211"}, "RATE_LIMIT_STORAGE_URL"),
        ({"TRUSTED_PROXIES": "10.0.0.1, proxy.internal"}, "TRUSTED_PROXIES"),
    ],
)
def test_rate_limit_settings_are_checked(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_rate_limit_settings_are_read() -> None:
    assert Settings.from_env({}).rate_limits == RateLimits()
    limits = Settings.from_env(
        {
            "RATE_LIMIT_ANONYMOUS": "10/minute; 100/hour",
            "RATE_LIMIT_AUTHENTICATED": "600 per hour",
            "RATE_LIMIT_STORAGE_URL": "redis://redis.internal:6379/2",
            "TRUSTED_PROXIES": " 10.1.2.3/8, 192.0.2.7 ,2001:db8::/32,",
        }
    ).rate_limits
    assert (limits.anonymous, limits.authenticated) == ("10/minute; 100/hour", "600 per hour")
    assert limits.storage_url == "redis://redis.internal:6379/2"
    # Host bits cleared: uvicorn's middleware would silently ignore "10.1.2.3/8".
    assert limits.trusted_proxies == ("10.0.0.0/8", "192.0.2.7", "2001:db8::/32")


def test_background_work_settings_are_read() -> None:
    settings = Settings.from_env(
        {
            "BROKER_URL": "amqp://guest:guest@rabbit:5672/",
            "SMTP_URL": "smtps://apikey:p%40ss@smtp.example",
            "EMAIL_FROM": "Bookings <bookings@example.com>",
            "DAILY_SUMMARY_HOUR": "7",
            "GOOGLE_CLIENT_ID": "id",
            "GOOGLE_CLIENT_SECRET": "secret",
            "MEETING_URL_TEMPLATE": "https://meet.jit.si/tutoring-{room}",
        }
    )
    assert settings.broker_url == "amqp://guest:guest@rabbit:5672/"
    assert settings.smtp is not None
    assert (settings.smtp.host, settings.smtp.port, settings.smtp.tls) == (
        "smtp.example",
        465,
        True,
    )
    assert (settings.smtp.username, settings.smtp.password) == ("apikey", "p@ss")
    assert settings.jobs.daily_summary_hour == 7
    assert settings.google is not None
    assert settings.google.api_base == "https://www.googleapis.com/calendar/v3"
    assert settings.manage_url == "http://127.0.0.1:8000/manage?token={token}"
    assert Settings.from_env({}).broker_url is None and Settings.from_env({}).smtp is None


def test_tokens_without_exp_are_refused_unless_allowed() -> None:
    assert Settings.from_env({}).auth_allow_tokens_without_exp is False
    allowed = Settings.from_env({"AUTH_ALLOW_TOKENS_WITHOUT_EXP": "true"})
    assert allowed.auth_allow_tokens_without_exp is True
    assert (
        Settings.from_env({"AUTH_ALLOW_TOKENS_WITHOUT_EXP": "0"}).auth_allow_tokens_without_exp
        is False
    )
    with pytest.raises(SettingsError, match="AUTH_ALLOW_TOKENS_WITHOUT_EXP"):
        Settings.from_env({"AUTH_ALLOW_TOKENS_WITHOUT_EXP": "sometimes"})


def test_embed_origins_are_read_and_checked() -> None:
    settings = Settings.from_env(
        {"EMBED_ORIGINS": " https://school.example, http://localhost:3000/"}
    )
    assert settings.api.embed_origins == ("https://school.example", "http://localhost:3000")
    assert Settings.from_env({}).api.embed_origins == ()
    for wrong in ("*", "school.example", "https://school.example/book"):
        with pytest.raises(SettingsError, match="EMBED_ORIGINS"):
            Settings.from_env({"EMBED_ORIGINS": wrong})
