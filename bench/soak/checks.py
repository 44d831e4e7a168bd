"""The soak's invariants, read from the database once the load has stopped.

Each check returns what it found wrong, one line per finding (empty: it holds). They read the
tables directly (asyncpg, one connection), so they judge what was stored, whatever the API
answered. tests/platform/test_soak_checks.py plants each violation and shows its check sees it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

# What holds time on a tutor's calendar (domain.slots.is_blocking): every status but these,
# and a hold only until it lapses.
ACTIVE = """(b.status NOT IN ('CANCELLED', 'EXPIRED', 'PENDING_PAYMENT')
  OR (b.status = 'PENDING_PAYMENT' AND b.hold_expires_at > $1))"""

Connection = Any  # asyncpg.Connection (asyncpg ships no types)


async def over_capacity(conn: Connection, now: Any) -> list[str]:
    """At no instant more active bookings of one service than its capacity, and never two
    services of one tutor at once. Peaks occur at starts, so each start is counted."""
    rows = await conn.fetch(
        f"""
        WITH active AS (SELECT b.* FROM bookings b WHERE {ACTIVE})
        SELECT DISTINCT a.tutor_id, a.service_id, a.start_at, s.capacity, count(*) AS n
        FROM active a
        JOIN active o ON o.tutor_id = a.tutor_id AND o.service_id = a.service_id
          AND o.start_at <= a.start_at AND a.start_at < o.end_at
        JOIN services s ON s.id = a.service_id
        GROUP BY a.id, a.tutor_id, a.service_id, a.start_at, s.capacity
        HAVING count(*) > s.capacity
        """,
        now,
    )
    found = [
        f"tutor {r['tutor_id']}: {r['n']} bookings of service {r['service_id']} at "
        f"{r['start_at']:%Y-%m-%d %H:%M}, capacity {r['capacity']}"
        for r in rows
    ]
    mixed = await conn.fetch(
        f"""
        WITH active AS (SELECT b.* FROM bookings b WHERE {ACTIVE})
        SELECT a.tutor_id, a.id AS one, o.id AS other, a.start_at
        FROM active a JOIN active o ON o.tutor_id = a.tutor_id AND o.service_id <> a.service_id
          AND a.id < o.id AND o.start_at < a.end_at AND a.start_at < o.end_at
        """,
        now,
    )
    found += [
        f"tutor {r['tutor_id']}: bookings {r['one']} and {r['other']} of two services overlap "
        f"at {r['start_at']:%Y-%m-%d %H:%M}"
        for r in mixed
    ]
    return found


async def student_in_two_places(conn: Connection, now: Any) -> list[str]:
    rows = await conn.fetch(
        f"""
        WITH active AS (SELECT b.* FROM bookings b WHERE {ACTIVE})
        SELECT a.student_id, a.id AS one, o.id AS other, a.start_at
        FROM active a JOIN active o ON o.student_id = a.student_id AND a.id < o.id
          AND o.start_at < a.end_at AND a.start_at < o.end_at
        """,
        now,
    )
    return [
        f"student {r['student_id']}: bookings {r['one']} and {r['other']} overlap at "
        f"{r['start_at']:%Y-%m-%d %H:%M}"
        for r in rows
    ]


async def ledgers(conn: Connection, now: Any) -> list[str]:
    """Each package's balance is its ledger's sum, and the ledger never ran below zero."""
    rows = await conn.fetch(
        """
        WITH running AS (
          SELECT package_id, sum(delta) OVER (PARTITION BY package_id ORDER BY at, id) AS balance
          FROM package_adjustments)
        SELECT p.id, p.remaining,
          (SELECT coalesce(sum(delta), 0) FROM package_adjustments a WHERE a.package_id = p.id)
            AS ledger,
          (SELECT min(balance) FROM running r WHERE r.package_id = p.id) AS lowest
        FROM packages p
        """
    )
    found: list[str] = []
    for r in rows:
        if r["remaining"] != r["ledger"]:
            found.append(f"package {r['id']}: remaining {r['remaining']}, ledger {r['ledger']}")
        if r["remaining"] < 0 or (r["lowest"] is not None and r["lowest"] < 0):
            found.append(f"package {r['id']}: balance below zero (lowest {r['lowest']})")
    return found


async def outbox(conn: Connection, now: Any) -> list[str]:
    """Every job that was due is done or given up with its error, never both."""
    rows = await conn.fetch(
        """
        SELECT id, kind, attempts, due_at, done_at, failed_at, last_error FROM outbox
        WHERE (done_at IS NOT NULL AND failed_at IS NOT NULL)
           OR (failed_at IS NOT NULL AND coalesce(last_error, '') = '')
           OR (done_at IS NULL AND failed_at IS NULL AND due_at <= $1)
        """,
        now,
    )
    found = []
    for r in rows:
        if r["done_at"] is not None and r["failed_at"] is not None:
            state = "both done and given up"
        elif r["failed_at"] is not None:
            state = "given up without an error"
        else:
            state = f"still waiting after {r['attempts']} attempt(s), due {r['due_at']:%H:%M:%S}"
        found.append(f"outbox job {r['id']} ({r['kind']}): {state}")
    return found


async def deliveries(conn: Connection, now: Any, received: set[str]) -> list[str]:
    """Every webhook delivery ended: DELIVERED ones reached the receiver (by webhook-id), FAILED
    ones say why; none the receiver got is unknown to the database."""
    rows = await conn.fetch("SELECT id, status FROM webhook_deliveries")
    known: set[str] = set()
    found: list[str] = []
    for r in rows:
        message = f"msg_{r['id'].hex}"
        known.add(message)
        if r["status"] == "DELIVERED" and message not in received:
            found.append(f"webhook {message}: DELIVERED but never received")
        elif r["status"] == "PENDING":
            found.append(f"webhook {message}: still PENDING")
    found += [f"webhook {m}: received, but no such delivery" for m in sorted(received - known)]
    return found


Check = Callable[[Connection, Any], Awaitable[list[str]]]

# The invariants that need nothing but the database, by the name the report prints.
STORED: dict[str, Check] = {
    "no service over capacity, no tutor in two sessions": over_capacity,
    "no student in two places": student_in_two_places,
    "every package's balance equals its ledger, never negative": ledgers,
    "every due outbox job done or given up with its error": outbox,
}
