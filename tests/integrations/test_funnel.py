"""Funnel analytics: every rule on recorded events, the steps a booking records itself, counts
and conversion on known data, who may read them, retention, PostHog forwarding, and a
constant number of statements."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from domain import funnel_counts
from infra.db import Database
from infra.settings import FunnelSettings, PostHogSettings, RateLimits, Settings, SettingsError
from models import FunnelEvent, OutboxJob
from schema.node import encode_id
from tests.conftest import app_client
from tests.fakes import fixtures, posthog_server
from tests.helpers import (
    CREATE_MANY,
    Background,
    GraphQLClient,
    TestClock,
    at,
    book,
    count_statements,
    join,
    make_tutor,
    monday,
    organization,
    pk,
    setup_lessons,
    token,
)

RECORD = """mutation($events: [FunnelEventInput!]!) { recordFunnelEvents(events: $events) {
  __typename ... on FunnelEventsRecorded { count } ... on InvalidInput { message field } } }"""
FUNNEL = """query($input: FunnelInput!) { funnel(input: $input) {
  steps { step visits events } conversionRate failures { errorType count } } }"""
STEPS = [
    "PAGE_VIEW",
    "TUTOR_SELECTED",
    "DATE_SELECTED",
    "TIME_SELECTED",
    "BOOKING_STARTED",
    "BOOKING_SUCCEEDED",
    "BOOKING_FAILED",
    "SCHEDULE_LATER",
]


def ev(step: str, visit: str, **fields: Any) -> dict[str, Any]:
    return {"step": step, "visitId": visit, **fields}


async def record(
    gql: GraphQLClient, *events: dict[str, Any], who: str | None = None
) -> dict[str, Any]:
    result: dict[str, Any] = (await gql(RECORD, {"events": list(events)}, who))[
        "recordFunnelEvents"
    ]
    return result


async def refused(gql: GraphQLClient, *events: dict[str, Any]) -> str:
    """The field an InvalidInput names, checking nothing of the batch was stored."""
    result = await record(gql, *events)
    assert result["__typename"] == "InvalidInput", result
    field: str = result["field"]
    return field


def window(clock: TestClock, **ids: str) -> dict[str, Any]:
    now = clock()
    return {
        "from": (now - timedelta(days=2)).isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
        **ids,
    }


async def counts(gql: GraphQLClient, who: str, **input: Any) -> dict[str, Any]:
    found: dict[str, Any] = (await gql(FUNNEL, {"input": input}, who))["funnel"]
    assert [s["step"] for s in found["steps"]] == STEPS  # every step, in order
    found["by_step"] = {s["step"]: (s["visits"], s["events"]) for s in found["steps"]}
    return found


async def stored(db: Database) -> list[FunnelEvent]:
    async with db.session() as session:
        return list(await session.exec(select(FunnelEvent).order_by(col(FunnelEvent.at))))


# ---------------------------------------------------------------- validation


async def test_every_rule_on_recorded_events_names_its_field(
    gql: GraphQLClient, db: Database, clock: TestClock
) -> None:
    ada, service, _ = await setup_lessons(gql)
    bo = await make_tutor(gql, "bo")
    now = clock()
    ok = ev("PAGE_VIEW", "v1", tutorId=ada.id)
    assert await refused(gql) == "events"
    assert await refused(gql, *[ok] * 51) == "events"
    assert await refused(gql, ok, ev("BOOKING_SUCCEEDED", "v1", tutorId=ada.id)) == (
        "events[1].step"
    )
    assert await refused(gql, ev("BOOKING_FAILED", "v1", tutorId=ada.id)) == "events[0].step"
    for visit in ["", "x" * 65, "two words", "caf\u00e9", "tab\there"]:
        assert await refused(gql, ok, ev("PAGE_VIEW", visit, tutorId=ada.id)) == (
            "events[1].visitId"
        )
    for when in [now + timedelta(minutes=6), now - timedelta(hours=24, minutes=1)]:
        assert await refused(gql, ev("PAGE_VIEW", "v1", tutorId=ada.id, at=when.isoformat())) == (
            "events[0].at"
        )
    bad_properties = [
        "[1, 2]",
        "42",
        '"text"',
        "null",
        "{not json",
        '{"a": NaN}',
        '{"a": 1e999}',
        '{"a": "\\u0000"}',
        '{"\\ud800": 1}',
        json.dumps({"a": "x" * 2040}),  # 2,049 bytes
        json.dumps({"a": "\u00e9" * 1020}),  # 1,030 characters, 2,050 bytes
        "[" * 9 + "]" * 9,
        '{"a":' * 9 + "1" + "}" * 9,  # nine deep
        "[" * 2000,  # deeper than Python's parser would survive
    ]
    for text in bad_properties:
        assert await refused(gql, ev("PAGE_VIEW", "v1", tutorId=ada.id, properties=text)) == (
            "events[0].properties"
        ), text
    # ids: malformed, of another type, of nothing, or not matching: never a 500
    nobody = encode_id("Tutor", uuid.uuid4())
    assert await refused(gql, ev("PAGE_VIEW", "v1", tutorId="nope")) == "events[0].tutorId"
    assert await refused(gql, ev("PAGE_VIEW", "v1", tutorId=service)) == "events[0].tutorId"
    assert await refused(gql, ev("PAGE_VIEW", "v1", tutorId=nobody)) == "events[0].tutorId"
    unknown_service = encode_id("Service", uuid.uuid4())
    assert await refused(gql, ev("PAGE_VIEW", "v1", serviceId=unknown_service)) == (
        "events[0].serviceId"
    )
    assert await refused(gql, ev("PAGE_VIEW", "v1", serviceId=service, tutorId=bo.id)) == (
        "events[0].tutorId"
    )
    assert await refused(gql, ev("PAGE_VIEW", "v1")) == "events[0].tutorId"
    assert await stored(db) == []  # all or nothing: no refused batch left a row

    good = [
        ev("PAGE_VIEW", "v" * 64, tutorId=ada.id, at=(now + timedelta(minutes=4)).isoformat()),
        ev("PAGE_VIEW", "v1", serviceId=service, at=(now - timedelta(hours=23)).isoformat()),
        ev("DATE_SELECTED", "v1", tutorId=ada.id, properties=json.dumps({"a": "x" * 2039})),
        ev("TIME_SELECTED", "v1", tutorId=ada.id, properties='{"a":' * 8 + "1" + "}" * 8),
        ev("TUTOR_SELECTED", "v1", tutorId=ada.id, serviceId=service, properties="{}"),
    ]
    assert await record(gql, *good) == {"__typename": "FunnelEventsRecorded", "count": 5}
    rows = await stored(db)
    assert len(rows) == 5
    assert all(row.tutor_id == pk(ada.id) for row in rows)
    by_step = {str(row.step): row for row in rows}
    assert by_step["DATE_SELECTED"].properties == {"a": "x" * 2039}  # 2,048 bytes: the most
    assert by_step["TUTOR_SELECTED"].properties == {}
    # A default `at` is when the server received it.
    before = clock()
    await record(gql, ev("SCHEDULE_LATER", "v2", tutorId=ada.id))
    [last] = [r for r in await stored(db) if r.visit_id == "v2"]
    assert before <= last.at <= clock()


async def test_anyone_may_record_and_a_batch_costs_a_unit_per_ten_events(
    settings: Settings, db: Database
) -> None:
    """Anonymous callers record too. The rate limit counts one unit per 10 events (a page's
    steps sent together cost what one mutation does), so 50 events take 5 units."""
    limited = replace(settings, rate_limits=RateLimits(anonymous="7/minute"))
    async with app_client(limited, db) as http:
        gql = GraphQLClient(http)
        ada = await make_tutor(gql, "ada")
        fifty = [ev("PAGE_VIEW", f"v{i}", tutorId=ada.id) for i in range(50)]
        assert (await record(gql, *fifty))["count"] == 50  # 5 units
        assert (await record(gql, *fifty[:10]))["count"] == 10  # 1 unit: 6
        assert (await record(gql, *fifty[:1]))["count"] == 1  # 1 unit: 7, the budget
        response = await http.post(
            "/graphql", json={"query": RECORD, "variables": {"events": fifty[:1]}}
        )
        assert response.status_code == 429
        assert response.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert len(await stored(db)) == 61


# ---------------------------------------------------------------- steps the booking records


async def test_a_booking_with_a_visit_records_its_success_or_its_failure_type(
    gql: GraphQLClient, db: Database, clock: TestClock
) -> None:
    ada, service, sam = await setup_lessons(gql)
    day = monday()
    made = await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(day, 9), visitId="v1")
    assert made["__typename"] == "BookingCreated"
    kim = token("kim")
    failures: dict[str, dict[str, Any]] = {
        "SlotUnavailable": {"tutorId": ada.id, "start": at(day, 9)},
        "PolicyViolation": {"tutorId": ada.id, "start": at(monday(weeks=12), 9)},  # window
        "InvalidInput": {"tutorId": ada.id, "start": at(day, 10), "durationMinutes": 45},
        # An id that names no tutor: counted for the service's own tutor, never a 500.
        "NotFound": {"tutorId": encode_id("Tutor", uuid.uuid4()), "start": at(day, 11)},
        # A tutor who does not offer the service: the page was the service's, so Ada's.
        "NotEligible": {"tutorId": (await make_tutor(gql, "bo")).id, "start": at(day, 11)},
    }
    for expected, input in failures.items():
        answer = await book(gql, kim, serviceId=service, visitId=f"v-{expected}", **input)
        assert answer["__typename"] == expected, answer
    # A retry of the same booking (idempotency key) is not a second success.
    for _ in range(2):
        again = await book(
            gql,
            kim,
            serviceId=service,
            tutorId=ada.id,
            start=at(day, 12),
            visitId="v2",
            idempotencyKey="k1",
        )
        assert again["__typename"] == "BookingCreated"

    found = await counts(gql, ada.token, **window(clock, tutorId=ada.id))
    assert found["by_step"]["BOOKING_SUCCEEDED"] == (2, 2)
    assert found["by_step"]["BOOKING_FAILED"] == (5, 5)
    assert sorted((f["errorType"], f["count"]) for f in found["failures"]) == sorted(
        (name, 1) for name in failures
    )
    rows = {row.visit_id: row for row in await stored(db)}
    assert rows["v1"].properties == {"bookingIds": [str(pk(made["booking"]["id"]))]}
    assert rows["v1"].service_id == pk(service)
    assert rows["v-SlotUnavailable"].error_type == "SlotUnavailable"


async def test_the_success_is_written_with_the_booking_and_a_bad_visit_id_books_nothing(
    gql: GraphQLClient, db: Database, clock: TestClock
) -> None:
    ada, service, sam = await setup_lessons(gql)
    bad = await book(
        gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9), visitId="has space"
    )
    assert (bad["__typename"], bad["field"]) == ("InvalidInput", "input.visitId")
    assert await stored(db) == []
    # createBookings: one success for the visit, naming every booking made.
    many = await gql(
        CREATE_MANY,
        {
            "input": {
                "serviceId": service,
                "tutorId": ada.id,
                "slots": [{"start": at(monday(), 9)}, {"start": at(monday(), 11)}],
                "timeZone": "UTC",
                "visitId": "v9",
            }
        },
        sam,
    )
    made = many["createBookings"]["bookings"]
    [row] = await stored(db)
    assert (row.visit_id, row.step, row.error_type) == ("v9", "BOOKING_SUCCEEDED", None)
    assert row.properties == {"bookingIds": [str(pk(b["id"])) for b in made]}


# ---------------------------------------------------------------- counts on known data


async def test_counts_and_conversion_on_known_data(gql: GraphQLClient, clock: TestClock) -> None:
    ada, service, sam = await setup_lessons(gql)
    bo = await make_tutor(gql, "bo")
    bo_service = (await bo.service(title="Chess"))["service"]["id"]
    now = clock()
    hour_ago = (now - timedelta(hours=1)).isoformat()
    empty = await counts(gql, ada.token, **window(clock, tutorId=ada.id))
    assert empty["conversionRate"] is None
    assert set(empty["by_step"].values()) == {(0, 0)} and empty["failures"] == []

    await record(
        gql,
        *[ev("PAGE_VIEW", v, tutorId=ada.id, at=hour_ago) for v in ["a", "a", "b", "c", "d"]],
        ev("PAGE_VIEW", "e", serviceId=service),  # the service's only tutor: Ada's
        ev("TUTOR_SELECTED", "a", tutorId=ada.id),
        ev("TUTOR_SELECTED", "b", tutorId=ada.id),
        ev("TIME_SELECTED", "a", tutorId=ada.id),
        ev("PAGE_VIEW", "x", tutorId=bo.id),  # another tutor's
        ev("PAGE_VIEW", "y", serviceId=bo_service),
    )
    # Too old for the range asked below, though still within 24 hours of now.
    await record(
        gql, ev("PAGE_VIEW", "old", tutorId=ada.id, at=(now - timedelta(hours=20)).isoformat())
    )
    day = monday()
    await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(day, 9), visitId="a")
    kim = token("kim")
    for visit in ["b", "b", "c"]:
        taken = await book(
            gql, kim, serviceId=service, tutorId=ada.id, start=at(day, 9), visitId=visit
        )
        assert taken["__typename"] == "SlotUnavailable"
    late = await book(
        gql, kim, serviceId=service, tutorId=ada.id, start=at(monday(weeks=12), 9), visitId="c"
    )
    assert late["__typename"] == "PolicyViolation"

    input = {
        "tutorId": ada.id,
        "from": (now - timedelta(hours=2)).isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
    }
    found = await counts(gql, ada.token, **input)
    assert found["by_step"] == {
        "PAGE_VIEW": (5, 6),
        "TUTOR_SELECTED": (2, 2),
        "DATE_SELECTED": (0, 0),
        "TIME_SELECTED": (1, 1),
        "BOOKING_STARTED": (0, 0),
        "BOOKING_SUCCEEDED": (1, 1),
        "BOOKING_FAILED": (2, 4),
        "SCHEDULE_LATER": (0, 0),
    }
    assert found["conversionRate"] == pytest.approx(1 / 5)
    assert found["failures"] == [
        {"errorType": "SlotUnavailable", "count": 3},
        {"errorType": "PolicyViolation", "count": 1},
    ]
    # Only one service's pages: Bo's service is none of Ada's.
    only = await counts(gql, ada.token, **input, serviceId=service)
    assert only["by_step"]["PAGE_VIEW"] == (1, 1)  # "e" came through the service
    assert only["by_step"]["BOOKING_FAILED"] == (2, 4)
    none = await counts(gql, ada.token, **input, serviceId=bo_service)
    assert set(none["by_step"].values()) == {(0, 0)}
    theirs = await counts(gql, bo.token, **{**input, "tutorId": bo.id})
    assert theirs["by_step"]["PAGE_VIEW"] == (2, 2)
    assert theirs["conversionRate"] == 0


async def test_an_organization_counts_its_members_and_its_services_pages(
    gql: GraphQLClient, clock: TestClock
) -> None:
    """A shared service's page, before a tutor is chosen, counts for the organization alone;
    a member's own pages count for them and for the organization they belong to."""
    olga = await make_tutor(gql, "olga")
    ada = await make_tutor(gql, "ada")
    studio = await organization(gql, olga, ada)
    shared = (await olga.service(organizationId=studio, tutorIds=[olga.id, ada.id]))["service"]
    adas_own = (await ada.service(title="Ada's"))["service"]["id"]
    outsider = await make_tutor(gql, "out")
    await record(
        gql,
        ev("PAGE_VIEW", "s1", serviceId=shared["id"]),
        ev("TUTOR_SELECTED", "s1", serviceId=shared["id"], tutorId=ada.id),
        ev("PAGE_VIEW", "a1", serviceId=adas_own),
        ev("PAGE_VIEW", "o1", tutorId=outsider.id),
    )
    whole = await counts(gql, olga.token, **window(clock, organizationId=studio))
    assert whole["by_step"]["PAGE_VIEW"] == (2, 2)
    assert whole["by_step"]["TUTOR_SELECTED"] == (1, 1)
    adas = await counts(gql, ada.token, **window(clock, tutorId=ada.id))
    assert adas["by_step"]["PAGE_VIEW"] == (1, 1)  # her own service's page, not the shared one
    assert adas["by_step"]["TUTOR_SELECTED"] == (1, 1)
    olgas = await counts(gql, olga.token, **window(clock, tutorId=olga.id))
    assert set(olgas["by_step"].values()) == {(0, 0)}
    # Ada gets a new page but has left: it no longer counts for the studio.
    leave = (
        """mutation($input: RemoveMemberInput!) { removeMember(input: $input) { __typename } }"""
    )
    await gql(leave, {"input": {"organizationId": studio, "tutorId": ada.id}}, ada.token)
    await record(gql, ev("PAGE_VIEW", "a2", tutorId=ada.id))
    again = await counts(gql, olga.token, **window(clock, organizationId=studio))
    assert again["by_step"]["PAGE_VIEW"] == (2, 2)


