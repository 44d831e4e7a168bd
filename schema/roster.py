"""Students, seen by their tutors: the roster (Tutor.students) and a student's record with one
tutor (StudentStats, also Student.stats)."""

from __future__ import annotations

import datetime as dt
import uuid

import strawberry
from strawberry.types import Info

from domain import roster
from infra.db import present
from schema.agenda import checked
from schema.availability import Weekday
from schema.bookings import PageInfo
from schema.bounds import AtMost, PageOf
from schema.context import Context
from schema.people import Student

DEFAULT_PAGE = 20


@strawberry.type(
    description="Bookings at one weekday and wall-clock time (in the tutor's schedule zone)."
)
class FavoriteTime:
    weekday: Weekday
    time: dt.time
    count: int


@strawberry.type(
    description="One student's record with one tutor. Visible to that student, that tutor, and "
    "the tutor's organization owners and admins."
)
class StudentStats:
    completed_sessions: int
    upcoming_sessions: int
    no_shows_90_days: int
    cancellations_90_days: int = strawberry.field(
        description="Cancellations the student made (not the tutor's)."
    )
    flagged: bool = strawberry.field(
        description="3 or more no-shows or 3 or more cancellations in the last 90 days."
    )
    current_streak_weeks: int = strawberry.field(
        description="Consecutive weeks (Monday to Sunday in the tutor's zone) with at least one "
        "completed session, ending with the current week if it has one, else with the week "
        "before."
    )
    favorite_times: list[FavoriteTime] = strawberry.field(
        extensions=[AtMost(roster.FAVORITES_SHOWN)],
        description="The student's most booked weekday-and-times with this tutor (at least 2 "
        "bookings each), most booked first, at most 3.",
    )
    last_session_at: dt.datetime | None
    next_session_at: dt.datetime | None

    @classmethod
    def of(cls, stats: roster.Stats) -> StudentStats:
        return cls(
            completed_sessions=stats.completed,
            upcoming_sessions=stats.upcoming,
            no_shows_90_days=stats.no_shows,
            cancellations_90_days=stats.cancellations,
            flagged=stats.flagged,
            current_streak_weeks=stats.streak_weeks,
            favorite_times=[
                FavoriteTime(weekday=Weekday(f.weekday), time=f.time, count=f.count)
                for f in stats.favorites
            ],
            last_session_at=stats.last_session_at,
            next_session_at=stats.next_session_at,
        )


async def stats_of(
    info: Info[Context, None], student_id: uuid.UUID, tutor_id: uuid.UUID
) -> StudentStats | None:
    """The record through the request's loader; None for a viewer who may not see it."""
    found = await info.context.loaders.student_stats.load((student_id, tutor_id))
    return StudentStats.of(found) if found is not None else None


@strawberry.type
class TutorStudentEdge:
    cursor: str
    node: Student
    tutor_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The student's record with the tutor whose students these are.")
    async def stats(self, info: Info[Context, None]) -> StudentStats:
        # The roster is listed to those who may see its tutor's records only.
        return present(await stats_of(info, self.node.pk, self.tutor_id), "student's record")


@strawberry.type
class TutorStudentConnection:
    edges: list[TutorStudentEdge] = strawberry.field(
        extensions=[PageOf(roster.MAX_PAGE, DEFAULT_PAGE)]
    )
    page_info: PageInfo
    total_count: int


async def students_of(
    info: Info[Context, None],
    tutor_id: uuid.UUID,
    search: str | None,
    first: int | None,
    after: str | None,
) -> TutorStudentConnection:
    context = info.context
    found = await checked(
        roster.tutor_students(
            context.db,
            context.identity,
            tutor_id,
            search,
            first if first is not None else DEFAULT_PAGE,
            after,
        )
    )
    edges = [
        TutorStudentEdge(
            cursor=roster.encode_cursor(s), node=Student.from_row(s), tutor_id=tutor_id
        )
        for s in found.students
    ]
    return TutorStudentConnection(
        edges=edges,
        page_info=PageInfo.of([e.cursor for e in edges], found.has_next, found.has_previous),
        total_count=found.total,
    )
