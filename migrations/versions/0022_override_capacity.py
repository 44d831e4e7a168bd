"""override capacity: seats an override sets for every service on its schedule

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("availability_overrides", sa.Column("capacity", sa.Integer(), nullable=True))
    op.create_check_constraint(
        "ck_availability_overrides_capacity",
        "availability_overrides",
        "capacity IS NULL OR (available AND capacity BETWEEN 1 AND 1000)",
    )


def downgrade() -> None:
    op.drop_constraint(
        "ck_availability_overrides_capacity", "availability_overrides", type_="check"
    )
    op.drop_column("availability_overrides", "capacity")