# ---------------------------------------------------------------- who may read, what is asked


async def test_only_the_tutor_and_the_organizations_owners_and_admins_see_a_funnel(
    gql: GraphQLClient, clock: TestClock
) -> None:
    olga = await make_tutor(gql, "olga")
    adam = await make_tutor(gql, "adam")
    ada = await make_tutor(gql, "ada")
    bo = await make_tutor(gql, "bo")
    studio = await organization(gql, olga, ada, bo)
    await join(gql, studio, olga, adam, "ADMIN")
    stranger = await make_tutor(gql, "zed")
    await record(gql, ev("PAGE_VIEW", "v1", tutorId=ada.id))

    async def code(who: str | None, **ids: str) -> str | None:
        body = await gql.raw(FUNNEL, {"input": window(clock, **ids)}, who)
        if body.get("errors"):
            value: str = body["errors"][0]["extensions"]["code"]
            return value
        assert body["data"]["funnel"]["steps"][0] == {"step": "PAGE_VIEW", "visits": 1, "events": 1}
        return None

    assert await code(ada.token, tutorId=ada.id) is None
    assert await code(olga.token, tutorId=ada.id) is None  # the owner manages her
    assert await code(adam.token, tutorId=ada.id) is None  # so does an admin
    assert await code(olga.token, organizationId=studio) is None
    assert await code(adam.token, organizationId=studio) is None
    assert await code(bo.token, tutorId=ada.id) == "FORBIDDEN"  # another member
    assert await code(bo.token, organizationId=studio) == "FORBIDDEN"  # a member
    assert await code(ada.token, organizationId=studio) == "FORBIDDEN"
    assert await code(stranger.token, tutorId=ada.id) == "FORBIDDEN"
    assert await code(stranger.token, organizationId=studio) == "FORBIDDEN"
    assert await code(token("sam"), tutorId=ada.id) == "FORBIDDEN"  # a student
    nowhere = encode_id("Organization", uuid.uuid4())
    assert await code(olga.token, organizationId=nowhere) == "FORBIDDEN"
    assert await code(olga.token, tutorId=encode_id("Tutor", uuid.uuid4())) == "FORBIDDEN"
    assert await code(None, tutorId=ada.id) == "UNAUTHENTICATED"


