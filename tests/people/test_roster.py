"""Students, seen by their tutors: Tutor.students, StudentStats (also Student.stats) and
Slot.favorite, through GraphQL on a set clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from infra.db import Database
from models import Booking, Student
from tests.helpers import (
    ATTENDANCE,
    CANCEL,
    CLOCK,
    UPDATE_TUTOR,
    GraphQLClient,
    Tutor,
    add_booking,
    book,
    count_statements,
    grant,
    join,
    make_tutor,
    organization,
    setup_lessons,
    stored_student,
    token,
    weekly,
)

STATS = """completedSessions upcomingSessions noShows90Days cancellations90Days flagged
  currentStreakWeeks favoriteTimes { weekday time count } lastSessionAt nextSessionAt"""
ROSTER = f"""query($id: ID!, $search: String, $first: Int, $after: String) {{ tutor(id: $id) {{
  students(search: $search, first: $first, after: $after) {{
    totalCount pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
    edges {{ cursor node {{ id displayName email }} stats {{ {STATS} }} }} }} }} }}"""
OWN_STATS = (
    f"""query($tutor: ID!) {{ viewer {{ student {{ stats(tutorId: $tutor) {{ {STATS} }} }} }} }}"""
)
NODE_STATS = f"""query($id: ID!, $tutor: ID!) {{ node(id: $id) {{
  ... on Student {{ stats(tutorId: $tutor) {{ {STATS} }} }} }} }}"""
FAVORITES = """query($input: SlotSearchInput!) { availableSlots(input: $input) {
  slots { start favorite } } }"""
REBOOK = """query($id: ID!) { node(id: $id) { ... on Booking {
  rebookSuggestion { start favorite } } } }"""
TAKEN = """mutation($input: CreateBookingInput!) { createBooking(input: $input) {
  ... on SlotUnavailable { alternatives { start favorite } } } }"""

# A Wednesday, after London's clocks went forward (Sunday 30 March 2031) and before they go
# back (Sunday 26 October 2031).
NOW = datetime(2031, 4, 2, 12, tzinfo=UTC)


def utc(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


class Sessions:
    """Ada's Piano (London, around the clock, hourly) booked by students on a set clock: each
    booking made the day before it starts, attendance marked two hours after it starts."""

    def __init__(self, gql: GraphQLClient, ada: Tutor, service_id: str) -> None:
        self.gql, self.ada, self.service_id = gql, ada, service_id

    async def book(self, who: str, start: datetime, outcome: str | None = None) -> str:
        CLOCK.set(start - timedelta(days=1))
        made = await book(
            self.gql, who, serviceId=self.service_id, tutorId=self.ada.id, start=start.isoformat()
        )
        assert made["__typename"] == "BookingCreated", made
        booking_id: str = made["booking"]["id"]
        if outcome == "CANCELLED":
            cancelled = await self.gql(CANCEL, {"input": {"bookingId": booking_id}}, who)
            assert cancelled["cancelBooking"]["__typename"] == "BookingCancelled"
        elif outcome is not None:
            CLOCK.set(start + timedelta(hours=2))
            mark = {"bookingId": booking_id, "status": outcome}
            marked = await self.gql(ATTENDANCE, {"input": mark}, self.ada.token)
            assert marked["markAttendance"]["__typename"] == "AttendanceMarked", marked
        return booking_id

    async def stats(self, who: str) -> dict[str, Any]:
        CLOCK.set(NOW)
        found: dict[str, Any] = (await self.gql(OWN_STATS, {"tutor": self.ada.id}, who))["viewer"][
            "student"
        ]["stats"]
        return found


async def lessons(gql: GraphQLClient) -> tuple[Sessions, str]:
    CLOCK.set(NOW - timedelta(days=200))
    ada, service_id, sam = await setup_lessons(gql, "Europe/London")
    return Sessions(gql, ada, service_id), sam


# ---------------------------------------------------------------- the record


async def test_the_streak_counts_weeks_on_the_tutors_wall_clock_across_dst(
    gql: GraphQLClient,
) -> None:
    sessions, sam = await lessons(gql)
    # Monday 31 March 00:00 in London is Sunday 23:00 UTC: this week in London, last week in UTC.
    await sessions.book(sam, utc(date(2031, 3, 30), 23), "COMPLETED")
    # The week of the change (24-30 March): Sunday 30 March 10:00 BST.
    await sessions.book(sam, utc(date(2031, 3, 30), 9), "COMPLETED")
    await sessions.book(sam, utc(date(2031, 3, 18), 10), "COMPLETED")  # 17-23 March
    # 10-16 March missed; 3-9 March does not count.
    await sessions.book(sam, utc(date(2031, 3, 5), 10), "COMPLETED")
    stats = await sessions.stats(sam)
    assert stats["currentStreakWeeks"] == 3
    assert stats["completedSessions"] == 4

    # Another student, nothing this week yet: the streak ends with last week's.
    sue = token("sue")
    await sessions.book(sue, utc(date(2031, 3, 25), 10), "COMPLETED")
    await sessions.book(sue, utc(date(2031, 3, 20), 10), "COMPLETED")
    await sessions.book(sue, utc(date(2031, 4, 3), 10))  # upcoming: not completed
    assert (await sessions.stats(sue))["currentStreakWeeks"] == 2

    # Two weeks ago and not since: no streak. A no-show is not a completed session.
    cy = token("cy")
    await sessions.book(cy, utc(date(2031, 3, 19), 10), "COMPLETED")
    await sessions.book(cy, utc(date(2031, 3, 26), 10), "NO_SHOW")
    stats = await sessions.stats(cy)
    assert (stats["currentStreakWeeks"], stats["completedSessions"]) == (0, 1)


async def test_favorite_times_threshold_order_and_top_three(gql: GraphQLClient) -> None:
    sessions, sam = await lessons(gql)
    week = date(2031, 4, 7)  # a Monday, in BST (UTC+1)

    async def weekly_at(
        weekday: int, hour: int, weeks: int, outcome: str | None = None, skip: int = 0
    ) -> None:
        for n in range(skip, skip + weeks):
            day = week + timedelta(days=7 * n + weekday)
            await sessions.book(sam, utc(day, hour - 1), outcome)

    await weekly_at(0, 9, 3)  # Monday 09:00 three times
    await weekly_at(3, 12, 2)  # Thursday 12:00 twice
    await weekly_at(1, 10, 2)  # Tuesday 10:00 twice
    await weekly_at(2, 11, 2)  # Wednesday 11:00 twice
    await weekly_at(4, 13, 1)  # Friday 13:00 once ...
    await weekly_at(4, 13, 3, "CANCELLED", skip=1)  # ... and three times cancelled: not counted
    stats = await sessions.stats(sam)
    assert stats["favoriteTimes"] == [
        {"weekday": "MONDAY", "time": "09:00:00", "count": 3},
        {"weekday": "TUESDAY", "time": "10:00:00", "count": 2},
        {"weekday": "WEDNESDAY", "time": "11:00:00", "count": 2},
    ]
    assert stats["upcomingSessions"] == 10


async def test_a_favorite_is_the_same_wall_clock_time_across_the_autumn_change(
    gql: GraphQLClient,
) -> None:
    sessions, sam = await lessons(gql)
    # The profile's zone is not the schedule's: times are the schedule's (London's).
    moved = await gql(UPDATE_TUTOR, {"input": {"timeZone": "Asia/Tokyo"}}, sessions.ada.token)
    assert moved["updateTutorProfile"]["__typename"] == "TutorProfileUpdated"
    # Tuesday 10:00 in London: 09:00 UTC in summer time, 10:00 UTC after 26 October.
    await sessions.book(sam, utc(date(2031, 10, 21), 9))
    await sessions.book(sam, utc(date(2031, 10, 28), 10))
    await sessions.book(sam, utc(date(2031, 10, 29), 10))  # Wednesday 10:00, once
    CLOCK.set(datetime(2031, 10, 1, tzinfo=UTC))
    stats = (await sessions.gql(OWN_STATS, {"tutor": sessions.ada.id}, sam))["viewer"]["student"][
        "stats"
    ]
    assert stats["favoriteTimes"] == [{"weekday": "TUESDAY", "time": "10:00:00", "count": 2}]


async def test_the_flag_counts_90_days_of_no_shows_and_the_students_cancellations(
    gql: GraphQLClient,
) -> None:
    sessions, sam = await lessons(gql)
    day = NOW.date()
    for n in (3, 10, 20):
        await sessions.book(sam, utc(day - timedelta(days=n), 10), "NO_SHOW")
    stats = await sessions.stats(sam)
    assert (stats["noShows90Days"], stats["flagged"]) == (3, True)

    sue = token("sue")
    for n in (5, 6):
        await sessions.book(sue, utc(day - timedelta(days=n), 10), "CANCELLED")
    # Marked 100 days ago: outside the 90 days.
    await sessions.book(sue, utc(day - timedelta(days=101), 10), "NO_SHOW")
    await sessions.book(sue, utc(day - timedelta(days=100), 10), "NO_SHOW")
    await sessions.book(sue, utc(day - timedelta(days=102), 10), "CANCELLED")
    # Cancelled by the tutor: not the student's doing.
    taken = await sessions.book(sue, utc(day + timedelta(days=3), 10))
    CLOCK.set(NOW)
    by_tutor = await sessions.gql(CANCEL, {"input": {"bookingId": taken}}, sessions.ada.token)
    assert by_tutor["cancelBooking"]["__typename"] == "BookingCancelled"
    stats = await sessions.stats(sue)
    assert (stats["noShows90Days"], stats["cancellations90Days"], stats["flagged"]) == (
        0,
        2,
        False,
    )
    await sessions.book(sue, utc(day - timedelta(days=4), 10), "CANCELLED")
    stats = await sessions.stats(sue)
    assert (stats["cancellations90Days"], stats["flagged"]) == (3, True)


async def test_completed_upcoming_last_and_next(gql: GraphQLClient) -> None:
    sessions, sam = await lessons(gql)
    day = NOW.date()
    await sessions.book(sam, utc(day - timedelta(days=9), 10), "COMPLETED")
    await sessions.book(sam, utc(day - timedelta(days=2), 10), "NO_SHOW")
    await sessions.book(sam, utc(day - timedelta(days=1), 10), "CANCELLED")
    await sessions.book(sam, utc(day + timedelta(days=1), 10), "CANCELLED")
    await sessions.book(sam, utc(day + timedelta(days=2), 10))
    await sessions.book(sam, utc(day + timedelta(days=5), 10))
    stats = await sessions.stats(sam)
    assert stats == {
        "completedSessions": 1,
        "upcomingSessions": 2,
        "noShows90Days": 1,
        "cancellations90Days": 2,
        "flagged": False,
        "currentStreakWeeks": 1,  # last week's
        # Mondays at 11:00 in London: the no-show and the last, not the first (before the change).
        "favoriteTimes": [{"weekday": "MONDAY", "time": "11:00:00", "count": 2}],
        "lastSessionAt": utc(day - timedelta(days=2), 10).isoformat(),
        "nextSessionAt": utc(day + timedelta(days=2), 10).isoformat(),
    }
    # Nothing with this tutor: a record of zeros.
    empty = await sessions.stats(token("nobody"))
    assert empty["completedSessions"] == 0
    assert empty["favoriteTimes"] == []
    assert empty["lastSessionAt"] is None


# ---------------------------------------------------------------- who sees a record


async def test_a_record_is_for_the_student_the_tutor_and_the_tutors_managers(
    gql: GraphQLClient, db: Database
) -> None:
    ada = await make_tutor(gql, "ada", "UTC", weekly("00:00", "00:00"))
    bea = await make_tutor(gql, "bea", "UTC", weekly("00:00", "00:00"))
    owner = await make_tutor(gql, "olga")
    cy = await make_tutor(gql, "cy")  # a plain member of the same organization
    await organization(gql, owner, ada, cy)
    sam = token("sam")
    for hour, tutor in enumerate((ada, bea)):
        service = (await tutor.service())["service"]["id"]
        start = (CLOCK() + timedelta(days=2)).replace(hour=10 + hour, minute=0, second=0)
        start = start.replace(microsecond=0)
        made = await book(gql, sam, serviceId=service, tutorId=tutor.id, start=start.isoformat())
        assert made["__typename"] == "BookingCreated"
    sam_id = await stored_student(db, sam)

    async def seen_by(who: str, tutor: Tutor) -> Any:
        node = (await gql(NODE_STATS, {"id": sam_id, "tutor": tutor.id}, who))["node"]
        return node and node["stats"]

    own = (await gql(OWN_STATS, {"tutor": ada.id}, sam))["viewer"]["student"]["stats"]
    assert own["upcomingSessions"] == 1
    assert await seen_by(sam, ada) == own
    assert await seen_by(ada.token, ada) == own
    assert await seen_by(owner.token, ada) == own
    # Bea sees Sam (he booked her) and her own record with him, not Ada's.
    assert (await seen_by(bea.token, bea))["upcomingSessions"] == 1
    assert await seen_by(bea.token, ada) is None
    # Ada may not read Bea's record with Sam; a member is no manager; a bad id is null.
    assert await seen_by(ada.token, bea) is None
    cy_sees = await gql(NODE_STATS, {"id": sam_id, "tutor": ada.id}, cy.token)
    assert cy_sees["node"] is None or cy_sees["node"]["stats"] is None
    assert (await gql(NODE_STATS, {"id": sam_id, "tutor": "nonsense"}, ada.token))["node"][
        "stats"
    ] is None
    anonymous = await gql(OWN_STATS, {"tutor": ada.id})
    assert anonymous["viewer"]["student"] is None


# ---------------------------------------------------------------- the roster


async def roster(gql: GraphQLClient, tutor_id: str, who: str | None, **args: Any) -> Any:
    return (await gql(ROSTER, {"id": tutor_id, **args}, who))["tutor"]["students"]


def names(found: Any) -> list[str]:
    return [edge["node"]["displayName"] for edge in found["edges"]]


async def test_who_is_on_a_tutors_roster_and_search(gql: GraphQLClient, db: Database) -> None:
    ada = await make_tutor(gql, "ada", "UTC", weekly("00:00", "00:00"))
    bea = await make_tutor(gql, "bea", "UTC", weekly("00:00", "00:00"))
    start = (CLOCK() + timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)

    async def booked(tutor: Tutor, who: str, hours: int = 0) -> str:
        service = (await tutor.service(title=f"Lesson {who[:8]}"))["service"]["id"]
        at = (start + timedelta(hours=hours)).isoformat()
        made = await book(gql, who, serviceId=service, tutorId=tutor.id, start=at)
        assert made["__typename"] == "BookingCreated"
        booking_id: str = made["booking"]["id"]
        return booking_id

    sam = token("sam", name="Sam Lee", email="sam@example.com")
    await booked(ada, sam)
    # Cancelled: still Ada's student.
    zoe = token("zoe", name="Zoë 100%_off", email="zoe@example.com")
    cancelled = await gql(CANCEL, {"input": {"bookingId": await booked(ada, zoe, 1)}}, zoe)
    assert cancelled["cancelBooking"]["__typename"] == "BookingCancelled"
    pat = token("pat", name="Pat Kim", email="PAT@Example.org")
    granted = await grant(
        gql,
        ada,
        studentId=await stored_student(db, pat),
        unit="SESSIONS",
        total=4,
        sessionDurationMinutes=60,
    )
    assert granted["__typename"] == "PackageGranted"
    bo = token("bo", name="Bo Bea's", email="bo@example.com")
    await booked(bea, bo)  # Bea's student, not Ada's

    everyone = await roster(gql, ada.id, ada.token)
    assert names(everyone) == ["Pat Kim", "Sam Lee", "Zoë 100%_off"]
    assert everyone["totalCount"] == 3
    assert everyone["edges"][0]["stats"]["upcomingSessions"] == 0  # a package, no booking
    assert everyone["edges"][1]["stats"]["upcomingSessions"] == 1
    assert names(await roster(gql, bea.id, bea.token)) == ["Bo Bea's"]

    # By name or email, in any case; % and _ match only themselves.
    assert names(await roster(gql, ada.id, ada.token, search="example.ORG")) == ["Pat Kim"]
    assert names(await roster(gql, ada.id, ada.token, search=" sAm ")) == ["Sam Lee"]
    assert names(await roster(gql, ada.id, ada.token, search="0%_")) == ["Zoë 100%_off"]
    assert names(await roster(gql, ada.id, ada.token, search="m%e")) == []
    assert names(await roster(gql, ada.id, ada.token, search="_")) == ["Zoë 100%_off"]
    searched = await roster(gql, ada.id, ada.token, search="example.com")
    assert searched["totalCount"] == 2

    # Pages, in name order, with an opaque cursor.
    first = await roster(gql, ada.id, ada.token, first=2)
    assert names(first) == ["Pat Kim", "Sam Lee"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["hasPreviousPage"] is False
    rest = await roster(gql, ada.id, ada.token, first=2, after=first["pageInfo"]["endCursor"])
    assert names(rest) == ["Zoë 100%_off"]
    assert rest["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": True,
        "startCursor": rest["edges"][0]["cursor"],
        "endCursor": rest["edges"][0]["cursor"],
    }
    assert rest["totalCount"] == 3

    # Others: an empty list. Bad arguments: an error naming them.
    for who in (bea.token, sam, None):
        assert await roster(gql, ada.id, who) == {
            "totalCount": 0,
            "pageInfo": {
                "hasNextPage": False,
                "hasPreviousPage": False,
                "startCursor": None,
                "endCursor": None,
            },
            "edges": [],
        }
    for args, field in (
        ({"first": 0}, "first"),
        ({"first": 101}, "first"),
        ({"after": "bm90IGEgY3Vyc29y"}, "after"),
        ({"after": "!!"}, "after"),
        # Well formed, but with a name PostgreSQL cannot take (NUL; a lone surrogate).
        (
            {"after": "WyJhXHUwMDAwYiIsICI2YjdjMWY3ZS03YThlLTRkN2MtOWQ5Yi0xYTJiM2M0ZDVlNmYiXQ"},
            "after",
        ),
        ({"after": "WyJcdWQ4MDAiLCAiNmI3YzFmN2UtN2E4ZS00ZDdjLTlkOWItMWEyYjNjNGQ1ZTZmIl0"}, "after"),
        ({"search": "x" * 201}, "search"),
    ):
        error = await gql.error(ROSTER, {"id": ada.id, **args}, ada.token)
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, args


async def test_owners_and_admins_see_the_organizations_students(gql: GraphQLClient) -> None:
    owner = await make_tutor(gql, "olga", "UTC", weekly("00:00", "00:00"))
    admin = await make_tutor(gql, "adam", "UTC", weekly("00:00", "00:00"))
    ada = await make_tutor(gql, "ada", "UTC", weekly("00:00", "00:00"))
    cy = await make_tutor(gql, "cy", "UTC", weekly("00:00", "00:00"))
    outsider = await make_tutor(gql, "xena", "UTC", weekly("00:00", "00:00"))
    studio = await organization(gql, owner, ada, cy)
    await join(gql, studio, owner, admin, "ADMIN")
    start = (CLOCK() + timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)
    for tutor, who in ((ada, "sam"), (cy, "sue"), (owner, "oz"), (outsider, "xi")):
        service = (await tutor.service())["service"]["id"]
        made = await book(
            gql, token(who), serviceId=service, tutorId=tutor.id, start=start.isoformat()
        )
        assert made["__typename"] == "BookingCreated"

    org = ["Oz", "Sam", "Sue"]
    assert names(await roster(gql, ada.id, owner.token)) == org
    assert names(await roster(gql, ada.id, admin.token)) == org
    assert names(await roster(gql, owner.id, owner.token)) == org
    # The record is with the tutor whose roster it is.
    by_name = {
        e["node"]["displayName"]: e["stats"]["upcomingSessions"]
        for e in (await roster(gql, ada.id, owner.token))["edges"]
    }
    assert by_name == {"Oz": 0, "Sam": 1, "Sue": 0}
    # A member sees their own students, and not another member's roster.
    assert names(await roster(gql, ada.id, ada.token)) == ["Sam"]
    assert names(await roster(gql, cy.id, ada.token)) == []
    assert names(await roster(gql, ada.id, outsider.token)) == []
    assert names(await roster(gql, outsider.id, owner.token)) == []


async def test_a_page_of_students_takes_the_same_statements_for_5_or_50(
    gql: GraphQLClient, db: Database
) -> None:
    ada = await make_tutor(gql, "ada", "Europe/London", weekly("00:00", "00:00"))
    service = (await ada.service())["service"]["id"]
    monday = CLOCK().date() - timedelta(days=CLOCK().weekday() + 7)
    async with db.transaction() as session:
        students = [
            Student(display_name=f"Student {n:02}", email=f"s{n}@example.com", created_at=CLOCK())
            for n in range(50)
        ]
        session.add_all(students)
    for n, student in enumerate(students):
        for week in range(2):
            start = utc(monday - timedelta(days=7 * week), 9 + n % 8)
            await add_booking(db, ada.id, service, start, student_id=student.id)
        later = utc(monday + timedelta(days=14), 9 + n % 8)
        await add_booking(db, ada.id, service, later, student_id=student.id)
    async with db.transaction() as session:  # the past ones attended
        past = col(Booking.start_at) < CLOCK()
        await session.exec(update(Booking).where(past).values(status="COMPLETED"))

    async def statements(first: int) -> tuple[int, Any]:
        with count_statements(db) as seen:
            found = await roster(gql, ada.id, ada.token, first=first)
        return len(seen), found

    few, small = await statements(5)
    many, large = await statements(50)
    assert len(small["edges"]) == 5
    assert len(large["edges"]) == 50
    assert all(e["stats"]["completedSessions"] == 2 for e in large["edges"])
    # Three at one UTC time: at least two at one London time, whatever the week's DST.
    assert all(e["stats"]["favoriteTimes"][0]["count"] >= 2 for e in large["edges"])
    assert few == many
    assert many <= 12


# ---------------------------------------------------------------- favorite slots


async def test_slots_at_a_students_favorite_times(gql: GraphQLClient, db: Database) -> None:
    sessions, sam = await lessons(gql)
    week = date(2031, 4, 7)  # a Monday, BST
    mondays = []
    for n in range(2):
        # Monday 09:00 London
        mondays.append(await sessions.book(sam, utc(week + timedelta(days=7 * n), 8)))
        await sessions.book(sam, utc(week + timedelta(days=7 * n + 1), 9), "CANCELLED")
    await sessions.book(sam, utc(week + timedelta(days=2), 10))  # Wednesday 11:00, once
    CLOCK.set(datetime(2031, 10, 20, tzinfo=UTC))
    # Monday 27 October, after the change: 09:00 London is 09:00 UTC. Shown in New York.
    day = {
        "serviceId": sessions.service_id,
        "from": "2031-10-27T00:00:00Z",
        "to": "2031-10-30T00:00:00Z",
        "timeZone": "America/New_York",
    }

    async def favorites(who: str | None) -> list[str]:
        slots = (await gql(FAVORITES, {"input": day}, who))["availableSlots"]["slots"]
        assert len(slots) == 72
        return [
            datetime.fromisoformat(s["start"]).astimezone(UTC).isoformat()
            for s in slots
            if s["favorite"]
        ]

    assert await favorites(sam) == [utc(date(2031, 10, 27), 9).isoformat()]
    assert await favorites(token("sue")) == []
    assert await favorites(sessions.ada.token) == []
    assert await favorites(None) == []

    # One statement more for a signed-in student's search, however many slots.
    async def statements(who: str | None, days: int) -> int:
        ranged = {
            **day,
            "to": (date(2031, 10, 27) + timedelta(days=days)).isoformat() + "T00:00:00Z",
        }
        with count_statements(db) as seen:
            await gql(FAVORITES, {"input": ranged}, who)
        return len(seen)

    anonymous = await statements(None, 1)
    assert await statements(sam, 1) == await statements(sam, 30) == anonymous + 1

    # Slots outside a listing load the favorites when asked: a rebook suggestion, and the
    # alternatives to a time taken.
    CLOCK.set(NOW)
    rebook = await gql(REBOOK, {"id": mondays[1]}, sam)
    assert rebook["node"]["rebookSuggestion"] == {
        "start": utc(week + timedelta(days=14), 8).isoformat(),
        "favorite": True,
    }
    await sessions.book(token("sue"), utc(week + timedelta(days=14), 7))
    CLOCK.set(NOW)
    taken = {
        "serviceId": sessions.service_id,
        "tutorId": sessions.ada.id,
        "start": utc(week + timedelta(days=14), 7).isoformat(),
        "timeZone": "UTC",
    }
    refused = (await gql(TAKEN, {"input": taken}, sam))["createBooking"]
    marked = {a["start"]: a["favorite"] for a in refused["alternatives"]}
    assert marked[utc(week + timedelta(days=14), 8).isoformat()] is True
    assert sum(marked.values()) == 1
