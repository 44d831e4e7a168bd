"""Check-in forms: the questions a service asks before a session, and a booking's answers.

`setServiceQuestions` replaces a service's form in order: a question given with its id is kept
(its past answers stay linked to it), one without is new, and one left out is retired (no longer
asked, still shown on the answers given to it). Answers come with the booking or later
(`domain/bookings/check_in.py`); both check them with `check_answers`, and the bookings package
stores them (`check_in.save_answers`), in the booking's own transaction or under its lock.

A booking's form is SUBMITTED once it was sent with every required question answered, PENDING
while the service asks questions and it was not, NONE when the service asks nothing
(`form_status`, the one definition of it). The emails it sets in motion are in `form_notices`.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, case, exists
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import services
from domain.errors import InvalidInput
from infra.auth import Identity
from infra.db import Database, present
from models import Booking, FormAnswer, FormQuestion, QuestionType

MAX_QUESTIONS = 20
MAX_PROMPT = 500
MAX_OPTIONS = 20
MAX_OPTION = 200
MAX_TEXT = {QuestionType.TEXT: 500, QuestionType.TEXTAREA: 5000}
CHOICES = (QuestionType.SELECT, QuestionType.MULTI_SELECT)
CHECKBOX_VALUES = ("true", "false")


class FormStatus(StrEnum):
    """Where a booking's check-in form stands (the GraphQL enum FormStatus is this class)."""

    NONE = "NONE"
    PENDING = "PENDING"
    SUBMITTED = "SUBMITTED"


@dataclass(frozen=True)
class QuestionInput:
    id: uuid.UUID | None  # None: a new question
    prompt: str
    type: QuestionType
    options: Sequence[str] | None = None
    required: bool = False


@dataclass(frozen=True)
class AnswerInput:
    question_id: uuid.UUID | None  # None: not a question id at all
    values: Sequence[str]


@dataclass(frozen=True)
class Checked:
    """Answers found valid: the values kept for each question answered, and the required
    questions left unanswered."""

    asks: bool
    values: dict[uuid.UUID, list[str]]
    missing: list[FormQuestion]

    @property
    def complete(self) -> bool:
        return self.asks and not self.missing


@dataclass(frozen=True)
class Answer:
    question: FormQuestion
    values: list[str]


# ---------------------------------------------------------------- the form


def _words(value: str) -> str:
    return " ".join(value.split())


def _check_question(question: QuestionInput, at: str) -> QuestionInput:
    prompt = _words(question.prompt)
    if not prompt or len(prompt) > MAX_PROMPT:
        raise InvalidInput(f"A prompt is 1 to {MAX_PROMPT} characters", f"{at}.prompt")
    given = list(question.options or [])
    if question.type not in CHOICES:
        if given:
            raise InvalidInput(f"A {question.type} question takes no options", f"{at}.options")
        return QuestionInput(question.id, prompt, question.type, [], question.required)
    if not given or len(given) > MAX_OPTIONS:
        raise InvalidInput(f"Give 1 to {MAX_OPTIONS} options", f"{at}.options")
    options: list[str] = []
    for index, value in enumerate(given):
        option = _words(value)
        if not option or len(option) > MAX_OPTION:
            raise InvalidInput(
                f"An option is 1 to {MAX_OPTION} characters", f"{at}.options[{index}]"
            )
        if option in options:
            raise InvalidInput(f"{option!r} is offered twice", f"{at}.options[{index}]")
        options.append(option)
    return QuestionInput(question.id, prompt, question.type, options, question.required)


def check_questions(questions: Sequence[QuestionInput]) -> list[QuestionInput]:
    if len(questions) > MAX_QUESTIONS:
        raise InvalidInput(f"At most {MAX_QUESTIONS} questions", "input.questions")
    return [_check_question(q, f"input.questions[{i}]") for i, q in enumerate(questions)]


async def set_service_questions(
    db: Database,
    identity: Identity,
    service_id: uuid.UUID,
    questions: Sequence[QuestionInput],
    now: datetime,
) -> services.ServiceInfo:
    """The service's form replaced, by those who may change the service (its tutors, its
    organization's owners and admins)."""
    checked = check_questions(questions)
    async with db.transaction() as session:
        await services.lock_for_change(session, identity, service_id)
        query = select(FormQuestion).where(FormQuestion.service_id == service_id)
        existing = {q.id: q for q in await session.exec(query)}
        kept: set[uuid.UUID] = set()
        for position, question in enumerate(checked):
            at = f"input.questions[{position}]"
            if question.id is None:
                row = FormQuestion(
                    service_id=service_id,
                    type=question.type,
                    position=0,
                    prompt="",
                    options=[],
                    created_at=now,
                )
            elif (found := existing.get(question.id)) is None or question.id in kept:
                raise InvalidInput(
                    "Not one of this service's questions, or named twice", f"{at}.id"
                )
            elif found.type != question.type:
                # Its past answers were given to the old type: ask a new question instead.
                raise InvalidInput("A kept question keeps its type", f"{at}.type")
            else:
                row, found.retired_at = found, None
                kept.add(found.id)
            row.position, row.prompt, row.required = position, question.prompt, question.required
            row.options = list(question.options or [])
            session.add(row)
        for row in existing.values():
            if row.id not in kept and row.retired_at is None:
                row.retired_at = now
                session.add(row)
    return present(await services.get_service(db, service_id), "service")


async def asked(session: AsyncSession, service_id: uuid.UUID) -> list[FormQuestion]:
    """The questions the service asks now, in order."""
    return (await questions_of(session, [service_id])).get(service_id, [])


