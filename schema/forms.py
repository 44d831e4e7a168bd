"""Check-in forms: a service's questions, a booking's answers, and the mutations that set them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from domain.forms import MAX_OPTIONS, Answer, FormStatus
from models import FormQuestion as QuestionRow
from models import QuestionType
from schema.bounds import AtMost
from schema.errors import InvalidInput, NotFound, PolicyViolation
from schema.node import Node

if TYPE_CHECKING:
    from schema.bookings import Booking
    from schema.services import Service

# The GraphQL enums are the domain's own: one vocabulary.
strawberry.enum(QuestionType)
strawberry.enum(FormStatus)


@strawberry.type(
    description="A question a tutor asks before a session of a service (a check-in form)."
)
class FormQuestion(Node):
    prompt: str
    type: QuestionType
    options: list[str] = strawberry.field(
        description="The choices, for SELECT and MULTI_SELECT; empty otherwise.",
        extensions=[AtMost(MAX_OPTIONS)],
    )
    required: bool

    @classmethod
    def from_row(cls, row: QuestionRow) -> FormQuestion:
        return cls(
            pk=row.id,
            prompt=row.prompt,
            type=row.type,
            options=list(row.options),
            required=row.required,
        )


@strawberry.type
class FormAnswer:
    question: FormQuestion
    values: list[str] = strawberry.field(
        description=(
            'One value for TEXT, TEXTAREA and SELECT; any number for MULTI_SELECT; "true" or '
            '"false" for CHECKBOX.'
        ),
        extensions=[AtMost(MAX_OPTIONS)],
    )

    @classmethod
    def from_answer(cls, answer: Answer) -> FormAnswer:
        return cls(question=FormQuestion.from_row(answer.question), values=answer.values)


@strawberry.input
class FormQuestionInput:
    id: strawberry.ID | None = strawberry.field(
        default=None,
        description=(
            "An existing question to keep (its past answers stay linked to it); omit for a new "
            "question."
        ),
    )
    prompt: str
    type: QuestionType
    options: list[str] | None = None
    required: bool | None = False


@strawberry.input
class SetServiceQuestionsInput:
    service_id: strawberry.ID
    questions: list[FormQuestionInput] = strawberry.field(
        description=(
            "The whole form, in display order. Existing questions left out are retired: no "
            "longer asked, still shown on past answers."
        )
    )


@strawberry.type
class ServiceQuestionsSaved:
    service: Annotated[Service, strawberry.lazy("schema.services")]


SetServiceQuestionsResult = Annotated[
    ServiceQuestionsSaved | InvalidInput | NotFound, strawberry.union("SetServiceQuestionsResult")
]


@strawberry.input
class FormAnswerInput:
    question_id: strawberry.ID
    values: list[str]


@strawberry.input
class SubmitBookingFormInput:
    booking_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="A signed-in student gives bookingId; a guest gives the manageToken instead.",
    )
    token: str | None = None
    answers: list[FormAnswerInput]


@strawberry.type
class BookingFormSubmitted:
    booking: Annotated[Booking, strawberry.lazy("schema.bookings")]


SubmitBookingFormResult = Annotated[
    BookingFormSubmitted | InvalidInput | PolicyViolation | NotFound,
    strawberry.union("SubmitBookingFormResult"),
]
