"""Migration 0010 repairs services made before consent: each keeps only the tutor whose time it
sells (its schedule's tutor, else its first); rows written at revision 0009, then upgraded."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from booking_api.migrate import upgrade
from tests.helpers import create_database, drop_database, server_admin_url

A, B, C = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
A_HOURS, B_HOURS = uuid.uuid4(), uuid.uuid4()
# service: (its schedule, its tutors in order)
SERVICES: dict[str, tuple[uuid.UUID | None, list[uuid.UUID]]] = {
    "attack": (A_HOURS, [A, B]),  # B listed A and took A's schedule
    "first": (None, [B, C]),  # no schedule: the first tutor stays
    "schedule": (B_HOURS, [A, B, C]),  # B's schedule: B stays, though listed second
    "solo": (None, [C]),
}
KEPT = {"attack": [A], "first": [B], "schedule": [B], "solo": [C]}


async def _write_at_0009(url: str) -> dict[str, uuid.UUID]:
    connection = await asyncpg.connect(url)
    ids = {name: uuid.uuid4() for name in SERVICES}
    try:
        for tutor in (A, B, C):
            await connection.execute(
                "INSERT INTO tutors (id, user_id, display_name, time_zone, low_balance_threshold,"
                " calendar_feed_token, created_at) VALUES ($1, $2, 'T', 'UTC', 2, $2, now())",
                tutor,
                str(tutor),
            )
        for hours, tutor in ((A_HOURS, A), (B_HOURS, B)):
            await connection.execute(
                "INSERT INTO schedules (id, tutor_id, name, time_zone, is_default, created_at) "
                "VALUES ($1, $2, 'Hours', 'UTC', true, now())",
                hours,
                tutor,
            )
        for name, (schedule, tutors) in SERVICES.items():
            await connection.execute(
                "INSERT INTO services (id, title, kind, schedule_id, buffer_before_minutes, "
                "buffer_after_minutes, capacity, slot_interval_minutes, minimum_notice_minutes, "
                "booking_window_days, cancellation_notice_hours, reschedule_notice_hours, "
                "requires_package, monthly_free_allowance, enrollment_required, created_at) "
                "VALUES ($1, $2, 'SESSION', $3, 0, 0, 1, 15, 0, 60, 0, 0, false, 0, false, now())",
                ids[name],
                name,
                schedule,
            )
            for position, tutor in enumerate(tutors):
                await connection.execute(
                    "INSERT INTO service_tutors (service_id, tutor_id, position) "
                    "VALUES ($1, $2, $3)",
                    ids[name],
                    tutor,
                    position,
                )
    finally:
        await connection.close()
    return ids


Found = dict[str, tuple[uuid.UUID | None, list[tuple[uuid.UUID, int]]]]


async def _read(url: str, ids: dict[str, uuid.UUID]) -> Found:
    connection = await asyncpg.connect(url)
    try:
        found: Found = {}
        for name, service in ids.items():
            schedule = await connection.fetchval(
                "SELECT schedule_id FROM services WHERE id = $1", service
            )
            tutors = await connection.fetch(
                "SELECT tutor_id, position FROM service_tutors WHERE service_id = $1 "
                "ORDER BY position",
                service,
            )
            found[name] = (schedule, [(r["tutor_id"], r["position"]) for r in tutors])
        return found
    finally:
        await connection.close()


def test_0010_keeps_only_the_tutor_whose_time_a_service_sells() -> None:
    admin = server_admin_url()
    url = create_database(admin, prefix="booking_migrate")
    try:
        upgrade(url, "0009")
        ids = asyncio.run(_write_at_0009(url))
        upgrade(url)
        found = asyncio.run(_read(url, ids))
    finally:
        drop_database(admin, url)
    assert {name: [t for t, _ in tutors] for name, (_, tutors) in found.items()} == KEPT
    assert all(position == 0 for _, tutors in found.values() for _, position in tutors)
    # Schedules stay with the tutor who kept the service.
    assert {name: schedule for name, (schedule, _) in found.items()} == {
        "attack": A_HOURS,
        "first": None,
        "schedule": B_HOURS,
        "solo": None,
    }