async def questions_of(
    session: AsyncSession, service_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[FormQuestion]]:
    found: dict[uuid.UUID, list[FormQuestion]] = defaultdict(list)
    for row in await session.exec(
        select(FormQuestion)
        .where(
            col(FormQuestion.service_id).in_(service_ids), col(FormQuestion.retired_at).is_(None)
        )
        .order_by(col(FormQuestion.position))
    ):
        found[row.service_id].append(row)
    return found


async def forms_of_services(
    db: Database, service_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[FormQuestion]]:
    async with db.session() as session:
        return await questions_of(session, service_ids)


async def questions_by_id(db: Database, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, FormQuestion]:
    """Questions, retired ones too: a form is as public as its service."""
    async with db.session() as session:
        query = select(FormQuestion).where(col(FormQuestion.id).in_(ids))
        return {q.id: q for q in await session.exec(query)}


# ---------------------------------------------------------------- answers


def _values(question: FormQuestion, values: Sequence[str], at: str) -> list[str]:
    """The values kept for one answer ([] when left unanswered), or InvalidInput at `at`."""
    kind = question.type
    if kind in MAX_TEXT:
        if len(values) > 1:
            raise InvalidInput("Give one text", at)
        text = values[0].strip() if values else ""
        if len(text) > MAX_TEXT[kind]:
            raise InvalidInput(f"At most {MAX_TEXT[kind]} characters", at)
        return [text] if text else []
    if kind == QuestionType.CHECKBOX:
        if len(values) > 1 or (values and values[0] not in CHECKBOX_VALUES):
            raise InvalidInput('A checkbox is answered "true" or "false"', at)
        return list(values)
    if len(values) > 1 and kind == QuestionType.SELECT:
        raise InvalidInput("Choose one option", at)
    if len(set(values)) != len(values):
        raise InvalidInput("An option is chosen twice", at)
    if any(value not in question.options for value in values):
        raise InvalidInput("Choose among the question's options", at)
    return list(values)


def check_answers(questions: Sequence[FormQuestion], answers: Sequence[AnswerInput]) -> Checked:
    """The one check of answers, at booking and on submission: each names a question asked, at
    most once, with values its type takes; a failure names `input.answers[i]`."""
    if len(answers) > MAX_QUESTIONS:
        raise InvalidInput(f"At most {MAX_QUESTIONS} answers", "input.answers")
    by_id = {q.id: q for q in questions}
    values: dict[uuid.UUID, list[str]] = {}
    seen: set[uuid.UUID] = set()
    for index, answer in enumerate(answers):
        at = f"input.answers[{index}]"
        question = by_id.get(answer.question_id) if answer.question_id else None
        if question is None:
            raise InvalidInput("Not a question this service asks", at)
        if question.id in seen:
            raise InvalidInput("This question is answered twice", at)
        seen.add(question.id)
        if kept := _values(question, answer.values, at):
            values[question.id] = kept
    missing = [q for q in questions if q.required and q.id not in values]
    return Checked(bool(questions), values, missing)


async def at_booking(
    session: AsyncSession, service_id: uuid.UUID, answers: Sequence[AnswerInput] | None
) -> Checked | None:
    """Answers given with a booking: checked, but required ones may be missing (PENDING)."""
    if answers is None:
        return None
    return check_answers(await asked(session, service_id), answers)


async def submission(
    session: AsyncSession, service_id: uuid.UUID, answers: Sequence[AnswerInput]
) -> Checked:
    """Answers sent on their own: a submission is complete, or refused."""
    questions = await asked(session, service_id)
    if not questions:
        raise InvalidInput("This service asks no questions", "input.answers")
    checked = check_answers(questions, answers)
    if checked.missing:
        raise InvalidInput(
            f"Answer the required question {checked.missing[0].prompt!r}", "input.answers"
        )
    return checked


async def answers_of(
    session: AsyncSession, booking_ids: Sequence[uuid.UUID], *where: ColumnElement[bool]
) -> dict[uuid.UUID, list[Answer]]:
    """Each booking's answers in the form's order (retired questions where they stood), of
    bookings matching `where` (the caller's access, for a viewer)."""
    found: dict[uuid.UUID, list[Answer]] = defaultdict(list)
    for answer, question in await session.exec(
        select(FormAnswer, FormQuestion)
        .join(FormQuestion, col(FormQuestion.id) == FormAnswer.question_id)
        .join(Booking, col(Booking.id) == FormAnswer.booking_id)
        .where(col(FormAnswer.booking_id).in_(booking_ids), *where)
        # Where a retired question stood, ahead of one moved there since: the questions of one
        # save share its `now`, so creation time alone does not tell them apart.
        .order_by(
            col(FormQuestion.position),
            col(FormQuestion.created_at),
            col(FormQuestion.retired_at).asc().nulls_last(),
        )
    ):
        found[answer.booking_id].append(Answer(question, list(answer.values)))
    return found


def form_status() -> ColumnElement[Any]:
    """A booking's FormStatus, as SQL (lists, the CSV export and the reminder sweep ask it)."""
    asks = exists().where(
        col(FormQuestion.service_id) == Booking.service_id, col(FormQuestion.retired_at).is_(None)
    )
    return case(
        (col(Booking.form_submitted_at).is_not(None), FormStatus.SUBMITTED.value),
        (asks, FormStatus.PENDING.value),
        else_=FormStatus.NONE.value,
    )


async def statuses(db: Database, booking_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, FormStatus]:
    async with db.session() as session:
        query = select(Booking.id, form_status()).where(col(Booking.id).in_(booking_ids))
        return {key: FormStatus(status) for key, status in await session.exec(query)}
