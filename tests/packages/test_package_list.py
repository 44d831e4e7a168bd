"""The coach's package list (Tutor.packages) and one student's allowance left for the coach
(Service.monthlyAllowanceRemainingFor): filters, pages, who sees what, statements per page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from infra.db import Database
from tests.helpers import (
    CANCEL,
    UPDATE_TUTOR,
    GraphQLClient,
    TestClock,
    Tutor,
    book,
    count_statements,
    grant,
    join,
    make_tutor,
    organization,
    stored_student,
    token,
    weekly,
)

NOW = datetime(2031, 3, 10, 8, tzinfo=UTC)
ADJUST = """mutation($input: AdjustPackageInput!) { adjustPackage(input: $input) {
  __typename } }"""
PACKAGES = """query($id: ID!, $filter: TutorPackageFilter, $first: Int, $after: String) {
  tutor(id: $id) { packages(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id remaining expiresAt notes
      student { id displayName } tutor { id } } } } } }"""


async def listed(
    gql: GraphQLClient, tutor: Tutor, who: str | None, **variables: Any
) -> dict[str, Any]:
    found: dict[str, Any] = (await gql(PACKAGES, {"id": tutor.id, **variables}, who))["tutor"][
        "packages"
    ]
    return found


def notes(page: dict[str, Any]) -> list[str]:
    return [e["node"]["notes"] for e in page["edges"]]


async def give(
    gql: GraphQLClient, tutor: Tutor, student: str, name: str, total: int, days: int | None
) -> str:
    expires = (NOW + timedelta(days=days)).isoformat() if days is not None else None
    granted = await grant(
        gql,
        tutor,
        studentId=student,
        unit="SESSIONS",
        total=total,
        sessionDurationMinutes=60,
        expiresAt=expires,
        notes=name,
    )
    assert granted["__typename"] == "PackageGranted", granted
    package_id: str = granted["package"]["id"]
    return package_id


async def five_packages(gql: GraphQLClient, db: Database, ada: Tutor) -> tuple[str, str]:
    """Sam: "ten" (10 left, 30 days) and "two" (2 left, 5 days); Kim: "five" (no expiry),
    "soon" (3 left, expires in a day) and "spent" (used up, no expiry)."""
    sam = await stored_student(db, token("sam", name="Sam"))
    kim = await stored_student(db, token("kim", name="Kim"))
    await give(gql, ada, sam, "ten", 10, 30)
    await give(gql, ada, sam, "two", 2, 5)
    await give(gql, ada, kim, "five", 5, None)
    await give(gql, ada, kim, "soon", 3, 1)
    spent = await give(gql, ada, kim, "spent", 1, None)
    used = await gql(ADJUST, {"input": {"packageId": spent, "delta": -1}}, ada.token)
    assert used["adjustPackage"]["__typename"] == "PackageAdjusted"
    return sam, kim


async def test_filters_and_order(gql: GraphQLClient, db: Database, clock: TestClock) -> None:
    clock.set(NOW)
    ada = await make_tutor(gql, "ada")
    sam, _ = await five_packages(gql, db, ada)
    clock.set(NOW + timedelta(days=2))  # "soon" has expired

    # Active only, soonest expiry first, never-expiring last.
    active = await listed(gql, ada, ada.token)
    assert notes(active) == ["two", "ten", "five"]
    assert active["totalCount"] == 3
    assert active["edges"][0]["node"]["student"]["displayName"] == "Sam"
    assert {e["node"]["tutor"]["id"] for e in active["edges"]} == {ada.id}

    everything = await listed(gql, ada, ada.token, filter={"includeInactive": True})
    assert notes(everything)[:3] == ["soon", "two", "ten"]
    assert sorted(notes(everything)[3:]) == ["five", "spent"]
    assert everything["totalCount"] == 5

    assert notes(await listed(gql, ada, ada.token, filter={"studentId": sam})) == ["two", "ten"]
    # At or below the tutor's threshold (2 by default): "two"; with inactive ones, "spent" too.
    assert notes(await listed(gql, ada, ada.token, filter={"lowBalance": True})) == ["two"]
    low_all = await listed(
        gql, ada, ada.token, filter={"lowBalance": True, "includeInactive": True}
    )
    assert notes(low_all) == ["two", "spent"]
    assert notes(await listed(gql, ada, ada.token, filter={"lowBalance": False})) == [
        "two",
        "ten",
        "five",
    ]
    raised = await gql(UPDATE_TUTOR, {"input": {"lowBalanceThreshold": 5}}, ada.token)
    assert raised["updateTutorProfile"]["tutor"]["lowBalanceThreshold"] == 5
    assert notes(await listed(gql, ada, ada.token, filter={"lowBalance": True})) == ["two", "five"]

    before = (NOW + timedelta(days=10)).isoformat()
    assert notes(await listed(gql, ada, ada.token, filter={"expiringBefore": before})) == ["two"]
    expiring_all = await listed(
        gql, ada, ada.token, filter={"expiringBefore": before, "includeInactive": True}
    )
    assert notes(expiring_all) == ["soon", "two"]
    assert expiring_all["totalCount"] == 2

    error = await gql.error(PACKAGES, {"id": ada.id, "filter": {"studentId": ada.id}}, ada.token)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "filter.studentId"


async def test_pages_follow_the_order(gql: GraphQLClient, db: Database, clock: TestClock) -> None:
    clock.set(NOW)
    ada = await make_tutor(gql, "ada")
    await five_packages(gql, db, ada)
    clock.set(NOW + timedelta(days=2))
    wanted = {"filter": {"includeInactive": True}}
    whole = notes(await listed(gql, ada, ada.token, **wanted))

    seen: list[str] = []
    after = None
    pages = []
    while True:
        page = await listed(gql, ada, ada.token, first=2, after=after, **wanted)
        pages.append(page)
        assert page["totalCount"] == 5
        assert page["pageInfo"]["hasPreviousPage"] == (after is not None)
        assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        seen += notes(page)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == whole
    assert [len(p["edges"]) for p in pages] == [2, 2, 1]

    bad = await gql.error(PACKAGES, {"id": ada.id, "after": "not-a-cursor"}, ada.token)
    assert bad["extensions"]["code"] == "BAD_USER_INPUT"
    too_many = await gql.raw(PACKAGES, {"id": ada.id, "first": 51}, ada.token)
    assert too_many["errors"]


async def test_who_sees_which_packages(gql: GraphQLClient, db: Database, clock: TestClock) -> None:
    clock.set(NOW)
    ada, bo, cy, olga, zed, dora = [
        await make_tutor(gql, name) for name in ("ada", "bo", "cy", "olga", "zed", "dora")
    ]
    organization_id = await organization(gql, olga, ada, bo)
    await join(gql, organization_id, olga, cy, "ADMIN")
    sam = await stored_student(db, token("sam", name="Sam"))
    await give(gql, ada, sam, "ada's", 4, 20)
    await give(gql, bo, sam, "bo's", 4, 10)
    await give(gql, zed, sam, "zed's", 4, 5)

    assert notes(await listed(gql, ada, ada.token)) == ["ada's"]  # a member: their own
    assert notes(await listed(gql, bo, ada.token)) == []  # not another member's
    for manager in (olga, cy):  # owner and admin: the organization's, from any member's list
        assert notes(await listed(gql, ada, manager.token)) == ["bo's", "ada's"]
        assert notes(await listed(gql, manager, manager.token)) == ["bo's", "ada's"]
    for outsider in (zed.token, dora.token, token("sam", name="Sam"), None):
        found = await listed(gql, ada, outsider)
        assert found["edges"] == [] and found["totalCount"] == 0
        assert found["pageInfo"]["hasNextPage"] is False
    assert notes(await listed(gql, zed, zed.token)) == ["zed's"]


async def test_statements_per_page_do_not_grow(
    gql: GraphQLClient, db: Database, clock: TestClock
) -> None:
    clock.set(NOW)
    ada = await make_tutor(gql, "ada")
    students = [await stored_student(db, token(f"s{n}", name=f"S{n}")) for n in range(3)]

    async def statements() -> int:
        with count_statements(db) as seen:
            page = await listed(gql, ada, ada.token, first=50)
        assert len(page["edges"]) == page["totalCount"]
        assert all(e["node"]["student"]["displayName"] for e in page["edges"])
        return len(seen)

    for n in range(3):
        await give(gql, ada, students[n % 3], f"p{n}", 5, n + 1)
    three = await statements()
    for n in range(3, 30):
        await give(gql, ada, students[n % 3], f"p{n}", 5, n + 1)
    assert await statements() == three


ALLOWANCE = """query($id: ID!, $student: ID!) { node(id: $id) { ... on Service {
  monthlyAllowanceRemainingFor(studentId: $student) } } }"""


async def test_allowance_left_for_one_student(
    gql: GraphQLClient, db: Database, clock: TestClock
) -> None:
    clock.set(NOW)
    ada = await make_tutor(gql, "ada", "UTC", weekly("00:00", "00:00"))
    olga, zed = await make_tutor(gql, "olga"), await make_tutor(gql, "zed")
    await organization(gql, olga, ada)
    checkin = (
        await ada.service(
            title="Check-in", kind="CHECKIN", monthlyFreeAllowance=2, slotIntervalMinutes=60
        )
    )["service"]["id"]
    lesson = (await ada.service())["service"]["id"]
    sam_token = token("sam", name="Sam")
    sam = await stored_student(db, sam_token)

    async def left(who: str | None, service: str = checkin) -> Any:
        found = await gql(ALLOWANCE, {"id": service, "student": sam}, who)
        return found["node"]["monthlyAllowanceRemainingFor"]

    assert await left(ada.token) == 2
    start = datetime(2031, 3, 20, 10, tzinfo=UTC).isoformat()
    booked = await book(gql, sam_token, serviceId=checkin, tutorId=ada.id, start=start)
    assert booked["__typename"] == "BookingCreated", booked
    assert await left(ada.token) == 1
    assert await left(olga.token) == 1  # the tutor's organization owner
    for outsider in (zed.token, sam_token, None):
        assert await left(outsider) is None
    assert await left(ada.token, lesson) is None  # no monthly allowance
    # Another student's count is their own.
    kim = await stored_student(db, token("kim"))
    found = await gql(ALLOWANCE, {"id": checkin, "student": kim}, ada.token)
    assert found["node"]["monthlyAllowanceRemainingFor"] == 2

    cancelled = await gql(CANCEL, {"input": {"bookingId": booked["booking"]["id"]}}, sam_token)
    assert cancelled["cancelBooking"]["__typename"] == "BookingCancelled"
    assert await left(ada.token) == 2  # a cancelled one does not count

    error = await gql.error(ALLOWANCE, {"id": checkin, "student": ada.id}, ada.token)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
