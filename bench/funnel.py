"""The funnel query on a year of events: one tutor's year and month, and an organization's.

    python -m bench.funnel [--events 1000000] [--tutors 10] [--runs 15]

Loads `--events` funnel events spread over the last 365 days, for `--tutors` tutors of one
organization, into a fresh database (embedded, or DATABASE_URL's server), with one INSERT …
SELECT over generate_series (visits of about four events each, thinning step by step as a real
funnel does: page views, tutor, date, time, booking started, succeeded or failed with a result
type), then VACUUM ANALYZE as autovacuum would after a bulk load. Then it times the domain call
`funnel_counts.funnel` (the role check and the one aggregate) and prints min and median.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from bench.summary import Row, emit
from booking_api.migrate import upgrade
from domain import funnel_counts
from infra.auth import Identity
from infra.db import Database, create_engine, server_url
from infra.settings import Settings
from models import Organization, OrganizationMember, OrganizationRole, Tutor
from tests.helpers import create_database, drop_database

# One visit's events in order: a visit of id v has the steps STEPS[0 .. depth(v)], where
# depth follows the funnel's thinning; failures carry one of the result types.
LOAD = """
INSERT INTO funnel_events (id, visit_id, step, tutor_id, organization_id, service_id, at,
                           error_type)
SELECT gen_random_uuid(),
       'visit-' || v.n,
       (ARRAY['PAGE_VIEW', 'TUTOR_SELECTED', 'DATE_SELECTED', 'TIME_SELECTED',
              'BOOKING_STARTED', v.outcome])[s.k],
       v.tutor_id,
       CAST(:organization AS uuid),
       NULL,
       v.start + make_interval(mins => s.k),
       CASE WHEN s.k = 6 AND v.outcome = 'BOOKING_FAILED' THEN v.failure END
  FROM (
    SELECT n,
           (CAST(:tutors AS uuid[]))[1 + n % :tutor_count] AS tutor_id,
           CAST(:until AS timestamptz) - make_interval(secs => random() * 365 * 86400) AS start,
           -- how far the visit goes: 1 (a page view) .. 6 (an outcome)
           CASE WHEN r < 0.35 THEN 1 WHEN r < 0.55 THEN 2 WHEN r < 0.70 THEN 3
                WHEN r < 0.80 THEN 4 WHEN r < 0.88 THEN 5 ELSE 6 END AS depth,
           CASE WHEN random() < 0.7 THEN 'BOOKING_SUCCEEDED' ELSE 'BOOKING_FAILED' END
             AS outcome,
           (ARRAY['SlotUnavailable', 'StudentBusy', 'PolicyViolation', 'NotEligible',
                  'InvalidInput'])[1 + floor(random() * 5)::int] AS failure
      FROM (SELECT n, random() AS r FROM generate_series(1, :visits) AS n) AS drawn
  ) AS v
  CROSS JOIN LATERAL generate_series(1, v.depth) AS s(k)
