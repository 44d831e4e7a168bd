"""The outbox: background work written in the same transaction as the change that needs it.

A row is the durable record of one job. The relay hands due rows to Dramatiq (or runs them
in-process when no broker is configured); the job marks the row done in the transaction that
does its work, so a message delivered twice finds it done and does nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.base import CreatedAt, id_field


def _ts() -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class OutboxJob(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        # What the relay scans: unfinished rows by due time.
        Index(
            "ix_outbox_pending_due",
            "due_at",
            postgresql_where=text("done_at IS NULL AND failed_at IS NULL"),
        ),
        # What a resumed subscription reads back (domain/events.py): live updates by channel.
        Index(
            "ix_outbox_live_updates",
            "payload",
            postgresql_using="gin",
            postgresql_ops={"payload": "jsonb_path_ops"},
            postgresql_where=text("kind = 'live_updates'"),
        ),
    )

    id: uuid.UUID = id_field()
    kind: str = Field(max_length=40)
    # A unique run key (a periodic job's period, a reminder's slot): the second writer of the
    # same key adds nothing, so several workers schedule a job once.
    key: str | None = Field(default=None, max_length=300, unique=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    # None: parked (a confirmation waiting for its payment); the relay skips it.
    due_at: datetime | None = _ts()
    enqueued_at: datetime | None = _ts()
    attempts: int = 0
    done_at: datetime | None = _ts()
    failed_at: datetime | None = _ts()
    last_error: str | None = Field(default=None, sa_type=Text)
    # The request that wrote it (X-Request-ID): the job logs under the same id.
    request_id: str | None = Field(default=None, max_length=128)
    created_at: CreatedAt
