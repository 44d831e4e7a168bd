"""booking order: an index for listing a tutor's bookings newest-created first

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_bookings_tutor_created_id",
        "bookings",
        ["tutor_id", "created_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_bookings_tutor_created_id", table_name="bookings")
