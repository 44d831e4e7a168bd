"""schedule-later requests, at most one open or assigned per student and service

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status IN ('OPEN', 'ASSIGNED')")


def upgrade() -> None:
    op.create_table(
        "schedule_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("student_id", sa.Uuid(), nullable=False),
        sa.Column("tutor_id", sa.Uuid(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("booking_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"]),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"]),
        sa.ForeignKeyConstraint(["student_id"], ["students.id"]),
        sa.ForeignKeyConstraint(["tutor_id"], ["tutors.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("service_id", "student_id", "tutor_id"):
        op.create_index(
            op.f(f"ix_schedule_requests_{column}"), "schedule_requests", [column], unique=False
        )
    op.create_index(
        "uq_schedule_requests_pending",
        "schedule_requests",
        ["student_id", "service_id"],
        unique=True,
        postgresql_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("uq_schedule_requests_pending", table_name="schedule_requests")
    for column in ("tutor_id", "student_id", "service_id"):
        op.drop_index(op.f(f"ix_schedule_requests_{column}"), table_name="schedule_requests")
    op.drop_table("schedule_requests")
