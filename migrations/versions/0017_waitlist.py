"""waitlist: students waiting for time to come free, and the slots each was told of

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = "status IN ('WAITING', 'OFFERED')"


def upgrade() -> None:
    op.create_table(
        "waitlist_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("tutor_id", sa.Uuid(), nullable=True),
        sa.Column("student_id", sa.Uuid(), nullable=False),
        sa.Column("from_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("to_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("offered_tutor_id", sa.Uuid(), nullable=True),
        sa.Column("offered_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("offered_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("offer_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("to_at > from_at", name="ck_waitlist_entries_window"),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tutor_id"], ["tutors.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["student_id"], ["students.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["offered_tutor_id"], ["tutors.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_waitlist_entries_student_active",
        "waitlist_entries",
        ["student_id", "service_id"],
        postgresql_where=sa.text(ACTIVE),
    )
    op.create_index(
        "ix_waitlist_entries_waiting_tutor",
        "waitlist_entries",
        ["tutor_id", "to_at"],
        postgresql_where=sa.text("status = 'WAITING'"),
    )
    op.create_index(
        "ix_waitlist_entries_waiting_service",
        "waitlist_entries",
        ["service_id", "to_at"],
        postgresql_where=sa.text("status = 'WAITING' AND tutor_id IS NULL"),
    )
    op.create_index(
        "ix_waitlist_entries_active_to",
        "waitlist_entries",
        ["to_at"],
        postgresql_where=sa.text(ACTIVE),
    )
    op.create_index(
        "ix_waitlist_entries_offered",
        "waitlist_entries",
        ["offered_tutor_id", "offered_start"],
        postgresql_where=sa.text("status = 'OFFERED'"),
    )
    op.create_table(
        "waitlist_offers",
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("tutor_id", sa.Uuid(), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["waitlist_entries.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("entry_id", "tutor_id", "start_at"),
    )


def downgrade() -> None:
    op.drop_table("waitlist_offers")
    op.drop_table("waitlist_entries")
