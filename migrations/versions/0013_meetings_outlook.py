"""meeting links from Zoom, Outlook calendars: synced events keep their provider and remote id,
provider meetings per booking, the platform's provider tokens, and the tutor's flag of a
connected calendar

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-10 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "tutors",
        sa.Column("calendar_connected", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute(
        "UPDATE tutors SET calendar_connected = true "
        "WHERE id IN (SELECT tutor_id FROM calendar_links)"
    )
    op.add_column(
        "synced_events",
        sa.Column(
            "provider",
            sqlmodel.sql.sqltypes.AutoString(length=20),
            nullable=False,
            server_default="google",
        ),
    )
    op.add_column("synced_events", sa.Column("event_id", sa.Text(), nullable=True))
    # Google events carry our own id, made from the booking's (domain.calendar_api.event_id).
    op.execute("UPDATE synced_events SET event_id = 'bk' || replace(booking_id::text, '-', '')")
    op.alter_column("synced_events", "event_id", nullable=False)
    op.create_table(
        "external_meetings",
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("meeting_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("booking_id"),
    )
    op.create_table(
        "provider_tokens",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("provider_tokens")
    op.drop_table("external_meetings")
    op.drop_column("synced_events", "event_id")
    op.drop_column("synced_events", "provider")
    op.drop_column("tutors", "calendar_connected")
