"""What every write of a booking shares: row locks, and the record each change leaves."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import (
    calendar_sync,
    events,
    meetings,
    notifications,
    reminders,
    review_requests,
    webhooks,
)
from infra.db import UnitOfWork
from infra.settings import MeetingProvider
from models import Booking, BookingHistory
from models.bookings import BookingAction, BookingStatus


async def lock(session: AsyncSession, model: type[Any], pk: uuid.UUID) -> Any:
    """The row, locked until the transaction ends (in the order the package docstring gives)."""
    # FOR NO KEY UPDATE: serializes writers without blocking inserts that reference the row.
    query = select(model).where(model.id == pk).with_for_update(key_share=True)
    return (await session.exec(query)).first()


async def record(
    session: UnitOfWork,
    booking: Booking,
    action: BookingAction,
    at: datetime,
    actor: str | None,
    reason: str | None = None,
    moved_from: datetime | None = None,
    meeting_provider: MeetingProvider | None = None,
) -> None:
    """Every change is one history entry, one live event for the tutor's dashboard (README,
    "Live updates": which action is published when), and the background work it sets in
    motion, all once committed. `meeting_provider` is the server's (MEETING_PROVIDER); a
    change that cannot need a meeting link (expiry, attendance) leaves it out. Async: which
    webhook endpoints hear of it, and whether the tutor has a calendar, are read here."""
    session.add(
        BookingHistory(booking_id=booking.id, action=action, at=at, actor_id=actor, reason=reason)
    )
    events.booking_changed(session, booking, action, at)
    # A booking created CONFIRMED (nothing to pay) is one change, CREATED, but sets in motion
    # what a confirmation does: the emails, reminders, calendar event and meeting link.
    effect = (
        BookingAction.CONFIRMED
        if action == BookingAction.CREATED and booking.status == BookingStatus.CONFIRMED
        else action
    )
    notifications.booking_changed(session, booking, effect, at, moved_from)
    await reminders.booking_changed(session, booking, effect, at)
    await review_requests.booking_changed(session, booking, effect, at)
    await calendar_sync.booking_changed(session, booking, effect, at)
    await meetings.booking_changed(session, booking, effect, at, meeting_provider)
    await webhooks.booking_changed(session, booking, action, at)
