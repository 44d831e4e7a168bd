"""profiles: a tutor's bio, avatar and embed origins; a booking's contact phone; lesson notes

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tutors", sa.Column("bio", sa.Text(), nullable=True))
    op.add_column(
        "tutors",
        sa.Column("avatar_url", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    )
    op.add_column(
        "tutors",
        sa.Column(
            "embed_origins",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            server_default="[]",
        ),
    )
    op.add_column(
        "bookings",
        sa.Column("contact_phone", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    )
    # Guests' phones were kept on their student row only: their bookings show them from now on.
    op.execute(
        "UPDATE bookings SET contact_phone = students.phone FROM students "
        "WHERE students.id = bookings.student_id AND students.phone IS NOT NULL"
    )
    op.create_table(
        "lesson_notes",
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("shared_with_student", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("booking_id"),
    )


def downgrade() -> None:
    op.drop_table("lesson_notes")
    op.drop_column("bookings", "contact_phone")
    op.drop_column("tutors", "embed_origins")
    op.drop_column("tutors", "avatar_url")
    op.drop_column("tutors", "bio")
