"""bench.contended's correctness at a small size: 300 attempts at 30 slots (capacities 1 and 3)
through two server processes leave every slot with exactly its capacity booked."""

from __future__ import annotations

from bench.contended import run


def test_contended_attempts_book_each_slot_exactly_to_its_capacity() -> None:
    report = run(processes=2, slots=30, attempts=300, concurrency=16)
    assert report.errors == 0, report.outcomes
    assert report.wrong == [] and report.strays == 0 and report.unacknowledged == 0
    # A tutor's 24 hours at capacity 1, then 6 hours of one at capacity 3: 42 seats in all.
    assert report.outcomes["BookingCreated"] == 24 + 6 * 3
    assert sum(report.outcomes.values()) == 300
