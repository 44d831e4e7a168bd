"""The record's pure rules under random input (hypothesis): the weekly streak against a plain
reference, and the favorite times' threshold, order and cut."""

from __future__ import annotations

from datetime import date, time, timedelta

from hypothesis import given
from hypothesis import strategies as st

from domain.roster import (
    FAVORITE_BOOKINGS,
    FAVORITES_SHOWN,
    FavoriteTime,
    streak_weeks,
    top_favorites,
)

TODAY = st.dates(date(2020, 1, 1), date(2040, 12, 31))
# Days near today, so runs of weeks and gaps both happen often.
OFFSETS = st.sets(st.integers(-80, 10), max_size=40)


def reference_streak(days: set[date], today: date) -> int:
    """Weeks numbered from 1 January of year 1 (a Monday); the longest run of numbered weeks
    with a day in them that ends with today's week, or with the week before when today's has
    none."""
    weeks = {(d.toordinal() - 1) // 7 for d in days}
    current = (today.toordinal() - 1) // 7
    end = current if current in weeks else current - 1
    length = 0
    while all(week in weeks for week in range(end - length, end + 1)):
        length += 1
    return length


@given(TODAY, OFFSETS)
def test_the_streak_is_the_run_of_weeks_ending_this_week_or_last(
    today: date, offsets: set[int]
) -> None:
    days = {today + timedelta(days=n) for n in offsets}
    assert streak_weeks(days, today) == reference_streak(days, today)


@given(TODAY, OFFSETS, st.integers(0, 6))
def test_any_day_of_a_week_counts_the_same(today: date, offsets: set[int], shift: int) -> None:
    days = {today + timedelta(days=n) for n in offsets}
    mondays = {d - timedelta(days=d.weekday()) for d in days}
    moved = {m + timedelta(days=shift) for m in mondays}
    assert streak_weeks(moved, today) == streak_weeks(days, today)


def test_the_streak_on_examples() -> None:
    wednesday = date(2031, 4, 2)
    assert streak_weeks([], wednesday) == 0
    assert streak_weeks([date(2031, 3, 31)], wednesday) == 1  # this week's Monday
    assert streak_weeks([date(2031, 3, 30)], wednesday) == 1  # last week's Sunday
    assert streak_weeks([date(2031, 3, 23)], wednesday) == 0  # two weeks ago
    assert streak_weeks([date(2031, 4, 6), date(2031, 3, 24), date(2031, 3, 17)], wednesday) == 3


weekday_times = st.tuples(
    st.integers(0, 6), st.builds(time, st.integers(0, 23), st.sampled_from([0, 30]))
)


@given(st.dictionaries(weekday_times, st.integers(1, 6), max_size=20))
def test_favorites_are_the_most_booked_from_two(counts: dict[tuple[int, time], int]) -> None:
    found = top_favorites(counts)
    assert len(found) == min(FAVORITES_SHOWN, sum(n >= FAVORITE_BOOKINGS for n in counts.values()))
    keys = [(-f.count, f.weekday, f.time) for f in found]
    assert keys == sorted(keys)
    for favorite in found:
        assert counts[favorite.weekday, favorite.time] == favorite.count >= FAVORITE_BOOKINGS
    if found:
        # Nothing left out ranks before the last one shown.
        shown = {(f.weekday, f.time) for f in found}
        last = keys[-1]
        for (weekday, at), n in counts.items():
            if (weekday, at) not in shown and n >= FAVORITE_BOOKINGS:
                assert (-n, weekday, at) > last


def test_favorites_on_an_example() -> None:
    counts = {(4, time(13)): 1, (3, time(12)): 2, (1, time(10)): 2, (0, time(9)): 3}
    assert top_favorites(counts) == (
        FavoriteTime(0, time(9), 3),
        FavoriteTime(1, time(10), 2),
        FavoriteTime(3, time(12), 2),
    )
