"""The owner's calendar (Tutor.agenda, Organization.agenda): open hours after overrides, blocked
time and active bookings, written in the viewer's zone; who sees whose; and the same number of
SQL statements for one tutor as for ten."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from infra.db import Database
from models import BookingStatus
from tests.helpers import (
    CLOCK,
    GraphQLClient,
    Tutor,
    add_booking,
    at,
    count_statements,
    join,
    make_tutor,
    monday,
    organization,
    pk,
    token,
    weekly,
)

RANGES = "openRanges { start end } blockedRanges { start end } truncated"
TUTOR_AGENDA = f"""query($id: ID!, $from: DateTime!, $to: DateTime!, $zone: TimeZone!) {{
  tutor(id: $id) {{ agenda(from: $from, to: $to, timeZone: $zone) {{
    tutor {{ id }} {RANGES} bookings {{ id status start end }} }} }} }}"""
ORGANIZATION_AGENDA = """query($id: ID!, $from: DateTime!, $to: DateTime!, $zone: TimeZone!,
    $tutors: [ID!]) {
  organization(id: $id) { agenda(from: $from, to: $to, timeZone: $zone, tutorIds: $tutors) {
    %s } } }"""
# What a side-by-side view asks: priced per tutor named, too dear for all 100 a studio may have.
CALENDAR = """tutor { id displayName } openRanges { start end } blockedRanges { start end }
    bookings { id start status service { title } }"""
ADD_OVERRIDE = """mutation($input: AddOverrideInput!) { addOverride(input: $input) {
  __typename } }"""


async def override(tutor: Tutor, day: date, **input: Any) -> None:
    added = await tutor.gql(
        ADD_OVERRIDE,
        {"input": {"scheduleId": tutor.schedule_id, "date": str(day), **input}},
        tutor.token,
    )
    assert added["addOverride"]["__typename"] == "OverrideAdded", added


async def tutor_agenda(
    gql: GraphQLClient, viewer: str | None, tutor: Tutor, start: str, end: str, zone: str = "UTC"
) -> Any:
    variables = {"id": tutor.id, "from": start, "to": end, "zone": zone}
    return (await gql(TUTOR_AGENDA, variables, viewer))["tutor"]["agenda"]


def agenda_variables(studio: str, tutors: list[str] | None) -> dict[str, Any]:
    day = monday()
    return {
        "id": studio,
        "from": at(day, 0),
        "to": at(day + timedelta(days=7), 0),
        "zone": "UTC",
        "tutors": tutors,
    }


async def organization_agenda(
    gql: GraphQLClient,
    viewer: Tutor,
    studio: str,
    tutors: list[str] | None = None,
    fields: str = "tutor { id }",
) -> Any:
    query = ORGANIZATION_AGENDA % fields
    found = (await gql(query, agenda_variables(studio, tutors), viewer.token))["organization"]
    return None if found is None else found["agenda"]


def span(day: date, start: int, end: int) -> dict[str, str]:
    return {"start": at(day, start), "end": at(day, end)}


async def test_open_hours_after_blocked_and_extra_overrides_and_active_bookings(
    gql: GraphQLClient, db: Database
) -> None:
    ada = await make_tutor(gql, "ada")  # 09:00-17:00 UTC every day
    service = (await ada.service())["service"]["id"]
    day = monday()
    tuesday, wednesday = day + timedelta(days=1), day + timedelta(days=2)
    await override(ada, tuesday, start="12:00", end="13:00", available=False)
    await override(ada, wednesday, start="18:00", end="20:00", available=True)
    now = CLOCK()
    start = datetime.combine(day, datetime.min.time(), UTC)
    confirmed = await add_booking(db, ada.id, service, start + timedelta(hours=13))
    held = await add_booking(
        db,
        ada.id,
        service,
        start + timedelta(hours=14),
        status=BookingStatus.PENDING_PAYMENT,
        hold_expires_at=now + timedelta(hours=1),
    )
    # Neither takes time: a hold that lapsed and a cancelled booking.
    await add_booking(
        db,
        ada.id,
        service,
        start + timedelta(hours=15),
        status=BookingStatus.PENDING_PAYMENT,
        hold_expires_at=now - timedelta(minutes=1),
    )
    await add_booking(
        db, ada.id, service, start + timedelta(hours=16), status=BookingStatus.CANCELLED
    )

    # From Monday noon to Thursday: the range cuts Monday's hours.
    agenda = await tutor_agenda(gql, ada.token, ada, at(day, 12), at(day + timedelta(days=3), 0))

    assert agenda["openRanges"] == [
        span(day, 12, 17),
        span(tuesday, 9, 12),
        span(tuesday, 13, 17),
        span(wednesday, 9, 17),
        span(wednesday, 18, 20),
    ]
    assert agenda["blockedRanges"] == [span(tuesday, 12, 13)]
    assert agenda["truncated"] is False
    assert [(b["status"], b["start"]) for b in agenda["bookings"]] == [
        ("CONFIRMED", at(day, 13)),
        ("PENDING_PAYMENT", at(day, 14)),
    ]
    assert [pk(b["id"]) for b in agenda["bookings"]] == [confirmed, held]
    # A whole-day block leaves that day closed.
    await override(ada, tuesday, available=False)
    agenda = await tutor_agenda(gql, ada.token, ada, at(tuesday, 0), at(wednesday, 0))
    assert agenda["openRanges"] == []
    assert agenda["blockedRanges"] == [{"start": at(tuesday, 0), "end": at(wednesday, 0)}]


def spring_forward(year: int) -> date:
    """Europe/London's clocks go forward on the last Sunday of March."""
    last = date(year, 3, 31)
    return last - timedelta(days=(last.weekday() - 6) % 7)


