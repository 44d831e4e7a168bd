"""One typed settings object, read from the environment (documented in the README)."""

from __future__ import annotations

import ipaddress
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib.metadata import entry_points
from pathlib import Path
from urllib.parse import unquote, urlsplit

from limits import parse_many

from infra.crypto import BadKey, Cipher, new_key

MIN_SECRET_LENGTH = 32


class SettingsError(Exception):
    """A setting is missing or wrong; the message names the variable."""


def _int(env: dict[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _flag(env: dict[str, str], name: str, default: bool = False) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _stripe(env: dict[str, str], public_base_url: str) -> StripeSettings | None:
    key = env.get("STRIPE_SECRET_KEY") or None
    if key is None:
        return None
    webhook_secret = env.get("STRIPE_WEBHOOK_SECRET") or ""
    if not webhook_secret.strip():
        # An empty secret verifies signatures made with an empty key: anyone could forge events.
        raise SettingsError(
            "STRIPE_WEBHOOK_SECRET is not set: with STRIPE_SECRET_KEY the webhook needs "
            "the endpoint's signing secret (whsec_…)"
        )
    return StripeSettings(
        secret_key=key,
        webhook_secret=webhook_secret,
        api_base=(env.get("STRIPE_API_BASE") or StripeSettings.api_base).rstrip("/"),
        success_url=env.get("CHECKOUT_SUCCESS_URL")
        or f"{public_base_url}/checkout/success?session_id={{CHECKOUT_SESSION_ID}}",
        cancel_url=env.get("CHECKOUT_CANCEL_URL") or f"{public_base_url}/checkout/cancelled",
    )


def _broadcast_url(env: dict[str, str]) -> str:
    url = env.get("BROADCAST_URL") or Settings.broadcast_url
    if not url.startswith(("memory://", "postgresql://", "postgres://", "redis://", "rediss://")):
        raise SettingsError("BROADCAST_URL must be a memory://, postgresql:// or redis:// URL")
    return url


def _broker_url(env: dict[str, str]) -> str | None:
    url = env.get("BROKER_URL") or None
    if url is not None and not url.startswith(("redis://", "rediss://", "amqp://", "amqps://")):
        raise SettingsError("BROKER_URL must be a redis:// or amqp:// URL")
    return url


def _smtp(env: dict[str, str]) -> SmtpSettings | None:
    url = env.get("SMTP_URL") or None
    if url is None:
        return None
    parsed = urlsplit(url)
    if parsed.scheme not in ("smtp", "smtps") or not parsed.hostname:
        raise SettingsError("SMTP_URL must look like smtp://user:password@host:587 or smtps://…")
    sender = env.get("EMAIL_FROM") or ""
    if "@" not in sender:
        raise SettingsError("EMAIL_FROM must be the sender's address when SMTP_URL is set")
    return SmtpSettings(
        host=parsed.hostname,
        port=parsed.port or (465 if parsed.scheme == "smtps" else 25),
        tls=parsed.scheme == "smtps",
        username=unquote(parsed.username) if parsed.username else None,
        password=unquote(parsed.password) if parsed.password else None,
        sender=sender,
    )


def _manage_url(env: dict[str, str], public_base_url: str) -> str:
    url = env.get("MANAGE_URL") or f"{public_base_url}/manage?token={{token}}"
    if "{token}" not in url:
        raise SettingsError("MANAGE_URL must contain {token}, where the manage token goes")
    return url


def _hour(env: dict[str, str], name: str, default: int) -> int:
    value = _int(env, name, default, minimum=0)
    if value > 23:
        raise SettingsError(f"{name} must be an hour from 0 to 23, got {value}")
    return value


def _google(env: dict[str, str]) -> GoogleSettings | None:
    client_id = env.get("GOOGLE_CLIENT_ID") or None
    secret = env.get("GOOGLE_CLIENT_SECRET") or None
    if client_id is None and secret is None:
        return None
    if client_id is None or secret is None:
        raise SettingsError("GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET are set together")
    return GoogleSettings(
        client_id=client_id,
        client_secret=secret,
        api_base=(env.get("GOOGLE_CALENDAR_API_BASE") or GoogleSettings.api_base).rstrip("/"),
        token_url=env.get("GOOGLE_OAUTH_TOKEN_URL") or GoogleSettings.token_url,
    )


def _meeting_template(env: dict[str, str]) -> str | None:
    template = env.get("MEETING_URL_TEMPLATE") or None
    if template is not None and (
        "{room}" not in template or not template.startswith(("https://", "http://"))
    ):
        raise SettingsError("MEETING_URL_TEMPLATE must be an http(s) URL containing {room}")
    return template


def _zoom(env: dict[str, str]) -> ZoomSettings | None:
    names = ("ZOOM_ACCOUNT_ID", "ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET")
    values = [env.get(name) or None for name in names]
    if not any(values):
        return None
    if not all(values):
        raise SettingsError(f"{', '.join(names)} are set together (a Server-to-Server OAuth app)")
    account_id, client_id, secret = (str(value) for value in values)
    return ZoomSettings(
        account_id=account_id,
        client_id=client_id,
        client_secret=secret,
        api_base=(env.get("ZOOM_API_BASE") or ZoomSettings.api_base).rstrip("/"),
        oauth_url=env.get("ZOOM_OAUTH_URL") or ZoomSettings.oauth_url,
    )


def _microsoft(env: dict[str, str]) -> MicrosoftSettings | None:
    client_id = env.get("MICROSOFT_CLIENT_ID") or None
    secret = env.get("MICROSOFT_CLIENT_SECRET") or None
    if client_id is None and secret is None:
        return None
    if client_id is None or secret is None:
        raise SettingsError("MICROSOFT_CLIENT_ID and MICROSOFT_CLIENT_SECRET are set together")
    tenant = env.get("MICROSOFT_TENANT") or MicrosoftSettings.tenant
    if not tenant.replace("-", "").replace(".", "").isalnum():
        raise SettingsError(
            "MICROSOFT_TENANT must be common, organizations, consumers, a tenant id or a domain"
        )
    return MicrosoftSettings(
        client_id=client_id,
        client_secret=secret,
        tenant=tenant,
        graph_base=(env.get("MICROSOFT_GRAPH_API_BASE") or MicrosoftSettings.graph_base).rstrip(
            "/"
        ),
        login_base=(env.get("MICROSOFT_LOGIN_BASE") or MicrosoftSettings.login_base).rstrip("/"),
    )


def _meeting_provider(
    env: dict[str, str],
    template: str | None,
    google: GoogleSettings | None,
    zoom: ZoomSettings | None,
) -> MeetingProvider | None:
    """MEETING_PROVIDER, checked against the settings it needs; unset: rooms from
    MEETING_URL_TEMPLATE when that is set, else no meeting links."""
    raw = (env.get("MEETING_PROVIDER") or "").strip().lower()
    if raw == "":
        return MeetingProvider.ROOM if template is not None else None
    try:
        provider = MeetingProvider(raw)
    except ValueError:
        choices = ", ".join(member.value for member in MeetingProvider)
        raise SettingsError(f"MEETING_PROVIDER must be one of {choices}, got {raw!r}") from None
    needs = {
        MeetingProvider.ROOM: (template, "MEETING_URL_TEMPLATE"),
        MeetingProvider.GOOGLE_MEET: (google, "GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET"),
        MeetingProvider.ZOOM: (zoom, "ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET"),
    }
    setting, names = needs[provider]
    if setting is None:
        raise SettingsError(f"MEETING_PROVIDER={provider.value} needs {names}")
    return provider


def _funnel(env: dict[str, str]) -> FunnelSettings:
    key = env.get("POSTHOG_API_KEY") or None
    host = (env.get("POSTHOG_HOST") or "").strip().rstrip("/") or None
    if key is None and host is not None:
        raise SettingsError("POSTHOG_HOST is set without POSTHOG_API_KEY")
    if host is not None and not host.startswith(("https://", "http://")):
        raise SettingsError(f"POSTHOG_HOST must be an http(s) URL, got {host!r}")
    posthog = (
        PostHogSettings(api_key=key, host=host or PostHogSettings.host) if key is not None else None
    )
    return FunnelSettings(
        retention_days=_int(env, "FUNNEL_RETENTION_DAYS", FunnelSettings.retention_days),
        posthog=posthog,
    )


def _encryption_keys(env: dict[str, str]) -> tuple[str, ...] | None:
    raw = env.get("DATA_ENCRYPTION_KEY") or None
    if raw is None:
        return None
    keys = tuple(key.strip() for key in raw.split(","))
    try:
        Cipher(keys)
    except BadKey as error:
        raise SettingsError(
            f"DATA_ENCRYPTION_KEY must be comma-separated Fernet keys: {error}; make one with "
            "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())'"
        ) from None
    return keys


def _rate(env: dict[str, str], name: str, default: str) -> str:
    value = env.get(name) or default
    try:
        parse_many(value)
    except ValueError:
        raise SettingsError(
            f"{name} must be a rate such as 30/minute (several: '10/second; 500/hour'), "
            f"got {value!r}"
        ) from None
    return value


def _rate_storage(env: dict[str, str]) -> str:
    url = env.get("RATE_LIMIT_STORAGE_URL") or RateLimits.storage_url
    if not url.startswith(("memory://", "redis://", "rediss://")):
        raise SettingsError("RATE_LIMIT_STORAGE_URL must be memory:// or a redis:// URL")
    return url


def _trusted_proxies(env: dict[str, str]) -> tuple[str, ...]:
    """IPs and networks, normalised: uvicorn's proxy middleware silently ignores a network
    written with host bits (10.0.0.1/8), so such a one is stored as 10.0.0.0/8."""
    proxies = []
    for item in (env.get("TRUSTED_PROXIES") or "").split(","):
        if not item.strip():
            continue
        try:
            network = ipaddress.ip_network(item.strip(), strict=False)
        except ValueError:
            raise SettingsError(
                f"TRUSTED_PROXIES must be IP addresses or networks (10.0.0.0/8), got {item!r}"
            ) from None
        single = network.num_addresses == 1
        proxies.append(str(network.network_address) if single else str(network))
    return tuple(proxies)


def _embed_origins(env: dict[str, str]) -> tuple[str, ...]:
    """EMBED_ORIGINS: exact origins, comma-separated, as CORS_ORIGINS takes them (no `*`)."""
    origins = _origins(env, "EMBED_ORIGINS")
    if "*" in origins:
        raise SettingsError("EMBED_ORIGINS takes exact origins, not *")
    return origins


def _origins(env: dict[str, str], name: str = "CORS_ORIGINS") -> tuple[str, ...]:
    """CORS_ORIGINS (or `name`): exact origins (scheme://host[:port], as a browser sends
    them) or `*`."""
    origins = []
    for item in (env.get(name) or "").split(","):
        origin = item.strip().rstrip("/")
        if not origin:
            continue
        parsed = urlsplit(origin)
        if origin != "*" and (
            parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.path
        ):
            raise SettingsError(
                f"{name} must be origins such as http://localhost:5173 (scheme, host and "
                f"port, no path), comma-separated, or *; got {item.strip()!r}"
            )
        origins.append(origin)
    return tuple(origins)


def _apq_storage(env: dict[str, str]) -> str:
    url = env.get("APQ_STORAGE_URL") or HttpApi.apq_storage_url
    if not url.startswith(("memory://", "redis://", "rediss://")):
        raise SettingsError("APQ_STORAGE_URL must be memory:// or a redis:// URL")
    return url


def data_dir_of(env: Mapping[str, str]) -> Path:
    """BOOKING_DATA_DIR (default ./.data): the embedded database, generated secrets, GraphiQL's
    files. Commands that need only the folder read it here, without the other settings."""
    return Path(env.get("BOOKING_DATA_DIR") or ".data").expanduser().resolve()


def _kept_in(data_dir: Path, name: str, make: Callable[[], str], variable: str) -> str:
    """A secret made once and kept in the data folder (embedded mode): `variable` unset."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / name
    try:
        # O_EXCL: two processes starting at once must end up with the same secret.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            value = path.read_text().strip()
            if value:
                return value
            time.sleep(0.02)  # the other process is still writing it
        raise SettingsError(f"{path} is empty: delete it or set {variable}") from None
    value = make()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


@dataclass(frozen=True)
class GoogleSettings:
    """Google Calendar sync: the platform's OAuth client, which refreshes tutors' tokens."""

    client_id: str
    client_secret: str
    api_base: str = "https://www.googleapis.com/calendar/v3"
    token_url: str = "https://oauth2.googleapis.com/token"


class MeetingProvider(StrEnum):
    """Who makes the meeting links of services with meetingLinks (MEETING_PROVIDER)."""

    ROOM = "room"  # a room per booking from MEETING_URL_TEMPLATE
    GOOGLE_MEET = "google_meet"  # on the tutor's synced Google Calendar event
    ZOOM = "zoom"  # the platform's Zoom account (Server-to-Server OAuth)


@dataclass(frozen=True)
class ZoomSettings:
    """Zoom meetings made by the platform's Server-to-Server OAuth app."""

    account_id: str
    client_id: str
    client_secret: str
    api_base: str = "https://api.zoom.us/v2"
    oauth_url: str = "https://zoom.us/oauth/token"


@dataclass(frozen=True)
class MicrosoftSettings:
    """Outlook calendar sync: the platform's Microsoft Entra app, which refreshes tutors'
    tokens (Calendars.ReadWrite, offline_access)."""

    client_id: str
    client_secret: str
    tenant: str = "common"
    graph_base: str = "https://graph.microsoft.com/v1.0"
    login_base: str = "https://login.microsoftonline.com"

    @property
    def token_url(self) -> str:
        return f"{self.login_base}/{self.tenant}/oauth2/v2.0/token"


@dataclass(frozen=True)
class PostHogSettings:
    """Funnel events forwarded to PostHog (by a background job), when an API key is set."""

    api_key: str
    host: str = "https://us.i.posthog.com"


@dataclass(frozen=True)
class FunnelSettings:
    """Booking funnel analytics: how long events are kept, and where else they go."""

    # Events older than this are pruned by the periodic sweep.
    retention_days: int = 400
    posthog: PostHogSettings | None = None

    @property
    def forwarding(self) -> bool:
        return self.posthog is not None


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    # smtps:// is TLS from the start; smtp:// upgrades with STARTTLS when the server offers it.
    tls: bool = False
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class JobSettings:
    """Background work: the relay's pace, retries, and when the periodic jobs run."""

    # A row handed to the broker but not done after this long is handed over again (its
    # worker died, or the broker lost the message).
    lease_seconds: int = 300
    poll_seconds: int = 1
    max_attempts: int = 8
    hold_sweep_seconds: int = 60
    # Package expiry notices, tutors' summaries, owed refunds and pruning the outbox.
    sweep_seconds: int = 300
    # Local hour (tutor's zone) at which each tutor gets tomorrow's sessions.
    daily_summary_hour: int = 18
    # A waitlist offer left unbooked this long goes on to the next waiter.
    waitlist_offer_hours: int = 12


@dataclass(frozen=True)
class QueryLimits:
    """Limits that refuse an oversized GraphQL operation before it runs, and end a slow one."""

    max_depth: int = 12
    max_tokens: int = 3000
    max_aliases: int = 30
    # Static cost (booking_api/cost.py): fields, multiplied through the lists they are under.
    max_cost: int = 100_000
    # Anything still running after this long is ended with a TIMEOUT error.
    timeout_seconds: float = 5


@dataclass(frozen=True)
class RateLimits:
    """Mutations per client, in the `limits` notation ("30/minute; 500/hour"): anonymous
    callers by address, signed-in ones by their token's sub."""

    anonymous: str = "30/minute"
    authenticated: str = "120/minute"
    # memory:// counts in this process; redis://… is one budget for every process.
    storage_url: str = "memory://"
    # Peers whose X-Forwarded-For names the client (IPs or networks); by default none.
    trusted_proxies: tuple[str, ...] = ()


@dataclass(frozen=True)
class HttpLimits:
    """What one HTTP request may cost before the app sees it: its body's size and read time."""

    # /graphql and /webhooks/stripe bodies; larger ones are refused with 413 before being read.
    max_body_bytes: int = 1_048_576
    # Seconds a client has to send a whole request (headers and body), counted from the
    # connection or from the request's first byte; then the connection is closed.
    read_timeout: int = 20
    # Seconds an idle keep-alive connection is kept between requests (uvicorn's own timer).
    keep_alive_timeout: int = 5


@dataclass(frozen=True)
class HttpApi:
    """What browsers and GraphQL clients see of /graphql besides the schema itself."""

    # Origins whose pages may call the API (CORS); empty: none, `*`: any (development only).
    cors_origins: tuple[str, ...] = ()
    # Origins whose pages may frame every booking widget (/embed/…), besides each tutor's own.
    embed_origins: tuple[str, ...] = ()
    # Operations in one batch (a JSON array of operations in one POST).
    max_batch: int = 10
    # Automatic persisted queries: memory:// (each process its own) or redis://… (shared).
    apq_storage_url: str = "memory://"
    # Documents kept per process by the memory store (least recently used go first).
    apq_max_entries: int = 1000
    # Schema introspection (__schema, __type); off in production hides the schema from strangers.
    introspection: bool = True
    # Seconds an anonymous GET query's answer may be cached by browsers and proxies (0: none).
    public_max_age: int = 10


@dataclass(frozen=True)
class Observability:
    """What operators see: /metrics (off without a token) and the log format. Tracing is
    configured by OpenTelemetry's own OTEL_* variables (booking_api/tracing.py)."""

    # /metrics answers only `Authorization: Bearer <metrics_token>`; None: no /metrics at all.
    metrics_token: str | None = None
    # "text" (Python's usual lines) or "json" (one object a line, with the request id).
    log_format: str = "text"
    # OpenTelemetry span exporters by their entry-point names (console, otlp_proto_http);
    # none: tracing is off.
    trace_exporters: tuple[str, ...] = ()


# What OTEL_TRACES_EXPORTER=otlp means here: the OTLP exporter this package ships (HTTP).
_OTLP = "otlp_proto_http"


def _trace_exporters(env: dict[str, str]) -> tuple[str, ...]:
    """OpenTelemetry's own variables: OTEL_TRACES_EXPORTER (comma-separated), or OTLP when
    only an OTLP endpoint is given; nothing (or OTEL_SDK_DISABLED) leaves tracing off."""
    if _flag(env, "OTEL_SDK_DISABLED"):
        return ()
    raw = env.get("OTEL_TRACES_EXPORTER") or ""
    if not raw.strip() and (
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        raw = "otlp"
    names = [name.strip().lower() for name in raw.split(",") if name.strip()]
    if names == ["none"]:
        return ()
    installed = {entry.name for entry in entry_points(group="opentelemetry_traces_exporter")}
    chosen = tuple(_OTLP if name == "otlp" else name for name in names)
    if unknown := [name for name in chosen if name not in installed]:
        raise SettingsError(
            f"OTEL_TRACES_EXPORTER: no exporter named {', '.join(unknown)} "
            f"(installed: otlp, {', '.join(sorted(installed))}, none)"
        )
    return chosen


def _observability(env: dict[str, str]) -> Observability:
    token = env.get("METRICS_TOKEN") or None
    if token is not None and len(token) < 16:
        raise SettingsError("METRICS_TOKEN must be at least 16 characters")
    log_format = (env.get("LOG_FORMAT") or Observability.log_format).strip().lower()
    if log_format not in ("text", "json"):
        raise SettingsError(f"LOG_FORMAT must be text or json, got {log_format!r}")
    return Observability(
        metrics_token=token, log_format=log_format, trace_exporters=_trace_exporters(env)
    )


@dataclass(frozen=True)
class WebhookSettings:
    """Outgoing webhooks (domain/webhook_delivery.py)."""

    # Development and tests only: plain http and private or loopback targets are allowed.
    allow_private_targets: bool = False
    # A delivery attempt not answered within this long (DNS, connection and answer) failed.
    timeout_seconds: float = 10


@dataclass(frozen=True)
class StripeSettings:
    """Card payments through Stripe Checkout; absent when STRIPE_SECRET_KEY is unset."""

    secret_key: str
    webhook_secret: str
    # Where the `stripe` library sends API calls: Stripe itself, or a compatible test server.
    api_base: str = "https://api.stripe.com"
    success_url: str = ""
    cancel_url: str = ""


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    # The database without a transaction-mode pooler (PgBouncer) between: LISTEN, migrations.
    # Set: DATABASE_URL is taken to be such a pooler (no server-side statement cache on it).
    database_direct_url: str | None = None
    data_dir: Path = Path(".data")
    auth_jwt_secret: str | None = None
    # Fernet keys for secrets at rest: the first encrypts, all decrypt. None: embedded mode.
    data_encryption_keys: tuple[str, ...] | None = None
    # Local development only: accept bearer tokens that never expire (no `exp` claim).
    auth_allow_tokens_without_exp: bool = False
    public_base_url: str = "http://127.0.0.1:8000"
    # The guest's manage link in emails: the platform's page that takes the manage token.
    manage_url: str = "http://127.0.0.1:8000/manage?token={token}"
    log_level: str = "INFO"
    db_pool_size: int = 10
    # Start-up: how long commands retry a database that does not answer, with backoff.
    db_wait_seconds: int = 30
    # SIGTERM: how long in-flight requests and jobs have to finish before they are cancelled.
    shutdown_grace_seconds: int = 20
    limits: QueryLimits = field(default_factory=QueryLimits)
    http: HttpLimits = field(default_factory=HttpLimits)
    api: HttpApi = field(default_factory=HttpApi)
    stripe: StripeSettings | None = None
    # How long a booking waiting for payment keeps its slot.
    payment_hold_minutes: int = 15
    # Pub/sub for live updates: memory://, postgresql:// (bare: the service's database), redis://.
    broadcast_url: str = "postgresql://"
    # Dramatiq's broker (redis:// or amqp://); None: `serve` runs background work itself.
    broker_url: str | None = None
    smtp: SmtpSettings | None = None
    jobs: JobSettings = field(default_factory=JobSettings)
    google: GoogleSettings | None = None
    # Video rooms for services with meetingLinks: {room} becomes an unguessable name.
    meeting_url_template: str | None = None
    # Who makes meeting links (None: nobody, and no meeting jobs are written).
    meeting_provider: MeetingProvider | None = None
    zoom: ZoomSettings | None = None
    microsoft: MicrosoftSettings | None = None
    rate_limits: RateLimits = field(default_factory=RateLimits)
    observability: Observability = field(default_factory=Observability)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)

    funnel: FunnelSettings = field(default_factory=FunnelSettings)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        database_url = env.get("DATABASE_URL") or None
        if database_url is not None and not database_url.startswith(
            ("postgresql://", "postgres://")
        ):
            raise SettingsError("DATABASE_URL must be a postgresql:// URL")
        direct_url = env.get("DATABASE_DIRECT_URL") or None
        if direct_url is not None and (
            database_url is None or not direct_url.startswith(("postgresql://", "postgres://"))
        ):
            raise SettingsError(
                "DATABASE_DIRECT_URL must be a postgresql:// URL, set together with DATABASE_URL"
            )
        secret = env.get("AUTH_JWT_SECRET") or None
        if secret is not None and len(secret) < MIN_SECRET_LENGTH:
            raise SettingsError(f"AUTH_JWT_SECRET must be at least {MIN_SECRET_LENGTH} characters")
        if database_url is not None and secret is None:
            raise SettingsError(
                "AUTH_JWT_SECRET is not set: with DATABASE_URL (production) the service needs "
                "a fixed secret to sign and check tokens"
            )
        keys = _encryption_keys(env)
        if database_url is not None and keys is None:
            raise SettingsError(
                "DATA_ENCRYPTION_KEY is not set: with DATABASE_URL (production) the service "
                "needs a fixed key to encrypt the secrets it stores"
            )
        public_base_url = (env.get("PUBLIC_BASE_URL") or cls.public_base_url).rstrip("/")
        google, zoom, template = _google(env), _zoom(env), _meeting_template(env)
        return cls(
            database_url=database_url,
            database_direct_url=direct_url,
            data_dir=data_dir_of(env),
            auth_jwt_secret=secret,
            data_encryption_keys=keys,
            auth_allow_tokens_without_exp=_flag(env, "AUTH_ALLOW_TOKENS_WITHOUT_EXP"),
            public_base_url=public_base_url,
            manage_url=_manage_url(env, public_base_url),
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            db_pool_size=_int(env, "DB_POOL_SIZE", 10),
            limits=QueryLimits(
                max_depth=_int(env, "GRAPHQL_MAX_DEPTH", QueryLimits.max_depth),
                max_tokens=_int(env, "GRAPHQL_MAX_TOKENS", QueryLimits.max_tokens),
                max_aliases=_int(env, "GRAPHQL_MAX_ALIASES", QueryLimits.max_aliases),
                max_cost=_int(env, "GRAPHQL_MAX_COST", QueryLimits.max_cost),
                timeout_seconds=_int(env, "GRAPHQL_TIMEOUT_SECONDS", 5),
            ),
            http=HttpLimits(
                max_body_bytes=_int(env, "MAX_BODY_BYTES", HttpLimits.max_body_bytes),
                read_timeout=_int(env, "REQUEST_READ_TIMEOUT", HttpLimits.read_timeout),
                keep_alive_timeout=_int(env, "KEEP_ALIVE_TIMEOUT", HttpLimits.keep_alive_timeout),
            ),
            api=HttpApi(
                cors_origins=_origins(env),
                embed_origins=_embed_origins(env),
                max_batch=_int(env, "GRAPHQL_MAX_BATCH", HttpApi.max_batch),
                apq_storage_url=_apq_storage(env),
                apq_max_entries=_int(env, "APQ_MAX_ENTRIES", HttpApi.apq_max_entries),
                introspection=_flag(env, "GRAPHQL_INTROSPECTION", default=True),
                public_max_age=_int(env, "PUBLIC_MAX_AGE", HttpApi.public_max_age, minimum=0),
            ),
            db_wait_seconds=_int(env, "DB_WAIT_SECONDS", 30, minimum=0),
            shutdown_grace_seconds=_int(
                env, "SHUTDOWN_GRACE_SECONDS", Settings.shutdown_grace_seconds, minimum=0
            ),
            stripe=_stripe(env, public_base_url),
            payment_hold_minutes=_int(env, "PAYMENT_HOLD_MINUTES", 15),
            broadcast_url=_broadcast_url(env),
            broker_url=_broker_url(env),
            smtp=_smtp(env),
            google=google,
            meeting_url_template=template,
            meeting_provider=_meeting_provider(env, template, google, zoom),
            zoom=zoom,
            microsoft=_microsoft(env),
            jobs=JobSettings(
                lease_seconds=_int(env, "OUTBOX_LEASE_SECONDS", JobSettings.lease_seconds),
                poll_seconds=_int(env, "OUTBOX_POLL_SECONDS", JobSettings.poll_seconds),
                max_attempts=_int(env, "JOB_MAX_ATTEMPTS", JobSettings.max_attempts),
                hold_sweep_seconds=_int(env, "HOLD_SWEEP_SECONDS", JobSettings.hold_sweep_seconds),
                sweep_seconds=_int(env, "SWEEP_SECONDS", JobSettings.sweep_seconds),
                daily_summary_hour=_hour(env, "DAILY_SUMMARY_HOUR", JobSettings.daily_summary_hour),
                waitlist_offer_hours=_int(
                    env, "WAITLIST_OFFER_HOURS", JobSettings.waitlist_offer_hours
                ),
            ),
            rate_limits=RateLimits(
                anonymous=_rate(env, "RATE_LIMIT_ANONYMOUS", RateLimits.anonymous),
                authenticated=_rate(env, "RATE_LIMIT_AUTHENTICATED", RateLimits.authenticated),
                storage_url=_rate_storage(env),
                trusted_proxies=_trusted_proxies(env),
            ),
            observability=_observability(env),
            webhooks=WebhookSettings(
                allow_private_targets=_flag(env, "WEBHOOK_ALLOW_PRIVATE_TARGETS"),
                timeout_seconds=_int(env, "WEBHOOK_TIMEOUT_SECONDS", 10),
            ),
            funnel=_funnel(env),
        )

    def jwt_secret(self) -> str:
        """The signing secret; in embedded mode one is made once and kept in the data folder."""
        if self.auth_jwt_secret is not None:
            return self.auth_jwt_secret
        return _kept_in(
            self.data_dir, "jwt-secret", lambda: secrets.token_urlsafe(48), "AUTH_JWT_SECRET"
        )

    def cipher(self) -> Cipher:
        """What encrypts secrets at rest; in embedded mode a key is made once and kept in the
        data folder, beside the signing secret."""
        if self.data_encryption_keys is not None:
            return Cipher(self.data_encryption_keys)
        key = _kept_in(self.data_dir, "data-key", new_key, "DATA_ENCRYPTION_KEY")
        try:
            return Cipher([key])
        except BadKey:
            raise SettingsError(
                f"{self.data_dir / 'data-key'} is not a Fernet key: restore it, or set "
                "DATA_ENCRYPTION_KEY"
            ) from None
