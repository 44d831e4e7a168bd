"""Tutors, students and the viewer."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from domain import calendar_sync, ics, people, profiles, schedule_requests, waitlist, webhooks
from infra.auth import Identity
from infra.db import present
from models import Student as StudentRow
from models import Tutor as TutorRow
from schema.bounds import AtMost
from schema.context import Context
from schema.errors import InvalidInput, NotFound
from schema.node import Node, decode_id_of, encode_id
from schema.scalars import TimeZone

if TYPE_CHECKING:
    from schema.agenda import TutorAgenda
    from schema.availability import Schedule
    from schema.organizations import Organization
    from schema.packages import Package, PackageConnection, PackageTemplate, TutorPackageFilter
    from schema.reviews import ReviewConnection
    from schema.roster import StudentStats, TutorStudentConnection
    from schema.schedule_requests import ScheduleRequest
    from schema.services import Service
    from schema.waitlist import WaitlistEntry
    from schema.webhooks import WebhookEndpoint


@strawberry.type
class Tutor(Node):
    # A plain value, not Node's resolver: a slot listing names its tutor in every slot.
    id: strawberry.ID  # type: ignore[assignment]  # Node's field, as a value
    display_name: str
    time_zone: TimeZone

    user_id: strawberry.Private[str]
    row: strawberry.Private[TutorRow]

    @classmethod
    def from_row(cls, row: TutorRow) -> Tutor:
        return cls(
            pk=row.id,
            id=encode_id("Tutor", row.id),
            user_id=row.user_id,
            row=row,
            display_name=row.display_name,
            time_zone=TimeZone(row.time_zone),
        )

    def _own(self, info: Info[Context, None]) -> bool:
        identity = info.context.identity
        return identity is not None and identity.sub == self.user_id

    @strawberry.field(description="Public, plain text (at most 2,000 characters).")
    def bio(self) -> str | None:
        return self.row.bio

    @strawberry.field(description="Public, an https URL.")
    def avatar_url(self) -> str | None:
        return self.row.avatar_url

    @strawberry.field(description="Distinct students with at least one completed session. Public.")
    async def students_taught(self, info: Info[Context, None]) -> int:
        return await info.context.loaders.students_taught.load(self.pk)

    @strawberry.field(
        description="Origins (https://school.example) allowed to embed this tutor's booking "
        "widget, normalized. Only the tutor; empty for others.",
        extensions=[AtMost(profiles.MAX_ORIGINS)],
    )
    def embed_origins(self, info: Info[Context, None]) -> list[str]:
        return list(self.row.embed_origins) if self._own(info) else []

    @strawberry.field(description="Where booking emails go. The tutor's own; null for others.")
    def email(self, info: Info[Context, None]) -> str | None:
        return self.row.email if self._own(info) else None

    @strawberry.field(
        description="A student's package at or below this balance gets a low-balance email. "
        "The tutor's own; null for others."
    )
    def low_balance_threshold(self, info: Info[Context, None]) -> int | None:
        return self.row.low_balance_threshold if self._own(info) else None

    @strawberry.field(
        description="The calendar bookings are mirrored into: a Google calendar's id as given "
        "to connectGoogleCalendar, or `outlook:` then the Outlook calendar's id "
        "(connectOutlookCalendar; `outlook:default` is the user's default calendar). One at a "
        "time. The tutor's own; null for others or when none is connected."
    )
    async def connected_calendar(self, info: Info[Context, None]) -> str | None:
        return await calendar_sync.connected(info.context.db, self.pk) if self._own(info) else None

    @strawberry.field(
        description="A secret calendar feed (iCalendar) of the tutor's bookings for Google, "
        "Apple or Outlook to subscribe to (use webcal:// in place of https://). The tutor's "
        "own; null for others. rotateCalendarFeed replaces it."
    )
    def calendar_feed_url(self, info: Info[Context, None]) -> str | None:
        if not self._own(info):
            return None
        return ics.feed_url(info.context.settings.public_base_url, self.row.calendar_feed_token)

    @strawberry.field(
        description="Null when the tutor works alone; for viewers outside the tutor's "
        "organization, null too."
    )
    async def organization(
        self, info: Info[Context, None]
    ) -> Annotated[Organization, strawberry.lazy("schema.organizations")] | None:
        from schema.organizations import visible_organization

        member = await info.context.loaders.membership.load(self.pk)
        return await visible_organization(info, member.organization_id) if member else None

    @strawberry.field(
        description="The tutor's own calendar over a range (at most 31 days): for the tutor "
        "and their organization's owners and admins."
    )
    async def agenda(
        self,
        info: Info[Context, None],
        from_: Annotated[dt.datetime, strawberry.argument(name="from")],
        to: dt.datetime,
        time_zone: TimeZone,
    ) -> Annotated[TutorAgenda, strawberry.lazy("schema.agenda")] | None:
        from domain.agenda import tutor_agenda
        from schema.agenda import TutorAgenda, checked

        context = info.context
        found = await checked(
            tutor_agenda(context.db, context.identity, self.pk, from_, to, context.now())
        )
        return TutorAgenda.of(found, time_zone) if found is not None else None

    @strawberry.field(extensions=[AtMost(100)])
    async def services(
        self, info: Info[Context, None]
    ) -> list[Annotated[Service, strawberry.lazy("schema.services")]]:
        from schema.services import Service

        return [
            Service.from_info(s) for s in await info.context.loaders.services_of_tutor.load(self.pk)
        ]

    @strawberry.field(
        description="The package templates the tutor offers now.", extensions=[AtMost(100)]
    )
    async def package_templates(
        self, info: Info[Context, None]
    ) -> list[Annotated[PackageTemplate, strawberry.lazy("schema.packages")]]:
        from schema.packages import PackageTemplate

        rows = await info.context.loaders.templates_of_tutor.load(self.pk)
        return [PackageTemplate.from_row(r) for r in rows]

    @strawberry.field(
        description="The tutor's own schedules, for the tutor and (read only) their "
        "organization's owners and admins; empty for everyone else.",
        extensions=[AtMost(20)],
    )
    async def schedules(
        self, info: Info[Context, None]
    ) -> list[Annotated[Schedule, strawberry.lazy("schema.availability")]]:
        from schema.availability import Schedule

        if not await info.context.loaders.viewer_manages.load(self.pk):
            return []
        return [
            Schedule.from_row(s)
            for s in await info.context.loaders.schedules_of_tutor.load(self.pk)
        ]

    @strawberry.field(
        description="Students who booked or hold a package with this tutor (with the "
        "organization's, for owners and admins), each with their record. Only the tutor and "
        "their organization's owners and admins; empty for others."
    )
    async def students(
        self,
        info: Info[Context, None],
        search: Annotated[
            str | None, strawberry.argument(description="Part of a name or email, any case.")
        ] = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> Annotated[TutorStudentConnection, strawberry.lazy("schema.roster")]:
        from schema.roster import students_of

        return await students_of(info, self.pk, search, first, after)

    @strawberry.field(
        description="Every package of the tutor's students (the organization's, for owners and "
        "admins), soonest expiry first (never-expiring last). Only the tutor and their "
        "organization's owners and admins; empty for others."
    )
    async def packages(
        self,
        info: Info[Context, None],
        filter: Annotated[TutorPackageFilter, strawberry.lazy("schema.packages")] | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> Annotated[PackageConnection, strawberry.lazy("schema.packages")]:
        from schema.packages import packages_of

        return await packages_of(info, self.pk, filter, first, after)

    @strawberry.field(
        description="Only the tutor; empty for others.",
        extensions=[AtMost(webhooks.MAX_ENDPOINTS)],
    )
    async def webhook_endpoints(
        self, info: Info[Context, None]
    ) -> list[Annotated[WebhookEndpoint, strawberry.lazy("schema.webhooks")]]:
        from schema.webhooks import own_endpoints

        return await own_endpoints(info, self.pk) if self._own(info) else []

    @strawberry.field(
        description="Students waiting for this tutor's time (WAITING and OFFERED, oldest "
        f"first, at most {waitlist.MAX_SHOWN}), their own and those open to any tutor of a "
        "service they offer. Only the tutor and organization owners and admins; empty for others.",
        extensions=[AtMost(waitlist.MAX_SHOWN)],
    )
    async def waitlist(
        self, info: Info[Context, None]
    ) -> list[Annotated[WaitlistEntry, strawberry.lazy("schema.waitlist")]]:
        from schema.waitlist import of_tutor

        return await of_tutor(info, self.pk)

    @strawberry.field(description="Mean of review ratings, 1 to 5; null without reviews. Public.")
    async def rating(self, info: Info[Context, None]) -> float | None:
        return (await info.context.loaders.review_stats.load(self.pk)).rating

    @strawberry.field
    async def review_count(self, info: Info[Context, None]) -> int:
        return (await info.context.loaders.review_stats.load(self.pk)).count

    @strawberry.field(description="Newest first. Public.")
    async def reviews(
        self, info: Info[Context, None], first: int | None = 20, after: str | None = None
    ) -> Annotated[ReviewConnection, strawberry.lazy("schema.reviews")]:
        from schema.reviews import reviews_of

        return await reviews_of(info, self.pk, first, after)


@strawberry.type
class Student(Node):
    display_name: str
    email: str
    time_zone: TimeZone | None

    @strawberry.field(
        description=(
            "Set when the student has 3 or more no-shows or 3 or more cancellations in the last "
            "90 days. Only that student's tutors see it; null for everyone else."
        )
    )
    async def attendance_flagged(self, info: Info[Context, None]) -> bool | None:
        return await info.context.loaders.attendance_flag.load(self.pk)

    @strawberry.field(
        description="The student's record with one tutor; null for viewers who may not see it."
    )
    async def stats(
        self, info: Info[Context, None], tutor_id: strawberry.ID
    ) -> Annotated[StudentStats, strawberry.lazy("schema.roster")] | None:
        from schema.roster import stats_of

        tutor = decode_id_of(tutor_id, "Tutor")
        return await stats_of(info, self.pk, tutor) if tutor is not None else None

    @strawberry.field(
        description="E.164. For the student and their tutors (those they booked or hold a "
        "package with, and those tutors' organization's owners and admins); null for others."
    )
    async def phone(self, info: Info[Context, None]) -> str | None:
        return await info.context.loaders.student_phone.load(self.pk)

    @classmethod
    def from_row(cls, row: StudentRow) -> Student:
        zone = TimeZone(row.time_zone) if row.time_zone else None
        return cls(pk=row.id, display_name=row.display_name, email=row.email, time_zone=zone)


@strawberry.type
class Viewer:
    identity: strawberry.Private[Identity | None]

    @strawberry.field(description="Null when the request carries no valid token.")
    def user_id(self) -> strawberry.ID | None:
        return strawberry.ID(self.identity.sub) if self.identity else None

    @strawberry.field
    async def tutor(self, info: Info[Context, None]) -> Tutor | None:
        if self.identity is None:
            return None
        row = await people.get_tutor_of_user(info.context.db, self.identity.sub)
        return Tutor.from_row(row) if row else None

    @strawberry.field
    async def student(self, info: Info[Context, None]) -> Student | None:
        if self.identity is None:
            return None
        viewer = await people.viewer_student(info.context.db, self.identity, info.context.now())
        return Student.from_row(viewer)

    @strawberry.field(
        description="The viewer's own packages, as a student.", extensions=[AtMost(100)]
    )
    async def packages(
        self, info: Info[Context, None]
    ) -> list[Annotated[Package, strawberry.lazy("schema.packages")]]:
        from domain.packages import packages_of_user
        from schema.packages import Package

        if self.identity is None:
            return []
        return [Package.from_row(p) for p in await packages_of_user(info.context.db, self.identity)]

    @strawberry.field(
        description="The viewer's open and assigned schedule-later requests, as a student.",
        extensions=[AtMost(schedule_requests.MAX_PENDING)],
    )
    async def schedule_requests(
        self, info: Info[Context, None]
    ) -> list[Annotated[ScheduleRequest, strawberry.lazy("schema.schedule_requests")]]:
        from schema.schedule_requests import ScheduleRequest

        if self.identity is None:
            return []
        rows = await schedule_requests.pending_of_user(info.context.db, self.identity)
        return [ScheduleRequest.from_row(r) for r in rows]

    @strawberry.field(
        description="The viewer's waitlist entries, as a student (waiting and offered).",
        extensions=[AtMost(waitlist.MAX_ACTIVE)],
    )
    async def waitlist(
        self, info: Info[Context, None]
    ) -> list[Annotated[WaitlistEntry, strawberry.lazy("schema.waitlist")]]:
        from schema.waitlist import of_viewer

        return await of_viewer(info)


@strawberry.input
class CreateTutorProfileInput:
    display_name: str
    time_zone: TimeZone
    email: str | None = strawberry.field(
        default=None, description="Where booking emails and the daily summary go."
    )


@strawberry.input(
    description="Only the fields given change; email, bio, avatarUrl: null (or empty) removes "
    "it; embedOrigins: null or [] removes them all."
)
class UpdateTutorProfileInput:
    display_name: str | None = None
    time_zone: TimeZone | None = None
    email: str | None = strawberry.UNSET
    low_balance_threshold: int | None = strawberry.field(
        default=None,
        description="Email a student whose package falls to this balance or below (default 2).",
    )
    bio: str | None = strawberry.field(
        default=strawberry.UNSET, description="Public, plain text, at most 2,000 characters."
    )
    avatar_url: str | None = strawberry.field(
        default=strawberry.UNSET, description="Public, an https URL (at most 500 characters)."
    )
    embed_origins: list[str] | None = strawberry.field(
        default=strawberry.UNSET,
        description="Origins (https://school.example) allowed to embed this tutor's booking "
        "widget: at most 20, each scheme, host and port only (https; http only for "
        "localhost), no wildcards. Stored normalized (lower-case host, no default port).",
    )


@strawberry.type
class TutorProfileUpdated:
    tutor: Tutor


UpdateTutorProfileResult = Annotated[
    TutorProfileUpdated | InvalidInput | NotFound, strawberry.union("UpdateTutorProfileResult")
]


@strawberry.type
class CalendarFeedRotated:
    "The new feed URL; the old one stops working."

    url: str


RotateCalendarFeedResult = Annotated[
    CalendarFeedRotated | NotFound, strawberry.union("RotateCalendarFeedResult")
]


@strawberry.type
class TutorProfileCreated:
    tutor: Tutor


CreateTutorProfileResult = Annotated[
    TutorProfileCreated | InvalidInput, strawberry.union("CreateTutorProfileResult")
]


async def tutor_of(info: Info[Context, None], tutor_id: uuid.UUID) -> Tutor:
    """A related object's tutor, through the request's loader."""
    found = await info.context.loaders.tutor.load(tutor_id)
    return Tutor.from_row(present(found, "tutor"))


async def student_of(info: Info[Context, None], student_id: uuid.UUID) -> Student:
    """A related object's student, through the request's loader."""
    found = await info.context.loaders.student.load(student_id)
    return Student.from_row(present(found, "student"))
