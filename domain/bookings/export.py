"""The bookings list as a CSV file (RFC 4180, UTF-8, a header row), behind a signed link.

The link carries the viewer, the filter and the time zone, signed with the service's secret and
valid ten minutes: nothing is stored, and nothing but the signature is trusted. The file holds
what `bookings(filter:)` would list for that viewer (the same `queries.matching`, in its
default order), read through a server-side cursor a batch at a time, so a large export never sits
in memory.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jwt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncResult
from sqlmodel import col

from domain import forms
from domain.bookings.access import access_of
from domain.bookings.queries import BookingFilter, BookingOrder, check_filter, matching, sorting
from infra.auth import Identity
from infra.db import Database
from infra.ids import encode_id
from models import Booking, BookingStatus, Service, Student, Tutor

CSV_PATH = "/exports/bookings.csv"  # the app's route; the link adds ?token=
LINK_TTL = timedelta(minutes=10)
BATCH = 500  # rows per fetch from the cursor and per chunk of the response
AUDIENCE = "bookings.csv"
HEADER = (
    "id",
    "status",
    "service",
    "tutor",
    "student_name",
    "student_email",
    "start",
    "end",
    "duration_minutes",
    "price_amount_minor",
    "price_currency",
    "package_id",
    "reschedule_count",
    "cancellation_reason",
    "form_status",
)
# OWASP's list: a cell starting with one of these is a formula to a spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Export:
    """What a valid link asks for."""

    sub: str
    where: BookingFilter
    zone: str


def _key(secret: str) -> bytes:
    # A key of its own: a link's token must never pass as a bearer token, nor the reverse.
    return hmac.new(secret.encode(), AUDIENCE.encode(), hashlib.sha256).digest()


def _filter_claim(where: BookingFilter) -> dict[str, Any]:
    claim = asdict(where)
    for name, value in claim.items():
        if isinstance(value, uuid.UUID | datetime):
            claim[name] = str(value) if isinstance(value, uuid.UUID) else value.isoformat()
    if where.ids is not None:
        # Packed (22 characters an id) so 100 selected ids keep the link a few KB long.
        packed = b"".join(i.bytes for i in where.ids)
        claim["ids"] = base64.urlsafe_b64encode(packed).decode()
    return claim


def _filter_of(claim: dict[str, Any]) -> BookingFilter:
    def moment(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value is not None else None

    def key(value: str | None) -> uuid.UUID | None:
        return uuid.UUID(value) if value is not None else None

    statuses, packed = claim["statuses"], claim.get("ids")
    raw = base64.urlsafe_b64decode(packed) if packed is not None else None
    return BookingFilter(
        tutor_id=key(claim["tutor_id"]),
        student_id=key(claim["student_id"]),
        organization_id=key(claim["organization_id"]),
        statuses=[BookingStatus(s) for s in statuses] if statuses is not None else None,
        range=claim["range"],
        start_from=moment(claim["start_from"]),
        start_to=moment(claim["start_to"]),
        search=claim["search"],
        ids=[uuid.UUID(bytes=raw[i : i + 16]) for i in range(0, len(raw), 16)]
        if raw is not None
        else None,
    )


def sign_link(
    secret: str, identity: Identity, where: BookingFilter, zone: str, now: datetime
) -> str:
    """The token of a link to this viewer's export (the filter checked as the list checks it)."""
    check_filter(where)
    claims = {
        "sub": identity.sub,
        "aud": AUDIENCE,
        "exp": now + LINK_TTL,
        "filter": _filter_claim(where),
        "zone": zone,
    }
    return jwt.encode(claims, _key(secret), algorithm="HS256")


def open_link(secret: str, token: str, now: datetime) -> Export | None:
    """What a link asks for, or None for one that is altered, not ours, or expired at `now`."""
    try:
        # Expiry is checked against `now` below, not against the wall clock.
        claims = jwt.decode(
            token,
            _key(secret),
            algorithms=["HS256"],
            audience=AUDIENCE,
            options={"verify_exp": False, "require": ["sub", "exp"]},
        )
        if now.timestamp() >= claims["exp"]:
            return None
        return Export(claims["sub"], _filter_of(claims["filter"]), ZoneInfo(claims["zone"]).key)
    except (jwt.InvalidTokenError, KeyError, TypeError, ValueError):
        return None


def _text(value: str | None) -> str:
    """A cell of free text, escaped so a spreadsheet shows it instead of running it."""
    if value and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value or ""


def _chunk(rows: Sequence[Any], zone: ZoneInfo) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)  # RFC 4180: quotes where needed, CRLF line ends
    for r in rows:
        writer.writerow(
            (
                encode_id("Booking", r.id),
                r.status,
                _text(r.title),
                _text(r.tutor_name),
                _text(r.student_name),
                _text(r.email),
                r.start_at.astimezone(zone).isoformat(),
                r.end_at.astimezone(zone).isoformat(),
                r.duration_minutes,
                "" if r.price_amount_minor is None else r.price_amount_minor,
                r.price_currency or "",
                encode_id("Package", r.package_id) if r.package_id else "",
                r.reschedule_count,
                _text(r.cancellation_reason),
                r.form_status,
            )
        )
    return out.getvalue().encode()


async def csv_chunks(db: Database, export: Export, now: datetime) -> AsyncIterator[bytes]:
    """The file, a header then one chunk per batch of rows."""
    zone = ZoneInfo(export.zone)
    yield ",".join(HEADER).encode() + b"\r\n"
    async with db.session() as session:
        access = await access_of(session, Identity(sub=export.sub))
        # 15 columns: past what select()'s overloads type.
        result: AsyncResult[*tuple[Any, ...]] = await session.stream(
            select(
                col(Booking.id),
                col(Booking.status),
                col(Service.title),
                col(Tutor.display_name).label("tutor_name"),
                col(Student.display_name).label("student_name"),
                col(Student.email),
                col(Booking.start_at),
                col(Booking.end_at),
                col(Booking.duration_minutes),
                col(Booking.price_amount_minor),
                col(Booking.price_currency),
                col(Booking.package_id),
                col(Booking.reschedule_count),
                col(Booking.cancellation_reason),
                forms.form_status().label("form_status"),
            )
            .join(Service, col(Service.id) == Booking.service_id)
            .join(Tutor, col(Tutor.id) == Booking.tutor_id)
            .join(Student, col(Student.id) == Booking.student_id)
            .where(*matching(access, export.where, now))
            .order_by(*sorting(BookingOrder.START_ASC))
            .execution_options(yield_per=BATCH)
        )
        async for batch in result.partitions():
            yield _chunk(batch, zone)
