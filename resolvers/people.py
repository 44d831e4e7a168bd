"""Viewer, tutors and students."""

from __future__ import annotations

from uuid import UUID

import strawberry
from strawberry.types import Info

from domain import bookings, ics, people
from resolvers.common import mutate
from schema.context import Context
from schema.node import decode_id_of
from schema.people import (
    CalendarFeedRotated,
    CreateTutorProfileInput,
    CreateTutorProfileResult,
    RotateCalendarFeedResult,
    Student,
    Tutor,
    TutorProfileCreated,
    TutorProfileUpdated,
    UpdateTutorProfileInput,
    UpdateTutorProfileResult,
    Viewer,
)


def given(value: str | None) -> str | None:
    """An optional input's change: None when left out (keep it), "" when null (clear it)."""
    return None if value is strawberry.UNSET else value or ""


async def tutor_by_pk(info: Info[Context, None], pk: UUID) -> Tutor | None:
    row = await people.get_tutor(info.context.db, pk)
    return Tutor.from_row(row) if row else None


async def student_by_pk(info: Info[Context, None], pk: UUID) -> Student | None:
    context = info.context
    row = await bookings.visible_student(context.db, context.identity, pk, context.now())
    return Student.from_row(row) if row else None


@strawberry.type
class Query:
    @strawberry.field
    def viewer(self, info: Info[Context, None]) -> Viewer:
        return Viewer(identity=info.context.identity)

    @strawberry.field
    async def tutor(self, info: Info[Context, None], id: strawberry.ID) -> Tutor | None:
        pk = decode_id_of(id, "Tutor")
        return await tutor_by_pk(info, pk) if pk else None


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_tutor_profile(
        self, info: Info[Context, None], input: CreateTutorProfileInput
    ) -> CreateTutorProfileResult:
        identity = info.context.require_identity()
        work = people.create_tutor_profile(
            info.context.db,
            identity,
            input.display_name,
            input.time_zone,
            info.context.now(),
            input.email,
        )
        return await mutate(work, lambda row: TutorProfileCreated(tutor=Tutor.from_row(row)))

    @strawberry.mutation
    async def update_tutor_profile(
        self, info: Info[Context, None], input: UpdateTutorProfileInput
    ) -> UpdateTutorProfileResult:
        identity = info.context.require_identity()
        changes = people.TutorChanges(
            display_name=input.display_name,
            time_zone=input.time_zone,
            email=input.email or None,
            clear_email=input.email is None,
            low_balance_threshold=input.low_balance_threshold,
            bio=given(input.bio),
            avatar_url=given(input.avatar_url),
            embed_origins=None
            if input.embed_origins is strawberry.UNSET
            else input.embed_origins or [],
        )
        work = people.update_tutor_profile(info.context.db, identity, changes)
        return await mutate(work, lambda row: TutorProfileUpdated(tutor=Tutor.from_row(row)))

    @strawberry.mutation(description="A new secret for the calendar feed; the old URL stops.")
    async def rotate_calendar_feed(self, info: Info[Context, None]) -> RotateCalendarFeedResult:
        identity = info.context.require_identity()
        context = info.context
        work = ics.rotate_feed(context.db, identity.sub)
        return await mutate(
            work,
            lambda token: CalendarFeedRotated(
                url=ics.feed_url(context.settings.public_base_url, token)
            ),
        )
