"""every tutor has a calendar feed secret from the start, so reading the feed URL never writes

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Tutors who never asked for their feed: 64 hex digits from two random UUIDs (244 random
    # bits from PostgreSQL's strong random source; no pgcrypto needed).
    op.execute(
        "UPDATE tutors SET calendar_feed_token = "
        "replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '') "
        "WHERE calendar_feed_token IS NULL"
    )
    op.alter_column(
        "tutors",
        "calendar_feed_token",
        existing_type=sqlmodel.sql.sqltypes.AutoString(length=64),
        nullable=False,
    )


def downgrade() -> None:
    op.alter_column(
        "tutors",
        "calendar_feed_token",
        existing_type=sa.VARCHAR(length=64),
        nullable=True,
    )
