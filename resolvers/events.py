"""Subscriptions: slot and booking changes of one tutor, as they are committed."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from broadcaster import Event
from graphql import GraphQLError
from strawberry.types import Info

from domain import bookings, people
from domain.events import BookingChange, SlotChange, bookings_channel, slots_channel
from infra.pubsub import SubscriberTooSlow
from models import BookingAction
from schema.bookings import Booking
from schema.context import Context, forbidden
from schema.events import BookingEvent, SlotEvent, SlotEventKind
from schema.node import decode_id_of, encode_id


async def _follow(context: Context, channel: str) -> AsyncGenerator[Event, None]:
    try:
        async with context.live().subscribe(channel) as feed:
            async for event in feed:
                yield event
    except SubscriberTooSlow as error:
        raise GraphQLError(str(error), extensions={"code": "SUBSCRIBER_TOO_SLOW"}) from None


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Time taken or freed on a tutor's calendar, for booking pages to refresh "
        "their slots."
    )
    async def slot_events(
        self, info: Info[Context, None], tutor_id: strawberry.ID
    ) -> AsyncGenerator[SlotEvent, None]:
        pk = decode_id_of(tutor_id, "Tutor")
        if pk is None or await people.get_tutor(info.context.db, pk) is None:
            raise GraphQLError("No such tutor (tutorId)", extensions={"code": "NOT_FOUND"})
        async for event in _follow(info.context, slots_channel(pk)):
            change = SlotChange.read(event.message)
            yield SlotEvent(
                kind=SlotEventKind(change.kind),
                tutor_id=encode_id("Tutor", change.tutor_id),
                service_id=encode_id("Service", change.service_id),
                start=change.start,
                end=change.end,
            )

    @strawberry.subscription(
        description="Bookings created and changed, for a tutor's dashboard. Only that tutor may "
        "subscribe."
    )
    async def booking_events(
        self, info: Info[Context, None], tutor_id: strawberry.ID
    ) -> AsyncGenerator[BookingEvent, None]:
        context = info.context
        identity = context.require_identity()
        pk = decode_id_of(tutor_id, "Tutor")
        tutor = await people.get_tutor(context.db, pk) if pk is not None else None
        if tutor is None or tutor.user_id != identity.sub:
            raise forbidden("Only the tutor may follow their bookings")
        async for event in _follow(context, bookings_channel(tutor.id)):
            change = BookingChange.read(event.message)
            # Loaded fresh, as this subscriber may see it now; a short session per event.
            found = await bookings.visible_bookings(context.db, identity, [change.booking_id])
            if change.booking_id not in found:
                continue
            context.fresh_loaders()
            yield BookingEvent(
                action=BookingAction(change.action),
                booking=Booking.from_row(found[change.booking_id]),
                at=change.at,
            )
