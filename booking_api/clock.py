"""The wall clock. The app reads it here and hands it down as a Clock (to resolvers through the
context, to jobs through the runner); nothing below the app reads it (ARCHITECTURE.md)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