async def test_a_funnel_asks_for_one_owner_and_a_bounded_range(
    gql: GraphQLClient, clock: TestClock
) -> None:
    ada = await make_tutor(gql, "ada")
    studio = await organization(gql, ada)
    now = clock()

    async def field(**input: Any) -> str:
        error = await gql.error(FUNNEL, {"input": input}, ada.token)
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        value: str = error["extensions"]["field"]
        return value

    span = window(clock)
    assert await field(**span) == "input.tutorId"
    assert await field(**span, tutorId=ada.id, organizationId=studio) == "input.tutorId"
    assert await field(**span, tutorId="nope") == "input.tutorId"
    assert await field(**span, organizationId=ada.id) == "input.organizationId"
    assert await field(**span, tutorId=ada.id, serviceId="nope") == "input.serviceId"
    year = {"from": (now - timedelta(days=367)).isoformat(), "to": now.isoformat()}
    assert await field(**year, tutorId=ada.id) == "input.to"
    backwards = {"from": now.isoformat(), "to": (now - timedelta(days=1)).isoformat()}
    assert await field(**backwards, tutorId=ada.id) == "input.from"
    leap = {"from": (now - timedelta(days=366)).isoformat(), "to": now.isoformat()}
    assert (await counts(gql, ada.token, **leap, tutorId=ada.id))["conversionRate"] is None


