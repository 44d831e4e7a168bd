"""Reviews: submitted by a booking's student or guest, answered by the tutor (or an owner or
admin of their organization); read by anyone."""

from __future__ import annotations

import uuid

import strawberry
from strawberry.types import Info

from domain import bookings, reviews
from domain.errors import InvalidInput
from models import Review as ReviewRow
from resolvers.common import mutate, parse_id
from schema.context import Context
from schema.reviews import (
    ReplyToReviewInput,
    ReplyToReviewResult,
    Review,
    ReviewReplied,
    ReviewSubmitted,
    SubmitReviewInput,
    SubmitReviewResult,
)


async def review_by_pk(info: Info[Context, None], pk: uuid.UUID) -> Review | None:
    row = await info.context.loaders.review.load(pk)
    return Review.from_row(row) if row is not None else None


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description=(
            "Review a completed session, once, within 30 days of its end: its student, or the "
            "guest with the manage token."
        )
    )
    async def submit_review(
        self, info: Info[Context, None], input: SubmitReviewInput
    ) -> SubmitReviewResult:
        async def work() -> ReviewRow:
            if input.booking_id is None and not input.token:
                raise InvalidInput("Give bookingId, or the guest's token", "input.bookingId")
            return await reviews.submit_review(
                info.context.db,
                bookings.Caller(info.context.identity, input.token),
                parse_id(input.booking_id, "Booking", "input.bookingId")
                if input.booking_id is not None
                else None,
                input.rating,
                input.comment,
                info.context.now(),
            )

        return await mutate(work(), lambda row: ReviewSubmitted(review=Review.from_row(row)))

    @strawberry.mutation(
        description=(
            "Answer a review publicly (a second reply replaces the first): the tutor, or an "
            "owner or admin of their organization."
        )
    )
    async def reply_to_review(
        self, info: Info[Context, None], input: ReplyToReviewInput
    ) -> ReplyToReviewResult:
        identity = info.context.require_identity()

        async def work() -> ReviewRow:
            return await reviews.reply_to_review(
                info.context.db,
                identity,
                parse_id(input.review_id, "Review", "input.reviewId"),
                input.reply,
                info.context.now(),
            )

        return await mutate(work(), lambda row: ReviewReplied(review=Review.from_row(row)))
