"""The fan-out benchmark, small: it keeps working (no timing is asserted)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bench.bookings import load
from bench.live import measure
from booking_api.migrate import upgrade
from tests.helpers import create_database, drop_database, server_admin_url
from tests.processes import free_port


def test_ours_and_the_floor_deliver_every_event() -> None:
    admin = server_admin_url()
    url = create_database(admin, prefix="booking_bench")
    try:
        upgrade(url)
        tutors, services = asyncio.run(load(url, 2))
        day = (datetime.now(UTC) + timedelta(weeks=1)).replace(hour=0, minute=0, second=0)
        starts = [(day + timedelta(hours=h)).replace(microsecond=0).isoformat() for h in (1, 2)]
        ports = [free_port(), free_port()]
        ours, floor = measure(url, "postgresql", ports, tutors[0], services[0], 4, starts)
        for result in (ours, floor):
            assert (result["received"], result["lost"]) == (8, 0)
    finally:
        drop_database(admin, url)
