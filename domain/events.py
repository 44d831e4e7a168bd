"""Live updates: what is published when time or a booking changes, and how it reads back.

Messages are small JSON with ids only (PostgreSQL NOTIFY caps a payload at 8000 bytes): a
subscriber loads what it may see itself. They are queued on the unit of work and published
once it commits (infra.db).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_
from sqlmodel import col, select

from domain import outbox
from domain.errors import UserError
from domain.outbox import JobContext
from infra.db import LIVE_UPDATES, Database, UnitOfWork
from models import Booking, OutboxJob

# Resuming a subscription (`since`): what its subscriber missed is read back from the live
# updates' outbox rows (kept a week once sent, domain/outbox.py), from at most this far back.
REPLAY_WINDOW = timedelta(hours=1)
# An event's `at` is its change's `now`, taken before it commits: a change that began before an
# event already seen can commit after it. Rows are read back from this much earlier (the API's
# transactions end within their operation's budget, seconds); a change twice is harmless.
REPLAY_SLACK = timedelta(minutes=1)
# More missed than this and a refetch is cheaper, for both sides.
REPLAY_LIMIT = 500


def slots_channel(tutor_id: uuid.UUID) -> str:
    return f"slots:{tutor_id}"


def bookings_channel(tutor_id: uuid.UUID) -> str:
    return f"bookings:{tutor_id}"


def members_channel(organization_id: uuid.UUID) -> str:
    """That an organization's members changed: its live feeds follow the members it has now."""
    return f"members:{organization_id}"


@dataclass(frozen=True)
class SlotChange:
    kind: str  # TAKEN or RELEASED
    tutor_id: uuid.UUID
    service_id: uuid.UUID
    start: datetime
    end: datetime

    @classmethod
    def read(cls, message: str) -> SlotChange:
        data = json.loads(message)
        return cls(
            data["kind"],
            uuid.UUID(data["tutor"]),
            uuid.UUID(data["service"]),
            datetime.fromisoformat(data["start"]),
            datetime.fromisoformat(data["end"]),
        )


@dataclass(frozen=True)
class BookingChange:
    action: str
    booking_id: uuid.UUID
    at: datetime

    @classmethod
    def read(cls, message: str) -> BookingChange:
        data = json.loads(message)
        return cls(data["action"], uuid.UUID(data["booking"]), datetime.fromisoformat(data["at"]))


def slot_changed(
    session: UnitOfWork,
    kind: str,
    booking: Booking,
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
) -> None:
    """Time taken or freed: the booking's own, or the span it was moved from."""
    message = {
        "kind": kind,
        "tutor": str(booking.tutor_id),
        "service": str(booking.service_id),
        "start": (start or booking.start_at).isoformat(),
        "end": (end or booking.end_at).isoformat(),
    }
    session.publish_after_commit(slots_channel(booking.tutor_id), json.dumps(message), now)


def booking_changed(session: UnitOfWork, booking: Booking, action: str, at: datetime) -> None:
    message = {"action": action, "booking": str(booking.id), "at": at.isoformat()}
    session.publish_after_commit(bookings_channel(booking.tutor_id), json.dumps(message), at)


def members_changed(session: UnitOfWork, organization_id: uuid.UUID, now: datetime) -> None:
    session.publish_after_commit(members_channel(organization_id), str(organization_id), now)


async def _publish_again(ctx: JobContext, session: UnitOfWork, payload: dict[str, Any]) -> None:
    """A change's live updates its process did not get out (it died, or the broker was away)."""
    if ctx.db.publish is None:
        raise RuntimeError("this process has no pub/sub to publish live updates on")
    await ctx.db.publish([(channel, message) for channel, message in payload["messages"]])


outbox.register(LIVE_UPDATES, _publish_again)


class CannotReplay(UserError):
    """What a subscriber missed since then cannot be sent: it should refetch instead."""


async def missed(
    db: Database, channels: Sequence[str], since: datetime, now: datetime
) -> list[tuple[str, str]]:
    """The live updates on `channels` of every change at or after `since` (from REPLAY_SLACK
    before it), in the order they were made, as (channel, message)."""
    if since < now - REPLAY_WINDOW:
        raise CannotReplay(
            "since is more than an hour ago: fetch again, then subscribe with the list's asOf"
        )
    wanted = set(channels)  # never empty: an organization's feed follows its manager too
    async with db.session() as session:
        rows = await session.exec(
            select(OutboxJob.payload)
            .where(
                col(OutboxJob.kind) == LIVE_UPDATES,
                col(OutboxJob.created_at) >= since - REPLAY_SLACK,
                or_(*(col(OutboxJob.payload).contains({"messages": [[c]]}) for c in wanted)),
            )
            .order_by(col(OutboxJob.created_at), col(OutboxJob.id))
            .limit(REPLAY_LIMIT + 1)
        )
        found = [(c, m) for payload in rows for c, m in payload["messages"] if c in wanted]
    if len(found) > REPLAY_LIMIT:
        raise CannotReplay(
            f"more than {REPLAY_LIMIT} changes since then: fetch again, then subscribe with the "
            "list's asOf"
        )
    return found
