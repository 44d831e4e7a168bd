"""Reviews: the public Review, a tutor's reviews as a connection, and the review mutations'
inputs and results."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import strawberry
from strawberry.types import Info

from domain import reviews
from infra.db import present
from models import Review as ReviewRow
from schema.agenda import checked
from schema.bookings import PageInfo
from schema.bounds import PageOf
from schema.context import Context
from schema.errors import InvalidInput, NotFound, PolicyViolation
from schema.node import Node
from schema.services import Service

DEFAULT_PAGE = 20


@strawberry.type(
    description="A student's review of a completed session: public, with the tutor's reply."
)
class Review(Node):
    rating: int = strawberry.field(description="1 to 5.")
    comment: str | None
    author_name: str = strawberry.field(
        description="How the reviewer is shown publicly: first name and the initial of the last."
    )
    created_at: dt.datetime
    reply: str | None
    service_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: ReviewRow) -> Review:
        return cls(
            pk=row.id,
            rating=row.rating,
            comment=row.comment,
            author_name=row.author_name,
            created_at=row.created_at,
            reply=row.reply,
            service_id=row.service_id,
        )

    @strawberry.field
    async def service(self, info: Info[Context, None]) -> Service:
        found = await info.context.loaders.service.load(self.service_id)
        return Service.from_info(present(found, "review's service"))


@strawberry.type
class ReviewEdge:
    cursor: str
    node: Review


@strawberry.type
class ReviewConnection:
    edges: list[ReviewEdge] = strawberry.field(extensions=[PageOf(reviews.MAX_PAGE, DEFAULT_PAGE)])
    page_info: PageInfo
    total_count: int


async def reviews_of(
    info: Info[Context, None], tutor_id: uuid.UUID, first: int | None, after: str | None
) -> ReviewConnection:
    found = await checked(
        reviews.tutor_reviews(
            info.context.db, tutor_id, first if first is not None else DEFAULT_PAGE, after
        )
    )
    edges = [
        ReviewEdge(cursor=reviews.encode_cursor(r), node=Review.from_row(r)) for r in found.reviews
    ]
    return ReviewConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=found.has_next,
            has_previous_page=found.has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=found.total,
    )


async def review_of_booking(info: Info[Context, None], booking_id: uuid.UUID) -> Review | None:
    row = await info.context.loaders.booking_review.load(booking_id)
    return Review.from_row(row) if row is not None else None


@strawberry.input
class SubmitReviewInput:
    booking_id: strawberry.ID | None = strawberry.field(
        default=None,
        description=(
            "A completed booking of the signed-in student; a guest gives the manageToken instead."
        ),
    )
    token: str | None = None
    rating: int
    comment: str | None = strawberry.field(
        default=None, description=f"Plain text, at most {reviews.MAX_COMMENT:,} characters."
    )


@strawberry.type
class ReviewSubmitted:
    review: Review


SubmitReviewResult = Annotated[
    ReviewSubmitted | InvalidInput | PolicyViolation | NotFound,
    strawberry.union("SubmitReviewResult"),
]


@strawberry.input
class ReplyToReviewInput:
    review_id: strawberry.ID
    reply: str = strawberry.field(
        description=f"Plain text, at most {reviews.MAX_REPLY:,} characters; replaces a reply."
    )


@strawberry.type
class ReviewReplied:
    review: Review


ReplyToReviewResult = Annotated[
    ReviewReplied | InvalidInput | NotFound, strawberry.union("ReplyToReviewResult")
]