async def test_the_funnel_reads_a_constant_number_of_statements(
    gql: GraphQLClient, db: Database, clock: TestClock
) -> None:
    ada, service, sam = await setup_lessons(gql)
    studio = await organization(gql, ada)

    async def statements(**ids: str) -> int:
        with count_statements(db) as seen:
            await counts(gql, ada.token, **window(clock, **ids))
        return len(seen)

    few = (await statements(tutorId=ada.id), await statements(organizationId=studio))
    for batch in range(4):
        await record(
            gql,
            *[
                ev(step, f"v{batch}-{i}", tutorId=ada.id, properties='{"n": 1}')
                for i in range(10)
                for step in [
                    "PAGE_VIEW",
                    "DATE_SELECTED",
                    "TIME_SELECTED",
                    "BOOKING_STARTED",
                    "SCHEDULE_LATER",
                ]
            ],
        )
    kim = token("kim")
    await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9), visitId="b")
    for visit in ["c", "d"]:
        await book(
            gql, kim, serviceId=service, tutorId=ada.id, start=at(monday(), 9), visitId=visit
        )
    many = (await statements(tutorId=ada.id), await statements(organizationId=studio))
    # The tutor: who the caller is, whom they manage, the aggregate; an organization: the
    # caller's role, the aggregate.
    assert few == many == (3, 2)

    # Recording is constant too: 1 event or 50 in the same statements.
    async def recording(size: int) -> int:
        with count_statements(db) as seen:
            await record(gql, *[ev("PAGE_VIEW", f"w{i}", serviceId=service) for i in range(size)])
        return len(seen)

    assert await recording(1) == await recording(50)


