"""A search over several tutors shares work between them (each distinct schedule expanded once,
one Slot per start and seats): it must give exactly what each tutor's own search gives."""

from __future__ import annotations

from datetime import time, timedelta

from hypothesis import given
from hypothesis import strategies as st

from domain.slots import Busy, Hours, Offer, Override, Rule, free_slots, free_slots_of
from tests.availability.test_slot_properties import (
    END,
    NOW,
    SERVICE,
    ZONES,
    bookings,
    common,
    offers,
    overrides,
    rules,
)

# Up to three distinct schedules, which the tutors pick from: some share one (the same rules,
# zone and overrides, as equal values or as the very same object), some have their own.
schedules = st.lists(
    st.builds(Hours, st.sampled_from(ZONES), rules(), overrides()), min_size=1, max_size=3
)


@common
@given(
    schedules, st.lists(st.tuples(st.integers(0, 2), bookings(), st.booleans()), max_size=5), offers
)
def test_a_shared_search_gives_each_tutors_own_slots(
    hours: list[Hours], tutors: list[tuple[int, list[Busy], bool]], offer: Offer
) -> None:
    calendars: list[tuple[int, Hours, list[Busy]]] = []
    for key, (pick, busy, copy) in enumerate(tutors):
        chosen = hours[pick % len(hours)]
        if copy:  # an equal schedule loaded separately, not the same object
            chosen = Hours(chosen.time_zone, list(chosen.rules), list(chosen.overrides))
        calendars.append((key, chosen, busy))
    shared = free_slots_of(calendars, offer, start=NOW, end=END, now=NOW)
    alone = sorted(
        (
            (key, slot)
            for key, chosen, busy in calendars
            for slot in free_slots(chosen, busy, offer, start=NOW, end=END, now=NOW)
        ),
        key=lambda found: (found[1].start, found[0]),
    )
    assert shared == alone
    # The limit keeps the same order and makes no more than asked.
    assert free_slots_of(calendars, offer, start=NOW, end=END, now=NOW, limit=3) == alone[:3]


def test_equal_schedules_in_other_zones_or_overrides_are_not_confused() -> None:
    rule = [Rule(day, time(9), time(10)) for day in range(7)]
    day = (NOW + timedelta(days=2)).date()
    calendars: list[tuple[str, Hours, list[Busy]]] = [
        ("ny", Hours("America/New_York", rule), []),
        ("london", Hours("Europe/London", rule), []),
        ("blocked", Hours("America/New_York", rule, [Override(day, None, None, False)]), []),
    ]
    offer = Offer(service_id=SERVICE, duration_minutes=60, interval_minutes=60)
    found = free_slots_of(calendars, offer, start=NOW, end=END, now=NOW)
    starts = {key: {slot.start for k, slot in found if k == key} for key, _, _ in calendars}
    assert starts["ny"] != starts["london"]
    assert len(starts["ny"] - starts["blocked"]) == 1
