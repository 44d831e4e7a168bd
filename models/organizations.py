"""Organizations (studios, teams): their members with a role each, and invitations to join.

A tutor belongs to at most one organization: the membership's key is the tutor.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Uuid, false
from sqlmodel import Field, SQLModel

from models.base import CreatedAt, enum_field, id_field


class OrganizationRole(StrEnum):
    """What a member may do (the GraphQL enum OrganizationRole is this class)."""

    OWNER = "OWNER"
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"


# Owners and admins manage members, organization services and every member's bookings.
MANAGERS = frozenset({OrganizationRole.OWNER, OrganizationRole.ADMIN})


class Organization(SQLModel, table=True):
    __tablename__ = "organizations"

    id: uuid.UUID = id_field()
    name: str = Field(max_length=200)
    created_at: CreatedAt


class OrganizationMember(SQLModel, table=True):
    __tablename__ = "organization_members"

    tutor_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid, ForeignKey("tutors.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    organization_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid,
            ForeignKey("organizations.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    role: OrganizationRole = enum_field(OrganizationRole, 10)
    joined_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    # An owner's opt-in to the daily summary of every member's sessions (setOrganizationSummary).
    organization_summary: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )


class OrganizationInvitation(SQLModel, table=True):
    """An invitation by email; the token it was sent with is kept only as its SHA-256."""

    __tablename__ = "organization_invitations"

    id: uuid.UUID = id_field()
    organization_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid,
            ForeignKey("organizations.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    email: str = Field(max_length=320)
    role: OrganizationRole = enum_field(OrganizationRole, 10)
    token_hash: str = Field(max_length=64, unique=True)
    invited_by: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(Uuid, ForeignKey("tutors.id", ondelete="SET NULL"), nullable=True),
    )
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    accepted_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    accepted_by: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(Uuid, ForeignKey("tutors.id", ondelete="SET NULL"), nullable=True),
    )
    created_at: CreatedAt
