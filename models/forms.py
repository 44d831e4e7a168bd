"""Check-in forms: the questions a service asks before a session, and a booking's answers.

Questions are never deleted: one left out of a new form is retired (`retired_at`), so the
answers given to it keep their question.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, ForeignKey, Text, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.base import CreatedAt, enum_field, id_field


class QuestionType(StrEnum):
    """What a question takes (the GraphQL enum QuestionType is this class)."""

    TEXT = "TEXT"
    TEXTAREA = "TEXTAREA"
    SELECT = "SELECT"
    MULTI_SELECT = "MULTI_SELECT"
    CHECKBOX = "CHECKBOX"


class FormQuestion(SQLModel, table=True):
    __tablename__ = "form_questions"

    id: uuid.UUID = id_field()
    service_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid, ForeignKey("services.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    position: int
    prompt: str = Field(sa_type=Text)
    type: QuestionType = enum_field(QuestionType)
    # The choices of SELECT and MULTI_SELECT, in order; empty for the others.
    options: list[str] = Field(sa_column=Column(JSONB, nullable=False))
    required: bool = False
    retired_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    created_at: CreatedAt


class FormAnswer(SQLModel, table=True):
    """A booking's answer to one question: its values (one, or any number for MULTI_SELECT)."""

    __tablename__ = "form_answers"

    booking_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid, ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    question_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid,
            ForeignKey("form_questions.id", ondelete="CASCADE"),
            primary_key=True,
            nullable=False,
            index=True,
        )
    )
    values: list[str] = Field(sa_column=Column(JSONB, nullable=False))


class FormReminder(SQLModel, table=True):
    """A pending form's reminder was sent for this booking: never a second one."""

    __tablename__ = "form_reminders"

    booking_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid, ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    sent_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