# ---------------------------------------------------------------- retention


async def test_events_past_the_retention_are_pruned_by_the_periodic_sweep(
    gql: GraphQLClient, db: Database, background: Background, clock: TestClock
) -> None:
    ada = await make_tutor(gql, "ada")
    now = clock()
    for days, visit in [(401, "old"), (399, "kept"), (0, "new")]:
        clock.set(now - timedelta(days=days))
        await record(gql, ev("PAGE_VIEW", visit, tutorId=ada.id))
    clock.set(now)
    await background.run(now)
    assert [row.visit_id for row in await stored(db)] == ["kept", "new"]
    # A shorter retention from the settings, on the next period.
    shorter = replace(background.runner.settings, funnel=FunnelSettings(retention_days=30))
    await Background(shorter, db).run(now + timedelta(hours=1))
    assert [row.visit_id for row in await stored(db)] == ["new"]


async def test_pruning_goes_a_batch_at_a_time(
    gql: GraphQLClient, db: Database, clock: TestClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = await make_tutor(gql, "ada")
    now = clock()
    clock.set(now - timedelta(days=500))
    await record(gql, *[ev("PAGE_VIEW", f"v{i}", tutorId=ada.id) for i in range(5)])
    clock.set(now)
    await record(gql, ev("PAGE_VIEW", "new", tutorId=ada.id))
    monkeypatch.setattr(funnel_counts, "PRUNE_BATCH", 2)
    with count_statements(db) as seen:
        assert await funnel_counts.prune(db, now, 400) == 5
    deletes = [s for s in seen if s.lstrip().upper().startswith("DELETE")]
    assert len(deletes) == 3  # 2, 2 and the last 1, each in its own transaction
    assert [row.visit_id for row in await stored(db)] == ["new"]


def test_retention_and_posthog_settings_are_checked() -> None:
    assert Settings.from_env({}).funnel == FunnelSettings(retention_days=400, posthog=None)
    assert Settings.from_env({"FUNNEL_RETENTION_DAYS": "30"}).funnel.retention_days == 30
    for bad in ["0", "-1", "a year"]:
        with pytest.raises(SettingsError, match="FUNNEL_RETENTION_DAYS"):
            Settings.from_env({"FUNNEL_RETENTION_DAYS": bad})
    on = Settings.from_env({"POSTHOG_API_KEY": "phc_x"}).funnel.posthog
    assert on == PostHogSettings(api_key="phc_x", host="https://us.i.posthog.com")
    eu = {"POSTHOG_API_KEY": "phc_x", "POSTHOG_HOST": "https://eu.i.posthog.com/"}
    assert Settings.from_env(eu).funnel.posthog == PostHogSettings(
        "phc_x", "https://eu.i.posthog.com"
    )
    with pytest.raises(SettingsError, match="POSTHOG_HOST is set without POSTHOG_API_KEY"):
        Settings.from_env({"POSTHOG_HOST": "https://eu.i.posthog.com"})
    with pytest.raises(SettingsError, match="POSTHOG_HOST must be an http"):
        Settings.from_env({"POSTHOG_API_KEY": "phc_x", "POSTHOG_HOST": "eu.i.posthog.com"})


# ---------------------------------------------------------------- PostHog


posthog_server_fixture, posthog = fixtures("posthog", posthog_server.start, scope="module")


@pytest.fixture
def posthog_settings(mail_settings: Settings, posthog: posthog_server.FakePostHog) -> Settings:
    forwarding = PostHogSettings(api_key=posthog_server.API_KEY, host=posthog.base)
    return replace(mail_settings, funnel=FunnelSettings(posthog=forwarding))


@pytest.fixture
async def posthog_gql(posthog_settings: Settings, db: Database) -> AsyncIterator[GraphQLClient]:
    async with app_client(posthog_settings, db) as http:
        yield GraphQLClient(http)


async def test_events_are_forwarded_to_posthog_by_a_background_job(
    posthog_gql: GraphQLClient,
    posthog_settings: Settings,
    posthog: posthog_server.FakePostHog,
    db: Database,
    clock: TestClock,
) -> None:
    gql = posthog_gql
    ada, service, sam = await setup_lessons(gql)
    when = clock() - timedelta(minutes=3)
    await record(
        gql,
        ev(
            "PAGE_VIEW",
            "visit-1",
            tutorId=ada.id,
            at=when.isoformat(),
            properties='{"page": "/ada", "utm": {"source": "mail"}}',
        ),
        ev("TIME_SELECTED", "visit-1", serviceId=service),
    )
    await book(
        gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9), visitId="visit-1"
    )
    kim = token("kim")
    await book(
        gql, kim, serviceId=service, tutorId=ada.id, start=at(monday(), 9), visitId="visit-2"
    )
    assert posthog.batches == []  # nothing on the request path

    background = Background(posthog_settings, db)
    # One job for each recording (the page's batch, the success, the failure); PostHog is
    # down at first: each fails, and is retried after its backoff.
    posthog.fail_next = 3
    await background.run(clock())
    assert posthog.batches == []
    await background.run(clock() + timedelta(minutes=5))
    rows = {str(row.id): row for row in await stored(db)}
    sent = {event["uuid"]: event for event in posthog.events}
    assert sent.keys() == rows.keys()  # each event once, under its own id (PostHog de-dupes)
    assert {(e["distinct_id"], e["event"]) for e in sent.values()} == {
        ("visit-1", "funnel_page_view"),
        ("visit-1", "funnel_time_selected"),
        ("visit-1", "funnel_booking_succeeded"),
        ("visit-2", "funnel_booking_failed"),
    }
    [view] = [e for e in sent.values() if e["event"] == "funnel_page_view"]
    assert datetime.fromisoformat(view["timestamp"]) == when
    assert view["properties"]["page"] == "/ada"
    assert view["properties"]["utm"] == {"source": "mail"}
    assert view["properties"]["tutor_id"] == str(pk(ada.id))
    [failed] = [e for e in sent.values() if e["event"] == "funnel_booking_failed"]
    assert failed["properties"]["error_type"] == "SlotUnavailable"
    assert all(body["api_key"] == posthog_server.API_KEY for body in posthog.batches)
    await background.run(clock() + timedelta(hours=1))
    assert len(posthog.events) == 4  # done once


async def test_without_posthog_no_forwarding_job_is_written(
    gql: GraphQLClient, db: Database
) -> None:
    ada, service, sam = await setup_lessons(gql)
    await record(gql, ev("PAGE_VIEW", "v1", tutorId=ada.id))
    await book(gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), 9), visitId="v1")
    async with db.session() as session:
        kinds = set(await session.exec(select(OutboxJob.kind)))
    assert "funnel.posthog" not in kinds
    assert len(await stored(db)) == 2
