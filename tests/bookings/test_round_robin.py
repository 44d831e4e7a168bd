"""Round robin: a booking without a tutor goes to a free tutor, the least booked that week."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from infra.db import Database
from tests.helpers import (
    CREATE_MANY,
    GraphQLClient,
    Tutor,
    at,
    book,
    grant,
    make_tutor,
    monday,
    organization,
    search,
    stored_student,
    token,
)


async def studio(gql: GraphQLClient) -> tuple[list[Tutor], str]:
    """Three tutors (09:00 to 17:00 UTC) of one organization sharing a one-hour lesson."""
    ada = await make_tutor(gql, "ada")
    bob = await make_tutor(gql, "bob")
    cy = await make_tutor(gql, "cy")
    studio_id = await organization(gql, ada, bob, cy)
    saved = await ada.service(
        title="Lesson",
        organizationId=studio_id,
        tutorIds=[ada.id, bob.id, cy.id],
        slotIntervalMinutes=60,
    )
    assert saved["__typename"] == "ServiceSaved", saved
    return [ada, bob, cy], saved["service"]["id"]


def tutor_of(made: dict[str, Any]) -> str:
    assert made["__typename"] == "BookingCreated", made
    tutor_id: str = made["booking"]["tutor"]["id"]
    return tutor_id


async def test_each_booking_goes_to_the_least_booked_tutor_free_then(gql: GraphQLClient) -> None:
    (ada, bob, cy), service = await studio(gql)
    day = monday()
    # All tied at none: the service's order; then whoever has fewer, then booked longest ago.
    chosen = [
        tutor_of(await book(gql, token(f"s{i}"), serviceId=service, start=at(day, 9 + i)))
        for i in range(4)
    ]
    assert chosen == [ada.id, bob.id, cy.id, ada.id]
    # Bob and Cy have one each, Ada two: at 15:00 Bob is busy, so Cy.
    busy = await book(gql, token("own"), serviceId=service, tutorId=bob.id, start=at(day, 15))
    assert tutor_of(busy) == bob.id
    made = await book(gql, token("s5"), serviceId=service, start=at(day, 15))
    assert tutor_of(made) == cy.id
    # At 16:00 only Ada is free: she is booked, though she has the most.
    for n, tutor in enumerate((bob, cy)):
        await book(gql, token(f"o{n}"), serviceId=service, tutorId=tutor.id, start=at(day, 16))
    assert tutor_of(await book(gql, token("s6"), serviceId=service, start=at(day, 16))) == ada.id
    # Nobody free: SlotUnavailable, with free times nearby.
    full = await book(gql, token("s7"), serviceId=service, start=at(day, 16))
    assert full["__typename"] == "SlotUnavailable"
    assert full["alternatives"]


async def test_counts_are_per_week_of_this_service(gql: GraphQLClient) -> None:
    (ada, bob, cy), service = await studio(gql)
    week = monday(3)
    # Ada: two last week, and two of another service this week; Bob and Cy one each this week.
    for n, hour in enumerate((9, 10)):
        await book(
            gql, token(f"x{n}"), serviceId=service, tutorId=ada.id, start=at(monday(2), hour)
        )
    other = (await ada.service(title="Other", slotIntervalMinutes=60))["service"]["id"]
    for n, hour in enumerate((9, 10)):
        await book(gql, token(f"y{n}"), serviceId=other, start=at(week, hour))
    await book(gql, token("z1"), serviceId=service, tutorId=bob.id, start=at(week, 12))
    await book(gql, token("z2"), serviceId=service, tutorId=cy.id, start=at(week, 13))
    # This service this week: Ada none, Bob one, Cy one.
    made = await book(gql, token("w"), serviceId=service, start=at(week + timedelta(2), 11))
    assert tutor_of(made) == ada.id


async def test_bookings_over_a_week_are_spread_evenly(gql: GraphQLClient) -> None:
    tutors, service = await studio(gql)
    day = monday()
    taken: Counter[str] = Counter()
    n = 0
    # Monday to Friday, 09:00 to 16:00: one, two or three students at each start, in turn.
    for weekday in range(5):
        for hour in range(9, 17):
            for _ in range(1 + (weekday + hour) % 3):
                made = await book(
                    gql,
                    token(f"week-{n}"),
                    serviceId=service,
                    start=at(day + timedelta(weekday), hour),
                )
                taken[tutor_of(made)] += 1
                n += 1
    assert sum(taken.values()) == n
    assert set(taken) == {t.id for t in tutors}
    assert max(taken.values()) - min(taken.values()) <= 1, taken


async def test_create_bookings_assigns_one_tutor_free_at_every_slot(gql: GraphQLClient) -> None:
    (ada, bob, cy), service = await studio(gql)
    day = monday()
    # Ada, the least booked, is free at 10:00 but not at 11:00; Bob is busy at 10:00; Cy is
    # free at both.
    for n, (tutor, hour) in enumerate(((ada, 11), (bob, 10), (bob, 15), (cy, 12), (cy, 13))):
        made = await book(
            gql, token(f"b{n}"), serviceId=service, tutorId=tutor.id, start=at(day, hour)
        )
        assert tutor_of(made) == tutor.id
    input = {
        "serviceId": service,
        "timeZone": "UTC",
        "slots": [{"start": at(day, 10)}, {"start": at(day, 11)}],
    }
    made = (await gql(CREATE_MANY, {"input": input}, token("many")))["createBookings"]
    assert made["__typename"] == "BookingsCreated", made
    listed = await gql("{ bookings { edges { node { start tutor { id } } } } }", {}, token("many"))
    assert {e["node"]["tutor"]["id"] for e in listed["bookings"]["edges"]} == {cy.id}


async def test_a_package_books_its_own_tutor(gql: GraphQLClient, db: Database) -> None:
    (_, _, cy), service = await studio(gql)
    sam = token("sam")
    sam_id = await stored_student(db, sam)
    credit = await grant(gql, cy, studentId=sam_id, unit="SESSIONS", total=1)
    paid = await book(
        gql, sam, serviceId=service, start=at(monday(), 9), packageId=credit["package"]["id"]
    )
    assert tutor_of(paid) == cy.id


async def test_a_service_of_one_tutor_books_that_tutor(gql: GraphQLClient) -> None:
    ada = await make_tutor(gql, "ada")
    service = (await ada.service(title="Solo"))["service"]["id"]
    made = await book(gql, token("sam"), serviceId=service, start=at(monday(), 9))
    assert tutor_of(made) == ada.id


async def test_group_by_start_lists_the_tutor_round_robin_would_book(gql: GraphQLClient) -> None:
    (ada, bob, cy), service = await studio(gql)
    day = monday()
    await book(gql, token("a"), serviceId=service, tutorId=ada.id, start=at(day, 9))
    await book(gql, token("c"), serviceId=service, tutorId=cy.id, start=at(day, 10))
    window = {"serviceId": service, "from": at(day, 9), "to": at(day, 12), "timeZone": "UTC"}
    every = await search(gql, **window)
    assert len(every["slots"]) == 7  # 09:00 and 10:00 two tutors each, 11:00 three
    grouped = await search(gql, **window, groupByStart=True)
    picks = [(s["start"], s["tutor"]["id"]) for s in grouped["slots"]]
    # 09:00: Bob (none) before Cy (one); 10:00: Bob; 11:00: Bob, with none, before Ada and Cy.
    assert picks == [(at(day, 9), bob.id), (at(day, 10), bob.id), (at(day, 11), bob.id)]
    assert grouped["nextAvailable"]["tutor"]["id"] == bob.id
    assert [d["slotCount"] for d in grouped["days"]] == [3]
    # Booking as listed gets the listed tutor; the next listing moves on.
    assert tutor_of(await book(gql, token("s"), serviceId=service, start=at(day, 11))) == bob.id
    # Now one each: ties go to the one booked longest ago (Ada, then Cy, then Bob).
    again = await search(gql, **window, groupByStart=True)
    assert [s["tutor"]["id"] for s in again["slots"]] == [cy.id, ada.id, ada.id]
    # A tutor asked for: every slot is theirs, grouped or not.
    theirs = await search(gql, **window, tutorId=cy.id, groupByStart=True)
    assert {s["tutor"]["id"] for s in theirs["slots"]} == {cy.id}
    # Past the range: the first start found, with round robin's tutor.
    later = {**window, "from": at(day, 17), "to": at(day, 18)}
    assert (await search(gql, **later, groupByStart=True))["nextAvailable"] == {
        "start": at(day + timedelta(1), 9),
        "tutor": {"id": ada.id},
    }
