"""Column conventions shared by every table: UUID keys and UTC timestamps."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlmodel import Field

# What tells the time: the wall clock in the app, one the test sets in tests. Code below the app
# takes `now` or a Clock, never reads the wall clock itself.
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def id_field() -> Any:
    return Field(default_factory=uuid.uuid4, primary_key=True)


def created_at_field() -> Any:
    return Field(default_factory=utcnow, sa_type=DateTime(timezone=True), nullable=False)
