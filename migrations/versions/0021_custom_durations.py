"""custom durations: any length from min to max in steps, priced per hour pro rata

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A custom length is all of min, max and step, or none of them.
WHOLE = (
    "(custom_min_minutes IS NULL) = (custom_max_minutes IS NULL) "
    "AND (custom_min_minutes IS NULL) = (custom_step_minutes IS NULL)"
)
COLUMNS = (
    "custom_min_minutes",
    "custom_max_minutes",
    "custom_step_minutes",
    "custom_price_per_hour_minor",
    "custom_price_currency",
)


def upgrade() -> None:
    op.add_column("services", sa.Column("custom_min_minutes", sa.Integer(), nullable=True))
    op.add_column("services", sa.Column("custom_max_minutes", sa.Integer(), nullable=True))
    op.add_column("services", sa.Column("custom_step_minutes", sa.Integer(), nullable=True))
    op.add_column(
        "services", sa.Column("custom_price_per_hour_minor", sa.BigInteger(), nullable=True)
    )
    op.add_column(
        "services",
        sa.Column(
            "custom_price_currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True
        ),
    )
    op.create_check_constraint("ck_services_custom_duration", "services", WHOLE)


def downgrade() -> None:
    op.drop_constraint("ck_services_custom_duration", "services", type_="check")
    for name in reversed(COLUMNS):
        op.drop_column("services", name)
