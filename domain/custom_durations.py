"""Custom lengths: besides its listed durations, a service may take any length on a grid, from
min to max in steps of step, priced per hour pro rata (no I/O).

Every length is on the 5-minute grid of listed durations (min and step multiples of 5, from 5
minutes to 12 hours), so a grid has at most 144 lengths.
A listed duration of the same length wins (its own price). The price of a length is
pricePerHour x minutes / 60 in the currency's minor unit, rounded half up: amounts are kept in
minor units, so the rule is the same for cents and for yen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from domain.errors import InvalidInput
from domain.service_rules import (
    MAX_DURATION,
    CustomGrid,
    ServiceRules,
    check_price,
)
from models import Service, ServiceDuration

FIELD = "input.customDuration"
MIN_MINUTES = 5
MIN_STEP = 5


class Priced(Protocol):
    """A listed duration, as given or as stored."""

    @property
    def price_amount_minor(self) -> int | None: ...

    @property
    def price_currency(self) -> str | None: ...


def pro_rata(per_hour_minor: int, minutes: int) -> int:
    """per_hour_minor x minutes / 60, rounded half up to a whole minor unit."""
    return (2 * per_hour_minor * minutes + 60) // 120


def check(custom: CustomGrid) -> CustomGrid:
    """The grid sound and every length on it priced at least one minor unit; the currency
    upper case."""
    low, high, step = custom.min_minutes, custom.max_minutes, custom.step_minutes
    if low < MIN_MINUTES or low % 5:
        raise InvalidInput(
            f"minMinutes is a multiple of 5, at least {MIN_MINUTES}", f"{FIELD}.minMinutes"
        )
    if high > MAX_DURATION:
        raise InvalidInput(
            f"maxMinutes is at most {MAX_DURATION} (12 hours)", f"{FIELD}.maxMinutes"
        )
    if low > high:
        raise InvalidInput("minMinutes is at most maxMinutes", f"{FIELD}.maxMinutes")
    if step < MIN_STEP or step % 5:
        raise InvalidInput(
            f"stepMinutes is a multiple of 5, at least {MIN_STEP}", f"{FIELD}.stepMinutes"
        )
    if (high - low) % step:
        below = high - (high - low) % step
        raise InvalidInput(
            f"maxMinutes is minMinutes plus whole steps of {step}: {below} or {below + step}",
            f"{FIELD}.maxMinutes",
        )
    if custom.price_per_hour_minor is None:
        return replace(custom, price_currency=None)
    price = f"{FIELD}.pricePerHour"
    currency = check_price(custom.price_per_hour_minor, custom.price_currency, price)
    if pro_rata(custom.price_per_hour_minor, low) < 1:
        raise InvalidInput(
            f"At this price {low} minutes would cost nothing", f"{price}.amountMinor"
        )
    return replace(custom, price_currency=currency)


def apply(row: Service, rules: ServiceRules, listed: Sequence[Priced]) -> None:
    """The custom length of `rules` stored on the row (null on purpose: removed), its price in
    the currency of the listed durations' prices (`listed`: as they will be)."""
    if rules.custom_duration is not None:
        custom = check(rules.custom_duration)
        row.custom_min_minutes = custom.min_minutes
        row.custom_max_minutes = custom.max_minutes
        row.custom_step_minutes = custom.step_minutes
        row.custom_price_per_hour_minor = custom.price_per_hour_minor
        row.custom_price_currency = custom.price_currency
    elif "custom_duration" in rules.cleared:
        row.custom_min_minutes = row.custom_max_minutes = row.custom_step_minutes = None
        row.custom_price_per_hour_minor = None
        row.custom_price_currency = None
    currencies = {d.price_currency for d in listed if d.price_amount_minor is not None}
    if row.custom_price_currency is not None and currencies - {row.custom_price_currency}:
        raise InvalidInput(
            f"All prices of a service are in one currency: the listed durations' are in "
            f"{', '.join(sorted(c or '' for c in currencies))}",
            f"{FIELD}.pricePerHour.currency"
            if rules.custom_duration is not None
            else "input.durations",
        )


def read(row: Service) -> CustomGrid | None:
    """The service's custom length as set; None when it has none."""
    low, high, step = row.custom_min_minutes, row.custom_max_minutes, row.custom_step_minutes
    if low is None or high is None or step is None:  # all or none (the table's check)
        return None
    return CustomGrid(
        min_minutes=low,
        max_minutes=high,
        step_minutes=step,
        price_per_hour_minor=row.custom_price_per_hour_minor,
        price_currency=row.custom_price_currency,
    )


def option_for(row: Service, minutes: int) -> ServiceDuration | None:
    """The length on the service's grid, with its pro-rata price (never stored); None when
    the service has no grid or the length is off it."""
    custom = read(row)
    if custom is None or not custom.min_minutes <= minutes <= custom.max_minutes:
        return None
    if (minutes - custom.min_minutes) % custom.step_minutes:
        return None
    per_hour = custom.price_per_hour_minor
    return ServiceDuration(
        service_id=row.id,
        minutes=minutes,
        position=0,
        price_amount_minor=None if per_hour is None else pro_rata(per_hour, minutes),
        price_currency=custom.price_currency,
    )


def described(row: Service) -> str:
    """The grid in words, for an error: '' without one."""
    custom = read(row)
    if custom is None:
        return ""
    return f"; or {custom.min_minutes} to {custom.max_minutes} in steps of {custom.step_minutes}"
