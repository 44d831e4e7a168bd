"""createBooking's idempotency key: a retry with the same key gets the first answer, not a
second booking. The key is claimed in the booking transaction, so concurrent retries wait."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.bookings.requests import Booked, BookingRequest
from domain.errors import InvalidInput
from infra.db import present
from models import Booking, IdempotencyKey


async def replay(
    session: AsyncSession, owner: str, request: BookingRequest, now: datetime
) -> Booked | None:
    """Claim the idempotency key; when it was used already, the first answer."""
    key = request.idempotency_key
    if key is None:
        return None
    if not 1 <= len(key) <= 200:
        raise InvalidInput("An idempotency key is 1 to 200 characters", "input.idempotencyKey")
    # A concurrent request with the same key waits here until the first one commits or fails.
    claimed = await session.exec(
        insert(IdempotencyKey)
        .values(
            owner=owner,
            key=key,
            request_hash=request.fingerprint(),
            booking_ids=[],
            created_at=now,
        )
        .on_conflict_do_nothing()
        .returning(col(IdempotencyKey.owner))
    )
    if claimed.first() is not None:
        return None
    first = present(await session.get(IdempotencyKey, (owner, key)), "idempotency key")
    if first.request_hash != request.fingerprint():
        raise InvalidInput(
            "This idempotency key was used with different input", "input.idempotencyKey"
        )
    ids = [uuid.UUID(i) for i in first.booking_ids]
    rows = {b.id: b for b in await session.exec(select(Booking).where(col(Booking.id).in_(ids)))}
    # A guest's manage token was shown once and is not kept: a replay cannot show it again.
    return Booked([rows[i] for i in ids])


async def remember(
    session: AsyncSession, owner: str, request: BookingRequest, made: list[Booking]
) -> None:
    """The claimed key answers with these bookings from now on."""
    if request.idempotency_key is None:
        return
    claimed = present(
        await session.get(IdempotencyKey, (owner, request.idempotency_key)), "idempotency key"
    )
    claimed.booking_ids = [str(b.id) for b in made]
    session.add(claimed)


async def forget(session: AsyncSession, booking: Booking) -> None:
    """The key that answers with this booking is freed: a retry with it books afresh."""
    await session.exec(
        delete(IdempotencyKey).where(col(IdempotencyKey.booking_ids).contains([str(booking.id)]))
    )
