"""Session credit: packages, their ledger, the templates tutors sell, and service enrollments."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Text, Uuid
from sqlmodel import Field, SQLModel

from models.base import CreatedAt, id_field


def _fk(target: str, *, nullable: bool = False, index: bool = True) -> Column[uuid.UUID]:
    return Column(Uuid, ForeignKey(target), nullable=nullable, index=index)


class Package(SQLModel, table=True):
    """Credit a student holds with one tutor. `remaining` is the sum of its ledger's deltas."""

    __tablename__ = "packages"

    id: uuid.UUID = id_field()
    student_id: uuid.UUID = Field(sa_column=_fk("students.id"))
    tutor_id: uuid.UUID = Field(sa_column=_fk("tutors.id"))
    unit: str = Field(max_length=10)  # SESSIONS or MINUTES
    total: int
    remaining: int
    session_duration_minutes: int | None = None
    expires_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    notes: str | None = Field(default=None, sa_type=Text)
    template_id: uuid.UUID | None = Field(
        default=None, sa_column=_fk("package_templates.id", nullable=True, index=False)
    )
    created_at: CreatedAt


class PackageAdjustment(SQLModel, table=True):
    """One line of a package's ledger: a grant, a redemption, a refund or a manual change."""

    __tablename__ = "package_adjustments"

    id: uuid.UUID = id_field()
    package_id: uuid.UUID = Field(sa_column=_fk("packages.id"))
    kind: str = Field(max_length=12)
    delta: int
    reason: str | None = Field(default=None, sa_type=Text)
    booking_id: uuid.UUID | None = Field(
        default=None, sa_column=_fk("bookings.id", nullable=True, index=False)
    )
    actor_id: str | None = Field(default=None, max_length=255)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class PackageTemplate(SQLModel, table=True):
    """What a tutor sells or grants: "8 sessions of 60 minutes, valid 90 days, 400 EUR"."""

    __tablename__ = "package_templates"

    id: uuid.UUID = id_field()
    tutor_id: uuid.UUID = Field(sa_column=_fk("tutors.id"))
    name: str = Field(max_length=200)
    unit: str = Field(max_length=10)
    total: int
    session_duration_minutes: int | None = None
    valid_days: int | None = None
    price_amount_minor: int | None = Field(default=None, sa_type=BigInteger)
    price_currency: str | None = Field(default=None, max_length=3)
    # An archived template is no longer offered; packages granted from it are kept.
    archived_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    created_at: CreatedAt


class Enrollment(SQLModel, table=True):
    __tablename__ = "enrollments"

    service_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid, ForeignKey("services.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    student_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid, ForeignKey("students.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    created_at: CreatedAt
