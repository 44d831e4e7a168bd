"""check-in forms: a service's questions, a booking's answers, its submission and reminder

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "form_questions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("options", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_form_questions_service_id"), "form_questions", ["service_id"], unique=False
    )
    op.create_table(
        "form_answers",
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column("question_id", sa.Uuid(), nullable=False),
        sa.Column("values", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["question_id"], ["form_questions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("booking_id", "question_id"),
    )
    op.create_index(
        op.f("ix_form_answers_question_id"), "form_answers", ["question_id"], unique=False
    )
    op.create_table(
        "form_reminders",
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("booking_id"),
    )
    op.add_column(
        "bookings", sa.Column("form_submitted_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("bookings", "form_submitted_at")
    op.drop_table("form_reminders")
    op.drop_index(op.f("ix_form_answers_question_id"), table_name="form_answers")
    op.drop_table("form_answers")
    op.drop_index(op.f("ix_form_questions_service_id"), table_name="form_questions")
    op.drop_table("form_questions")
