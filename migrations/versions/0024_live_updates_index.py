"""live updates by channel: what a resumed subscription (`since`) reads back

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_outbox_live_updates",
        "outbox",
        ["payload"],
        postgresql_using="gin",
        postgresql_ops={"payload": "jsonb_path_ops"},
        postgresql_where=sa.text("kind = 'live_updates'"),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_live_updates", table_name="outbox")
