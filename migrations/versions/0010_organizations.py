"""organizations, members, invitations; organization services; services repaired for consent

Before this revision any tutor could list others on a service. No service records who made it,
so the repair keeps, on each service listing more than one tutor, only the tutor whose time it
sells: the owner of the service's own schedule when it names one of its tutors', else its first
tutor. Everyone else leaves the service (their bookings stay theirs). There are no organizations
yet, so no service can be moved into one instead.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 13:49:53
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tutor each multi-tutor service keeps: its schedule's tutor, else its first tutor.
KEEP = """
    SELECT s.id AS service_id,
           COALESCE(
               (SELECT st.tutor_id FROM service_tutors st
                  JOIN schedules sc ON sc.id = s.schedule_id AND sc.tutor_id = st.tutor_id
                 WHERE st.service_id = s.id),
               (SELECT st.tutor_id FROM service_tutors st
                 WHERE st.service_id = s.id ORDER BY st.position, st.tutor_id LIMIT 1)
           ) AS tutor_id
      FROM services s
     WHERE (SELECT count(*) FROM service_tutors st WHERE st.service_id = s.id) > 1
"""


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "organization_invitations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("invited_by", sa.Uuid(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["accepted_by"], ["tutors.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["invited_by"], ["tutors.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(
        op.f("ix_organization_invitations_organization_id"),
        "organization_invitations",
        ["organization_id"],
        unique=False,
    )
    op.create_table(
        "organization_members",
        sa.Column("tutor_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tutor_id"], ["tutors.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tutor_id"),
    )
    op.create_index(
        op.f("ix_organization_members_organization_id"),
        "organization_members",
        ["organization_id"],
        unique=False,
    )
    op.add_column("services", sa.Column("organization_id", sa.Uuid(), nullable=True))
    op.create_index(
        op.f("ix_services_organization_id"), "services", ["organization_id"], unique=False
    )
    op.create_foreign_key(
        "services_organization_id_fkey",
        "services",
        "organizations",
        ["organization_id"],
        ["id"],
    )
    op.execute(
        f"WITH keep AS ({KEEP}) "
        "DELETE FROM service_tutors st USING keep "
        "WHERE st.service_id = keep.service_id AND st.tutor_id <> keep.tutor_id"
    )
    op.execute("UPDATE service_tutors SET position = 0 WHERE position <> 0")
    # A schedule of a tutor who left (or never was on the service): each tutor's default.
    op.execute(
        "UPDATE services s SET schedule_id = NULL WHERE schedule_id IS NOT NULL AND NOT EXISTS ("
        "SELECT 1 FROM service_tutors st JOIN schedules sc ON sc.tutor_id = st.tutor_id "
        "WHERE st.service_id = s.id AND sc.id = s.schedule_id)"
    )


def downgrade() -> None:
    # The tutors removed from services are not put back: nothing recorded them.
    op.drop_constraint("services_organization_id_fkey", "services", type_="foreignkey")
    op.drop_index(op.f("ix_services_organization_id"), table_name="services")
    op.drop_column("services", "organization_id")
    op.drop_index(
        op.f("ix_organization_members_organization_id"), table_name="organization_members"
    )
    op.drop_table("organization_members")
    op.drop_index(
        op.f("ix_organization_invitations_organization_id"), table_name="organization_invitations"
    )
    op.drop_table("organization_invitations")
    op.drop_table("organizations")
