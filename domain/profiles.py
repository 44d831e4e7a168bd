"""The public profile's checks (a tutor's bio, avatar and embed origins; a phone number) and the
one count it shows: how many students a tutor has taught.

Each check takes what the caller sent and the field to name, and returns the value to store or
raises InvalidInput. Text the database cannot store never gets here (`booking_api/text_guard`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from ipaddress import IPv6Address, ip_address
from urllib.parse import SplitResult, urlsplit

from sqlalchemy import func
from sqlmodel import col, select

from domain.errors import InvalidInput
from infra.db import Database
from models import Booking, BookingStatus, ServiceTutor, Tutor

MAX_BIO = 2000
MAX_AVATAR_URL = 500
MAX_ORIGINS = 20
MAX_ORIGIN = 300
MAX_PHONE_INPUT = 40
# E.164: a plus, then 8 to 15 digits, the first (the country code's) not zero.
E164 = re.compile(r"\+[1-9][0-9]{7,14}")
# What people type between digits: spaces, dashes, dots and parentheses are dropped.
PHONE_SEPARATORS = re.compile(r"[\s\-.()]")
# Control characters other than tab and line breaks have no place in plain text.
CONTROL = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")
HOST_LABELS = re.compile(
    r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
)
# Plain http only for a page on the developer's own machine.
LOOPBACK = ("localhost", "127.0.0.1", "::1")
DEFAULT_PORTS = {"https": 443, "http": 80}


def clean_bio(value: str) -> str | None:
    """Plain text, at most MAX_BIO characters once trimmed; empty clears it."""
    bio = value.strip()
    if len(bio) > MAX_BIO:
        raise InvalidInput(f"A bio is at most {MAX_BIO} characters", "input.bio")
    if CONTROL.search(bio):
        raise InvalidInput("A bio is plain text, without control characters", "input.bio")
    return bio or None


def _split(url: str, field: str, schemes: tuple[str, ...], wrong_scheme: str) -> SplitResult:
    """The URL parsed: one of `schemes` (else `wrong_scheme` is the message), a host, no
    credentials."""
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise InvalidInput("No spaces or control characters", field)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (a port that is not a number raises here)
    except ValueError:
        raise InvalidInput("Not a URL", field) from None
    if parts.scheme.lower() not in schemes:
        raise InvalidInput(wrong_scheme, field)
    if "@" in parts.netloc:
        raise InvalidInput("No user name or password in the address", field)
    if not parts.hostname:
        raise InvalidInput("The address has no host", field)
    return parts


def clean_avatar_url(value: str) -> str | None:
    """An https URL with a host and no credentials, at most MAX_AVATAR_URL characters; empty
    clears it. Never fetched here: the client shows it."""
    url, field = value.strip(), "input.avatarUrl"
    if not url:
        return None
    if len(url) > MAX_AVATAR_URL:
        raise InvalidInput(f"At most {MAX_AVATAR_URL} characters", field)
    _split(url, field, ("https",), "An avatar URL starts with https://")
    return url


def _host(hostname: str, field: str) -> str:
    """The host as an origin writes it: lower case, IDNA for names, brackets for IPv6."""
    try:
        literal = ip_address(hostname)
    except ValueError:
        literal = None
    if literal is not None:
        return f"[{literal.compressed}]" if isinstance(literal, IPv6Address) else str(literal)
    try:
        ascii_host = hostname.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidInput("The host is not a valid name", field) from None
    if len(ascii_host) > 253 or not HOST_LABELS.fullmatch(ascii_host):
        raise InvalidInput("The host is not a valid name", field)
    return ascii_host


def clean_origin(value: str, field: str) -> str:
    """`https://host[:port]` (http only for localhost), normalized: lower-case host, the default
    port left out. No path (a lone `/` is dropped), query, fragment, wildcard or credentials."""
    origin = value.strip()
    if not origin or len(origin) > MAX_ORIGIN:
        raise InvalidInput(f"An origin is 1 to {MAX_ORIGIN} characters", field)
    if "*" in origin:
        raise InvalidInput("Give exact origins: no wildcards", field)
    wrong_scheme = "An origin starts with https:// (http:// only for localhost)"
    parts = _split(origin, field, ("https", "http"), wrong_scheme)
    scheme, hostname = parts.scheme.lower(), parts.hostname or ""
    if scheme == "http" and hostname not in LOOPBACK:
        raise InvalidInput(wrong_scheme, field)
    if parts.path not in ("", "/") or "?" in origin or "#" in origin:
        raise InvalidInput("An origin is scheme, host and port only: no path or query", field)
    port = parts.port
    if port == 0:
        raise InvalidInput("Port 0 is not a port", field)
    shown = f":{port}" if port is not None and port != DEFAULT_PORTS[scheme] else ""
    return f"{scheme}://{_host(hostname, field)}{shown}"


def clean_origins(values: Sequence[str]) -> list[str]:
    """At most MAX_ORIGINS distinct origins; an empty list clears them."""
    if len(values) > MAX_ORIGINS:
        raise InvalidInput(f"At most {MAX_ORIGINS} origins", "input.embedOrigins")
    cleaned: list[str] = []
    for index, value in enumerate(values):
        field = f"input.embedOrigins[{index}]"
        origin = clean_origin(value, field)
        if origin in cleaned:
            raise InvalidInput(f"{origin} is listed twice", field)
        cleaned.append(origin)
    return cleaned


def clean_phone(value: str | None, field: str) -> str | None:
    """E.164 (+14155550123) once spaces, dashes, dots and parentheses are dropped; None or
    empty is no phone. The one check of every phone number the API takes."""
    if value is None or not value.strip():
        return None
    if len(value) > MAX_PHONE_INPUT:
        raise InvalidInput(f"At most {MAX_PHONE_INPUT} characters", field)
    phone = PHONE_SEPARATORS.sub("", value)
    if not E164.fullmatch(phone):
        raise InvalidInput(
            "Give the number in international form: + then country code and number, "
            "8 to 15 digits (+14155550123)",
            field,
        )
    return phone


async def students_taught(db: Database, tutor_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Per tutor, the distinct students with at least one COMPLETED booking with them: one
    statement for every tutor asked about."""
    async with db.session() as session:
        rows = await session.exec(
            select(Booking.tutor_id, func.count(col(Booking.student_id).distinct()))
            .where(
                col(Booking.tutor_id).in_(tutor_ids),
                col(Booking.status) == BookingStatus.COMPLETED,
            )
            .group_by(col(Booking.tutor_id))
        )
        return {tutor: count for tutor, count in rows}


async def embed_origins(db: Database, service_id: uuid.UUID) -> list[str]:
    """The origins every tutor of a service lets embed its booking widget (their profiles'
    embedOrigins together); empty for an unknown service."""
    async with db.session() as session:
        rows = await session.exec(
            select(Tutor.embed_origins)
            .join(ServiceTutor, col(ServiceTutor.tutor_id) == col(Tutor.id))
            .where(col(ServiceTutor.service_id) == service_id)
        )
        return sorted({origin for origins in rows for origin in origins})
