"""Scalars of the contract that need more care than Strawberry's defaults."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from functools import cache
from typing import NewType, TypeVar
from zoneinfo import available_timezones

import strawberry
from strawberry.schema.types.base_scalars import TimeDefinition
from strawberry.types.scalar import ScalarDefinition

TimeZone = NewType("TimeZone", str)
T = TypeVar("T")

# Names zoneinfo knows that are not places: refusing them keeps schedules meaningful.
_NOT_PLACES = frozenset({"Factory", "localtime", "posixrules"})


@cache
def known_time_zones() -> frozenset[str]:
    return frozenset(available_timezones()) - _NOT_PLACES


def parse_time_zone(value: object) -> TimeZone:
    if not isinstance(value, str) or value not in known_time_zones():
        raise ValueError(f"Unknown time zone {value!r}: use an IANA name such as America/New_York")
    return TimeZone(value)


# Dates the service takes: any booking's, and far enough inside datetime's years 1-9999 that a
# zone offset or a day's arithmetic never overflows (9999-12-31T23:59-14:00 does).
FIRST_YEAR, LAST_YEAR = 1900, 2200
_EARLIEST = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)
_AFTER_LAST = datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC)
_OUT_OF_RANGE = f"is out of range: give one in the years {FIRST_YEAR} to {LAST_YEAR}"


def _iso(value: object, kind: str, parse: Callable[[str], T], example: str) -> T:
    if not isinstance(value, str):
        raise ValueError(f"{kind} must be an ISO-8601 string")
    try:
        return parse(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO-8601 {example}") from None


def parse_date(value: object) -> date:
    parsed = _iso(value, "Date", date.fromisoformat, "date such as 2026-03-09")
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise ValueError(f"{value!r} {_OUT_OF_RANGE}")
    return parsed


def parse_datetime(value: object) -> datetime:
    parsed = _iso(value, "DateTime", datetime.fromisoformat, "date-time")
    if parsed.tzinfo is None:
        raise ValueError(
            f"{value!r} has no UTC offset: write it as 2026-03-09T09:00:00-04:00 or ...Z"
        )
    # Compared as instants (no conversion that could overflow) and in the writer's own zone.
    if not (_EARLIEST <= parsed < _AFTER_LAST and FIRST_YEAR <= parsed.year <= LAST_YEAR):
        raise ValueError(f"{value!r} {_OUT_OF_RANGE}")
    return parsed


def serialize_datetime(value: datetime) -> str:
    return value.isoformat()


# @specifiedBy: what codegen tools map each scalar by (RFC 3339 sections 5.6: date-time,
# full-date, partial-time; the IANA time zone database's names).
RFC_3339 = "https://www.rfc-editor.org/rfc/rfc3339#section-5.6"
IANA_ZONES = "https://www.iana.org/time-zones"


SCALARS: dict[object, ScalarDefinition] = {
    TimeZone: strawberry.scalar(
        name="TimeZone",
        description=(
            "An IANA time zone name, such as America/New_York. An unknown name is rejected."
        ),
        specified_by_url=IANA_ZONES,
        serialize=str,
        parse_value=parse_time_zone,
    ),
    datetime: strawberry.scalar(
        name="DateTime",
        description=(
            "An ISO-8601 instant with its UTC offset: 2026-03-09T09:00:00-04:00. "
            f"Years {FIRST_YEAR} to {LAST_YEAR}."
        ),
        specified_by_url=RFC_3339,
        serialize=serialize_datetime,
        parse_value=parse_datetime,
    ),
    date: strawberry.scalar(
        name="Date",
        description=f"An ISO-8601 calendar date: 2026-03-09. Years {FIRST_YEAR} to {LAST_YEAR}.",
        specified_by_url=RFC_3339,
        serialize=date.isoformat,
        parse_value=parse_date,
    ),
    # Strawberry's own Time, parsing as before, with its specification named.
    time: dataclasses.replace(TimeDefinition, specified_by_url=RFC_3339),
}
