"""A service's settings as callers give them: the defaults, the bounds of each number, and the
checks of lengths and prices (no I/O)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from domain.currencies import ISO_4217
from domain.errors import InvalidInput
from domain.reminders import ReminderRule

MAX_DURATION = 12 * 60
MAX_DURATIONS = 12
MAX_TUTORS = 50
MAX_MINUTES = 24 * 60  # buffers, interval
MAX_NOTICE_MINUTES = 365 * 24 * 60
MAX_WINDOW_DAYS = 730
MAX_POLICY_HOURS = 365 * 24
MAX_CAPACITY = 1000
MAX_PRICE = 10**12


@dataclass(frozen=True)
class DurationInput:
    minutes: int
    price_amount_minor: int | None = None
    price_currency: str | None = None


@dataclass(frozen=True)
class CustomGrid:
    """Any length from min to max in steps (domain/custom_durations.py checks it)."""

    min_minutes: int
    max_minutes: int
    step_minutes: int = 15
    price_per_hour_minor: int | None = None
    price_currency: str | None = None


@dataclass(frozen=True)
class ServiceRules:
    """Every setting of a service; None in an update means "leave as it is"."""

    title: str | None = None
    kind: str | None = None
    tutor_ids: Sequence[uuid.UUID] | None = None
    organization_id: uuid.UUID | None = None
    schedule_id: uuid.UUID | None = None
    durations: Sequence[DurationInput] | None = None
    buffer_before_minutes: int | None = None
    buffer_after_minutes: int | None = None
    capacity: int | None = None
    slot_interval_minutes: int | None = None
    minimum_notice_minutes: int | None = None
    booking_window_days: int | None = None
    cancellation_notice_hours: int | None = None
    reschedule_notice_hours: int | None = None
    max_reschedules: int | None = None
    requires_package: bool | None = None
    monthly_free_allowance: int | None = None
    enrollment_required: bool | None = None
    meeting_links: bool | None = None
    custom_duration: CustomGrid | None = None
    # [] means no reminders; None leaves them (on create: the defaults, domain/reminders.py).
    reminders: Sequence[ReminderRule] | None = None
    # Fields an update sets to null on purpose (maxReschedules: no limit; scheduleId: defaults;
    # customDuration: listed durations only).
    cleared: frozenset[str] = field(default_factory=frozenset)


DEFAULTS = ServiceRules(
    kind="SESSION",
    buffer_before_minutes=0,
    buffer_after_minutes=0,
    capacity=1,
    slot_interval_minutes=15,
    minimum_notice_minutes=0,
    booking_window_days=60,
    cancellation_notice_hours=0,
    reschedule_notice_hours=0,
    requires_package=False,
    monthly_free_allowance=0,
    enrollment_required=False,
    meeting_links=False,
)

# (field, GraphQL name, lowest, highest)
BOUNDS = [
    ("buffer_before_minutes", "bufferBeforeMinutes", 0, MAX_MINUTES),
    ("buffer_after_minutes", "bufferAfterMinutes", 0, MAX_MINUTES),
    ("capacity", "capacity", 1, MAX_CAPACITY),
    ("slot_interval_minutes", "slotIntervalMinutes", 5, MAX_MINUTES),
    ("minimum_notice_minutes", "minimumNoticeMinutes", 0, MAX_NOTICE_MINUTES),
    ("booking_window_days", "bookingWindowDays", 0, MAX_WINDOW_DAYS),
    ("cancellation_notice_hours", "cancellationNoticeHours", 0, MAX_POLICY_HOURS),
    ("reschedule_notice_hours", "rescheduleNoticeHours", 0, MAX_POLICY_HOURS),
    ("max_reschedules", "maxReschedules", 0, 1000),
    ("monthly_free_allowance", "monthlyFreeAllowance", 0, 1000),
]


def check_numbers(rules: ServiceRules) -> None:
    for name, graphql_name, lowest, highest in BOUNDS:
        value = getattr(rules, name)
        if value is not None and not lowest <= value <= highest:
            raise InvalidInput(
                f"{graphql_name} must be between {lowest} and {highest}", f"input.{graphql_name}"
            )


def check_price(amount_minor: int, currency: str | None, field_name: str) -> str:
    """A price's currency, upper case, once amount and code are known to be sound."""
    code = (currency or "").upper()
    if code not in ISO_4217:
        raise InvalidInput(
            f"{currency!r} is not an ISO 4217 currency code", f"{field_name}.currency"
        )
    if not 0 < amount_minor <= MAX_PRICE:
        raise InvalidInput(
            "A price is a positive amount in minor units; leave price out for free",
            f"{field_name}.amountMinor",
        )
    return code


def check_durations(durations: Sequence[DurationInput]) -> list[DurationInput]:
    if not durations:
        raise InvalidInput("Offer at least one duration", "input.durations")
    if len(durations) > MAX_DURATIONS:
        raise InvalidInput(f"At most {MAX_DURATIONS} durations", "input.durations")
    seen: set[int] = set()
    currencies: set[str] = set()
    checked = []
    for index, option in enumerate(durations):
        field_name = f"input.durations.{index}"
        if not 5 <= option.minutes <= MAX_DURATION or option.minutes % 5:
            raise InvalidInput(
                "Durations are positive whole minutes on a 5-minute grid, up to 12 hours",
                f"{field_name}.minutes",
            )
        if option.minutes in seen:
            raise InvalidInput(
                f"{option.minutes} minutes is offered twice", f"{field_name}.minutes"
            )
        seen.add(option.minutes)
        currency = option.price_currency
        if option.price_amount_minor is not None:
            currency = check_price(option.price_amount_minor, currency, f"{field_name}.price")
            currencies.add(currency)
        checked.append(replace(option, price_currency=currency))
    if len(currencies) > 1:
        raise InvalidInput("All prices of a service are in one currency", "input.durations")
    return checked
