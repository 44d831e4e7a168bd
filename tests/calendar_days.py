"""The awkward days CI runs the date-sensitive tests on again: `python -m tests.calendar_days`
prints one `BOOKING_TEST_NOW` value per line, each the next such day from today, so they stay
ahead of the wall clock (a payment or a token is still checked against the real time).

Given those lines in BOOKING_TEST_DAYS, one pytest run repeats each `calendar` test on every
one of them (tests/conftest.py), so the days share one database and one start-up."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


def dst_changes(zone: str, after: datetime) -> Iterator[datetime]:
    """The instants the zone's UTC offset changes, to the hour, within the next 13 months."""
    tz = ZoneInfo(zone)
    hour = after.replace(minute=0, second=0, microsecond=0)
    for _ in range(24 * 400):
        following = hour + timedelta(hours=1)
        if hour.astimezone(tz).utcoffset() != following.astimezone(tz).utcoffset():
            yield following
        hour = following


def awkward_days(today: datetime) -> dict[str, datetime]:
    day = today.date() + timedelta(days=1)
    month_end = next(  # 31 December has its own turn
        day + timedelta(days=n)
        for n in range(62)
        if (day + timedelta(days=n + 1)).day == 1 and (day + timedelta(days=n)).month != 12
    )
    monday = day + timedelta(days=-day.weekday() % 7)
    new_year = datetime(day.year + (day.month == 12 and day.day == 31), 12, 31, 23, 30, tzinfo=UTC)
    days = {
        # Late in the UTC day: in Asia it is already the next month.
        "a month's last day": datetime.combine(month_end, time(22, 30), UTC),
        "a Monday": datetime.combine(monday, time(0, 30), UTC),
        "31 December": new_year,
    }
    for zone in ("America/New_York", "Europe/London"):
        spring, autumn = sorted(dst_changes(zone, today))[:2]
        for change in (spring, autumn):
            label = "clocks go forward" if change.month < 7 else "clocks go back"
            days[f"{zone}: {label}"] = change - timedelta(minutes=30)
    return days


def parse(lines: str) -> list[tuple[str, datetime]]:
    """(label, instant) of each line `main` printed; blank lines skipped."""
    days = []
    for line in lines.splitlines():
        at, _, label = line.partition("#")
        if at.strip():
            days.append((label.strip() or at.strip(), datetime.fromisoformat(at.strip())))
    return days


def main() -> None:
    for label, at in awkward_days(datetime.now(UTC)).items():
        print(f"{at.isoformat()}  # {label}")


if __name__ == "__main__":
    main()
