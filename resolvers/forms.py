"""Check-in forms: a service's questions set by those who may change it, a booking's answers
submitted by its student or guest."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import strawberry
from strawberry.types import Info

from domain import bookings, forms
from domain.bookings import Caller
from domain.errors import InvalidInput
from domain.services import ServiceInfo
from models import Booking as BookingRow
from resolvers.common import mutate, parse_id
from schema.bookings import Booking
from schema.context import Context
from schema.forms import (
    BookingFormSubmitted,
    FormAnswerInput,
    FormQuestion,
    ServiceQuestionsSaved,
    SetServiceQuestionsInput,
    SetServiceQuestionsResult,
    SubmitBookingFormInput,
    SubmitBookingFormResult,
)
from schema.node import decode_id_of
from schema.services import Service


def answers_from(inputs: Sequence[FormAnswerInput]) -> list[forms.AnswerInput]:
    """As given: a question id that is not one is left for the one check of answers to name
    (`forms.check_answers`, `input.answers[i]`)."""
    return [
        forms.AnswerInput(decode_id_of(a.question_id, "FormQuestion"), a.values) for a in inputs
    ]


async def question_by_pk(info: Info[Context, None], pk: uuid.UUID) -> FormQuestion | None:
    row = await info.context.loaders.question.load(pk)
    return FormQuestion.from_row(row) if row is not None else None


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description=(
            "Replace a service's check-in form, in order: its tutors may, and its "
            "organization's owners and admins."
        )
    )
    async def set_service_questions(
        self, info: Info[Context, None], input: SetServiceQuestionsInput
    ) -> SetServiceQuestionsResult:
        identity = info.context.require_identity()

        async def work() -> ServiceInfo:
            questions = [
                forms.QuestionInput(
                    id=parse_id(q.id, "FormQuestion", f"input.questions[{i}].id")
                    if q.id is not None
                    else None,
                    prompt=q.prompt,
                    type=q.type,
                    options=q.options,
                    required=bool(q.required),
                )
                for i, q in enumerate(input.questions)
            ]
            return await forms.set_service_questions(
                info.context.db,
                identity,
                parse_id(input.service_id, "Service", "input.serviceId"),
                questions,
                info.context.now(),
            )

        return await mutate(
            work(), lambda found: ServiceQuestionsSaved(service=Service.from_info(found))
        )

    @strawberry.mutation(
        description=(
            "Answer a booking's check-in form, every required question, until the session "
            "starts; a later submission replaces the earlier one."
        )
    )
    async def submit_booking_form(
        self, info: Info[Context, None], input: SubmitBookingFormInput
    ) -> SubmitBookingFormResult:
        async def work() -> BookingRow:
            if input.booking_id is None and not input.token:
                raise InvalidInput("Give bookingId, or the guest's token", "input.bookingId")
            return await bookings.submit_booking_form(
                info.context.db,
                Caller(info.context.identity, input.token),
                parse_id(input.booking_id, "Booking", "input.bookingId")
                if input.booking_id is not None
                else None,
                answers_from(input.answers),
                info.context.now(),
            )

        def shape(row: BookingRow) -> BookingFormSubmitted:
            # A guest who found it by token sees the answers they sent.
            token = input.token if input.booking_id is None else None
            return BookingFormSubmitted(booking=Booking.from_row(row, token=token))

        return await mutate(work(), shape)
