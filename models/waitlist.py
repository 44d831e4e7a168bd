"""The waitlist: students waiting for time to come free inside a window, and the slots each was
told of."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Uuid,
    text,
)
from sqlmodel import Field, SQLModel

from models.base import CreatedAt, enum_field, id_field


class WaitlistStatus(StrEnum):
    """The GraphQL enum WaitlistStatus is this class."""

    WAITING = "WAITING"
    OFFERED = "OFFERED"
    BOOKED = "BOOKED"
    EXPIRED = "EXPIRED"
    WITHDRAWN = "WITHDRAWN"


ACTIVE_SQL = "status IN ('WAITING', 'OFFERED')"


def _ts(*, nullable: bool = True) -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=nullable)


def _ref(table: str, *, nullable: bool = False) -> Column[uuid.UUID]:
    return Column(Uuid, ForeignKey(f"{table}.id", ondelete="CASCADE"), nullable=nullable)


class WaitlistEntry(SQLModel, table=True):
    """One student's wait for a service (with one tutor, or any of its tutors: `tutor_id` None)
    inside [from_at, to_at). While OFFERED, the slot they were told of is kept on the row."""

    __tablename__ = "waitlist_entries"
    __table_args__ = (
        CheckConstraint("to_at > from_at", name="ck_waitlist_entries_window"),
        # A student's active entries (the one-per-window check, Viewer.waitlist, booking).
        Index(
            "ix_waitlist_entries_student_active",
            "student_id",
            "service_id",
            postgresql_where=text(ACTIVE_SQL),
        ),
        # Who could take freed time: WAITING entries by tutor, and any-tutor ones by service.
        Index(
            "ix_waitlist_entries_waiting_tutor",
            "tutor_id",
            "to_at",
            postgresql_where=text("status = 'WAITING'"),
        ),
        Index(
            "ix_waitlist_entries_waiting_service",
            "service_id",
            "to_at",
            postgresql_where=text("status = 'WAITING' AND tutor_id IS NULL"),
        ),
        # The sweep: windows that ended, offers that lapsed; a booking: offers it takes.
        Index("ix_waitlist_entries_active_to", "to_at", postgresql_where=text(ACTIVE_SQL)),
        Index(
            "ix_waitlist_entries_offered",
            "offered_tutor_id",
            "offered_start",
            postgresql_where=text("status = 'OFFERED'"),
        ),
    )

    id: uuid.UUID = id_field()
    # Join order: who is told first.
    seq: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), nullable=False))
    service_id: uuid.UUID = Field(sa_column=_ref("services"))
    tutor_id: uuid.UUID | None = Field(default=None, sa_column=_ref("tutors", nullable=True))
    student_id: uuid.UUID = Field(sa_column=_ref("students"))
    from_at: datetime = Field(sa_column=_ts(nullable=False))
    to_at: datetime = Field(sa_column=_ts(nullable=False))
    duration_minutes: int
    status: WaitlistStatus = enum_field(WaitlistStatus, 10)
    offered_tutor_id: uuid.UUID | None = Field(
        default=None, sa_column=_ref("tutors", nullable=True)
    )
    offered_start: datetime | None = Field(default=None, sa_column=_ts())
    offered_end: datetime | None = Field(default=None, sa_column=_ts())
    offer_expires_at: datetime | None = Field(default=None, sa_column=_ts())
    created_at: CreatedAt


class WaitlistOffer(SQLModel, table=True):
    """A slot an entry was told of: never offered to the same entry twice."""

    __tablename__ = "waitlist_offers"

    entry_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid,
            ForeignKey("waitlist_entries.id", ondelete="CASCADE"),
            primary_key=True,
            nullable=False,
        )
    )
    tutor_id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True, nullable=False))
    start_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), primary_key=True, nullable=False)
    )
    offered_at: datetime = Field(sa_column=_ts(nullable=False))