"""


async def load(url: str, events: int, tutor_count: int, until: datetime) -> tuple[Identity, ...]:
    """Tutors (the first owns the organization) and about `events` events; the owner's
    identity and a member's."""
    db = Database(create_engine(url, pool_size=1))
    tutor_ids = [uuid.uuid4() for _ in range(tutor_count)]
    organization_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with db.transaction() as session:
        session.add(Organization(id=organization_id, name="Studio", created_at=now))
        session.add_all(
            Tutor(id=t, user_id=f"t{i}", display_name=f"T{i}", time_zone="UTC", created_at=now)
            for i, t in enumerate(tutor_ids)
        )
        await session.flush()
        session.add_all(
            OrganizationMember(
                tutor_id=t,
                organization_id=organization_id,
                role=OrganizationRole.OWNER if i == 0 else OrganizationRole.MEMBER,
                joined_at=until,
            )
            for i, t in enumerate(tutor_ids)
        )
    # A visit averages 2.72 events with the depths above.
    visits = round(events / 2.72)
    async with db.engine.begin() as connection:
        await connection.execute(text("SELECT setseed(0.17)"))
        await connection.execute(
            text(LOAD),
            {
                "tutors": tutor_ids,
                "tutor_count": tutor_count,
                "organization": organization_id,
                "visits": visits,
                "until": until,
            },
        )
    async with db.engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM ANALYZE funnel_events"))
        loaded = (await connection.execute(text("SELECT count(*) FROM funnel_events"))).scalar()
        per_tutor = (
            await connection.execute(
                text("SELECT count(*) FROM funnel_events WHERE tutor_id = :t"),
                {"t": tutor_ids[1]},
            )
        ).scalar()
    await db.engine.dispose()
    print(f"loaded {loaded:,} events over 365 days, {tutor_count} tutors in one organization;")
    print(f"the tutor timed has {per_tutor:,} of them")
    return Identity(sub="t0"), Identity(sub="t1")


async def timed(
    db: Database, identity: Identity, ask: funnel_counts.FunnelQuery, runs: int, what: str
) -> str:
    """The funnel's timings for `ask`; its median is also a summary row (`what`)."""
    await funnel_counts.funnel(db, identity, ask)  # warm: plans, caches
    seconds = []
    for _ in range(runs):
        began = time.perf_counter()
        report = await funnel_counts.funnel(db, identity, ask)
        seconds.append(time.perf_counter() - began)
    views = report.steps[0].visits
    median = statistics.median(seconds) * 1000
    emit(Row("funnel", f"funnel_counts.funnel, {what}, median", f"{median:.1f} ms"))
    return (
        f"min {min(seconds) * 1000:7.1f} ms   median {median:7.1f} ms"
        f"   ({views:,} visits with a page view)"
    )


async def measure(url: str, owner: Identity, member: Identity, until: datetime, runs: int) -> None:
    db = Database(create_engine(url, pool_size=2))
    async with db.engine.connect() as connection:
        rows = await connection.execute(text("SELECT user_id, id FROM tutors"))
        ids: dict[str, uuid.UUID] = {user: tutor_id for user, tutor_id in rows}
        organization_id = (await connection.execute(text("SELECT id FROM organizations"))).scalar()
    tutor = ids[member.sub]
    year = funnel_counts.FunnelQuery(until - timedelta(days=365), until, tutor_id=tutor)
    month = funnel_counts.FunnelQuery(until - timedelta(days=30), until, tutor_id=tutor)
    whole = funnel_counts.FunnelQuery(
        until - timedelta(days=365), until, organization_id=organization_id
    )
    print(f"funnel_counts.funnel, {runs} runs each (after one to warm up):")
    print(f"  one tutor, the year     {await timed(db, member, year, runs, 'a tutor year')}")
    print(f"  one tutor, a month      {await timed(db, member, month, runs, 'a tutor month')}")
    print(f"  the organization, year  {await timed(db, owner, whole, runs, 'the org year')}")
    statement = funnel_counts.aggregate(year).compile(
        dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}
    )
    async with db.engine.connect() as connection:
        plan = await connection.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {statement}"))
        print("the tutor's year, as PostgreSQL runs it:")
        for (line,) in plan:
            print(f"  {line}")
    await db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--tutors", type=int, default=10)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    settings = Settings.from_env()
    admin = settings.database_url or server_url(settings)
    url = create_database(admin, prefix="booking_bench")
    until = datetime.now(UTC).replace(microsecond=0)
    try:
        upgrade(url)
        began = time.perf_counter()
        owner, member = asyncio.run(load(url, args.events, args.tutors, until))
        print(f"(loading took {time.perf_counter() - began:.0f} s)")
        asyncio.run(measure(url, owner, member, until, args.runs))
    finally:
        drop_database(admin, url)


if __name__ == "__main__":
    main()
