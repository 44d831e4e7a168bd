"""Bulk changes: mark many bookings completed or no-show, or cancel them, at once.

Each booking goes through the single change's own function (`change.mark_attendance`,
`change.cancel_booking`) in its own transaction, so its rules, history, events, emails and
refunds are exactly those of the single mutation; one booking failing leaves the others done.
Should the operation's time budget run out, the booking being changed is rolled back and the
rest are not tried: each is reported TimedOut, so the answer still says what changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from domain.bookings.change import cancel_booking, mark_attendance
from domain.bookings.requests import Caller, checked_text
from domain.errors import Forbidden, InvalidInput, Policy, PolicyViolation, TimedOut, UserError
from domain.stripe import Cards
from infra.auth import Identity
from infra.db import Database, out_of_time
from infra.settings import MeetingProvider
from models import Booking
from models.bookings import BookingStatus

MAX_BULK = 100


class BulkAction(StrEnum):
    """What to do to every booking (the GraphQL enum BulkBookingAction is this class)."""

    COMPLETE = "COMPLETE"
    NO_SHOW = "NO_SHOW"
    CANCEL = "CANCEL"


ATTENDANCE = {
    BulkAction.COMPLETE: BookingStatus.COMPLETED,
    BulkAction.NO_SHOW: BookingStatus.NO_SHOW,
}


@dataclass
class BulkOutcome:
    """The bookings changed, and per failure the position of its id in the request."""

    updated: list[Booking] = field(default_factory=list)
    failed: list[tuple[int, UserError]] = field(default_factory=list)
    timed_out: TimedOut | None = None  # once set, the rest are not tried


async def update_bookings(
    db: Database,
    identity: Identity,
    booking_ids: Sequence[uuid.UUID | InvalidInput],
    action: BulkAction,
    reason: str | None,
    now: datetime,
    cards: Cards | None = None,
    *,
    meeting_provider: MeetingProvider | None,
) -> BulkOutcome:
    """`booking_ids` as the caller gave them, an id that could not be read as its InvalidInput
    (reported as that booking's failure). The list itself is refused whole when it is empty,
    longer than MAX_BULK, or names a booking twice: nothing is changed then."""
    if not 1 <= len(booking_ids) <= MAX_BULK:
        raise InvalidInput(f"Give 1 to {MAX_BULK} bookings", "input.bookingIds")
    read = [pk for pk in booking_ids if isinstance(pk, uuid.UUID)]
    if len(set(read)) != len(read):
        raise InvalidInput("A booking is named twice", "input.bookingIds")
    reason = checked_text(reason, "input.reason")
    outcome = BulkOutcome()
    for index, pk in enumerate(booking_ids):
        if isinstance(pk, InvalidInput):
            outcome.failed.append((index, pk))
            continue
        if outcome.timed_out:
            outcome.failed.append((index, outcome.timed_out))
            continue
        try:
            if action is BulkAction.CANCEL:
                cancelled = await cancel_booking(
                    db,
                    Caller(identity),
                    pk,
                    reason,
                    now,
                    cards,
                    meeting_provider=meeting_provider,
                )
                outcome.updated.append(cancelled.booking)
            else:
                outcome.updated.append(
                    await mark_attendance(db, identity, pk, ATTENDANCE[action], reason, now)
                )
        except UserError as error:
            outcome.failed.append((index, error))
        except Forbidden as error:
            # The single mutation refuses the whole call (a student marking their own
            # booking); here the others still go ahead, so it is this booking's failure.
            outcome.failed.append(
                (index, PolicyViolation(error.message, Policy.INVALID_TRANSITION))
            )
        except Exception as error:
            if not out_of_time(error):
                raise
            # Rolled back by the server, or not begun: the bookings before it stay changed, and
            # a top-level TIMEOUT would hide which those are.
            outcome.timed_out = TimedOut(
                "Not changed: the operation's time ran out before or during this booking's "
                "change (rolled back); the bookings listed as updated were changed"
            )
            outcome.failed.append((index, outcome.timed_out))
    return outcome
