"""Package notices by email: low balance and expiry, to the student and to the package's tutor,
each once (however many redemptions, sweeps or job runs), each in the recipient's zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from infra.db import Database
from models import OutboxJob
from tests.fakes.smtp_server import Inbox
from tests.helpers import (
    ADA,
    CLOCK,
    SAM,
    UPDATE_TUTOR,
    Background,
    GraphQLClient,
    Tutor,
    at,
    book,
    grant,
    monday,
    pk,
    setup_lessons,
    stored_student,
)
from tests.packages.test_packages_api import ADJUST
from tests.people.test_profiles import update_student

TOKYO, NEW_YORK = "Asia/Tokyo", "America/New_York"
LOW_TO_SAM = "left with Ada"
LOW_TO_ADA = "Sam has "


def subjects(inbox: Inbox, address: str, part: str) -> list[str]:
    return [r.subject for r in inbox.to(address) if part in r.subject]


def shown(at: datetime, zone: str) -> str:
    return f"{at.astimezone(ZoneInfo(zone)):%A %-d %B %Y, %H:%M} ({zone})"


async def lessons_with_package(
    gql: GraphQLClient, db: Database, total: int, expires: datetime
) -> tuple[Tutor, str, str, str]:
    """Ada in Tokyo, Sam's profile in New York, and Sam's package of `total` sessions."""
    ada, service, sam = await setup_lessons(gql, zone=TOKYO)
    sam_id = await stored_student(db, sam)
    assert (await update_student(gql, sam, timeZone=NEW_YORK))["__typename"] == (
        "StudentProfileUpdated"
    )
    return ada, service, sam, await grant_sessions(gql, ada, sam_id, total, expires)


async def grant_sessions(
    gql: GraphQLClient, tutor: Tutor, student_id: str, total: int, expires: datetime
) -> str:
    """A package of `total` hour-long sessions: its global id."""
    granted = await grant(
        gql,
        tutor,
        studentId=student_id,
        unit="SESSIONS",
        total=total,
        sessionDurationMinutes=60,
        expiresAt=expires.isoformat(),
    )
    package: str = granted["package"]["id"]
    return package


async def book_with(
    gql: GraphQLClient, ada: Tutor, service: str, sam: str, package: str, hour: int
) -> None:
    made = await book(
        gql, sam, serviceId=service, tutorId=ada.id, start=at(monday(), hour), packageId=package
    )
    assert made["__typename"] == "BookingCreated", made


def later(days: int) -> datetime:
    return (CLOCK() + timedelta(days=days)).replace(microsecond=0)


async def test_low_balance_reaches_the_student_and_the_tutor_once_each_in_their_zones(
    gql: GraphQLClient, background: Background, inbox: Inbox, db: Database
) -> None:
    expires = later(60)
    ada, service, sam, package = await lessons_with_package(gql, db, 4, expires)
    for hour in (9, 11, 13):  # 3 left (above Ada's 2), then 2, then 1: past the threshold twice
        await book_with(gql, ada, service, sam, package, hour)
        await background.run()
    await background.run()
    assert subjects(inbox, SAM, LOW_TO_SAM) == ["2 sessions left with Ada"]
    assert subjects(inbox, ADA, LOW_TO_ADA) == ["Sam has 2 sessions left"]
    [to_ada] = [r for r in inbox.to(ADA) if r.subject.startswith(LOW_TO_ADA)]
    assert (
        "Sam has 2 sessions left of the package of 4 sessions with you. "
        f"It expires on {shown(expires, TOKYO)}." in to_ada.text
    )
    [to_sam] = [r for r in inbox.to(SAM) if LOW_TO_SAM in r.subject]
    assert f"It expires on {shown(expires, NEW_YORK)}." in to_sam.text

    # Credit added by hand (a new total) opens a new round: 1 + 3 = 4, then 3, then 2 again.
    added = await gql(ADJUST, {"input": {"packageId": package, "delta": 3}}, ada.token)
    assert added["adjustPackage"]["package"]["remaining"] == 4
    for hour in (15, 17):
        await book_with(gql, ada, service, sam, package, hour)
        await background.run()
    assert subjects(inbox, SAM, LOW_TO_SAM) == ["2 sessions left with Ada"] * 2
    assert subjects(inbox, ADA, LOW_TO_ADA) == ["Sam has 2 sessions left"] * 2


async def test_the_tutors_threshold_decides_for_both(
    gql: GraphQLClient, background: Background, inbox: Inbox, db: Database
) -> None:
    ada, service, sam, package = await lessons_with_package(gql, db, 3, later(60))
    changed = await gql(UPDATE_TUTOR, {"input": {"lowBalanceThreshold": 1}}, ada.token)
    assert changed["updateTutorProfile"]["tutor"]["lowBalanceThreshold"] == 1
    await book_with(gql, ada, service, sam, package, 9)  # 2 left: above 1
    await background.run()
    assert subjects(inbox, SAM, LOW_TO_SAM) == subjects(inbox, ADA, LOW_TO_ADA) == []
    await book_with(gql, ada, service, sam, package, 11)
    await background.run()
    assert subjects(inbox, SAM, LOW_TO_SAM) == ["1 session left with Ada"]
    assert subjects(inbox, ADA, LOW_TO_ADA) == ["Sam has 1 session left"]


async def test_expiry_notices_reach_both_30_and_7_days_before_once_each(
    gql: GraphQLClient, background: Background, inbox: Inbox, db: Database
) -> None:
    expires = later(20)
    await lessons_with_package(gql, db, 2, expires)
    for moment in (None, CLOCK() + timedelta(hours=1), expires - timedelta(days=6)):
        await background.run(moment)
    await background.run(expires - timedelta(days=5))
    to_sam = "Your package with Ada expires in"
    assert subjects(inbox, SAM, to_sam) == [
        f"{to_sam} 30 days or less",
        f"{to_sam} 7 days or less",
    ]
    to_ada = "Sam's package expires in"
    assert subjects(inbox, ADA, to_ada) == [f"{to_ada} 30 days or less", f"{to_ada} 7 days or less"]
    [week] = [r for r in inbox.to(ADA) if r.subject == f"{to_ada} 7 days or less"]
    assert f"Sam's package of 2 sessions with you expires on {shown(expires, TOKYO)}." in week.text
    assert "Sam still has 2 sessions to book before then." in week.text
    [week] = [r for r in inbox.to(SAM) if r.subject == f"{to_sam} 7 days or less"]
    assert f"expires on {shown(expires, NEW_YORK)}." in week.text


async def test_a_pending_job_written_before_tutors_had_notices_is_the_students(
    gql: GraphQLClient, background: Background, inbox: Inbox, db: Database
) -> None:
    _, _, _, package = await lessons_with_package(gql, db, 2, later(60))
    payload: dict[str, Any] = {"package": str(pk(package))}
    async with db.transaction() as session:
        job = OutboxJob(
            kind="email.package_low", payload=payload, due_at=CLOCK(), created_at=CLOCK()
        )
        session.add(job)
    await background.run()
    assert subjects(inbox, SAM, LOW_TO_SAM) == ["2 sessions left with Ada"]
    assert subjects(inbox, ADA, LOW_TO_ADA) == []
