"""funnel events: booking page steps by visit, counted per tutor and per organization

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AGGREGATED = ["step", "visit_id", "service_id", "error_type"]


def upgrade() -> None:
    op.create_table(
        "funnel_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("visit_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("step", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("tutor_id", sa.Uuid(), nullable=True),
        sa.Column("service_id", sa.Uuid(), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error_type", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tutor_id"], ["tutors.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_funnel_events_tutor_at",
        "funnel_events",
        ["tutor_id", "at"],
        postgresql_include=AGGREGATED,
        postgresql_where=sa.text("tutor_id IS NOT NULL"),
    )
    op.create_index(
        "ix_funnel_events_organization_at",
        "funnel_events",
        ["organization_id", "at"],
        postgresql_include=AGGREGATED,
        postgresql_where=sa.text("organization_id IS NOT NULL"),
    )
    op.create_index("ix_funnel_events_at", "funnel_events", ["at"])


def downgrade() -> None:
    op.drop_table("funnel_events")