async def test_a_dst_day_in_the_tutors_zone_written_in_another_zone(
    gql: GraphQLClient, db: Database
) -> None:
    ada = await make_tutor(gql, "ada", "Europe/London")  # 09:00-17:00 London time
    service = (await ada.service())["service"]["id"]
    sunday = spring_forward(CLOCK().year + 1)
    saturday = sunday - timedelta(days=1)
    # 10:00 London on the Sunday is 09:00 UTC (BST): 05:00 in New York (EDT since mid-March).
    await add_booking(
        db, ada.id, service, datetime.combine(sunday, datetime.min.time(), UTC) + timedelta(hours=9)
    )

    agenda = await tutor_agenda(
        gql, ada.token, ada, at(saturday, 0), at(sunday + timedelta(days=1), 0), "America/New_York"
    )

    # Saturday 09:00 GMT = 05:00 EDT; Sunday 09:00 BST = 08:00 UTC = 04:00 EDT.
    assert agenda["openRanges"] == [
        {"start": f"{saturday}T05:00:00-04:00", "end": f"{saturday}T13:00:00-04:00"},
        {"start": f"{sunday}T04:00:00-04:00", "end": f"{sunday}T12:00:00-04:00"},
    ]
    assert [(b["start"], b["end"]) for b in agenda["bookings"]] == [
        (f"{sunday}T05:00:00-04:00", f"{sunday}T06:00:00-04:00")
    ]


async def test_who_sees_whose_agenda(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    bob = await make_tutor(gql, "bob")
    cy = await make_tutor(gql, "cy")
    dan = await make_tutor(gql, "dan")
    eve = await make_tutor(gql, "eve")
    studio = await organization(gql, ada, cy, dan)
    await join(gql, studio, ada, bob, "ADMIN")
    day = monday()
    start, end = at(day, 0), at(day + timedelta(days=1), 0)

    # Tutor.agenda: the tutor, the owner and an admin; not another member, an outsider or
    # someone signed out.
    for viewer in (cy, ada, bob):
        seen = await tutor_agenda(gql, viewer.token, cy, start, end)
        assert seen["openRanges"] == [span(day, 9, 17)], viewer.sub
    for stranger in (dan.token, eve.token, token("student"), None):
        assert await tutor_agenda(gql, stranger, cy, start, end) is None
    # An outsider's own calendar is theirs alone.
    assert await tutor_agenda(gql, eve.token, eve, start, end) is not None
    assert await tutor_agenda(gql, ada.token, eve, start, end) is None

    def tutors(agendas: list[dict[str, Any]]) -> list[str]:
        return [a["tutor"]["id"] for a in agendas]

    # Organization.agenda: owners and admins see every member, in the members' order, or the
    # members they choose, in their order (an outsider's id is left out).
    members = [ada.id, cy.id, dan.id, bob.id]
    assert tutors(await organization_agenda(gql, ada, studio)) == members
    assert tutors(await organization_agenda(gql, bob, studio)) == members
    chosen = await organization_agenda(gql, ada, studio, [dan.id, eve.id, cy.id, "nonsense"])
    assert tutors(chosen) == [dan.id, cy.id]
    # A member sees only themselves; an outsider sees no organization at all.
    assert tutors(await organization_agenda(gql, cy, studio)) == [cy.id]
    assert await organization_agenda(gql, cy, studio, [ada.id, dan.id]) == []
    assert await organization_agenda(gql, eve, studio) is None


async def test_a_range_over_31_days_or_backwards_is_refused(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    day = monday()
    cases = [
        (at(day, 0), at(day + timedelta(days=31), 1), "to"),
        (at(day, 1), at(day, 0), "from"),
    ]
    for start, end, field in cases:
        variables = {"id": ada.id, "from": start, "to": end, "zone": "UTC"}
        error = await gql.error(TUTOR_AGENDA, variables, ada.token)
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    ada_studio = await organization(gql, ada)
    too_many = agenda_variables(ada_studio, [ada.id] * 101)
    error = await gql.error(ORGANIZATION_AGENDA % "tutor { id }", too_many, ada.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "tutorIds"}
    # Exactly 31 days is fine.
    assert await tutor_agenda(gql, ada.token, ada, at(day, 0), at(day + timedelta(days=31), 0))


async def test_the_statement_count_is_the_same_for_1_and_10_tutors(
    gql: GraphQLClient, db: Database
) -> None:
    owner = await make_tutor(gql, "owner")
    members = [
        await make_tutor(
            gql, f"tutor{n}", rules=weekly("08:00", "12:00") + weekly("13:00", "18:00")
        )
        for n in range(9)
    ]
    studio = await organization(gql, owner, *members)
    day = monday()
    everyone = [owner, *members]
    for tutor in everyone:
        service = (await tutor.service())["service"]["id"]
        await override(tutor, day + timedelta(days=2), start="10:00", end="11:00", available=False)
        for hour in (9, 14):
            await add_booking(
                db,
                tutor.id,
                service,
                datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=hour),
            )

    async def statements(tutors: list[Tutor]) -> int:
        with count_statements(db) as seen:
            agendas = await organization_agenda(
                gql, owner, studio, [t.id for t in tutors], CALENDAR
            )
        assert [a["tutor"]["id"] for a in agendas] == [t.id for t in tutors]
        assert all(len(a["bookings"]) == 2 and a["blockedRanges"] for a in agendas)
        return len(seen)

    one, ten = await statements(everyone[:1]), await statements(everyone)
    assert one == ten
    assert ten <= 12
    # Every member's month unasked for by name is priced as the 100 a studio may have.
    error = await gql.error(
        ORGANIZATION_AGENDA % CALENDAR, agenda_variables(studio, None), owner.token
    )
    # 2 + 100 x (tutor 3 + openRanges 201 + blockedRanges 81 + bookings (1 + 200 x 5)): README.
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["cost"] == 128_602
