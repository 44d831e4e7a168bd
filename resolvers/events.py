"""Subscriptions: slot and booking changes of one tutor, or of every member of an organization,
as they are committed. Each states its visibility class for cohorts (resolvers/live.py): what
of its events depends on the viewer. A booking subscription given `since` resumes: it first
sends what it missed since then (domain.events.missed), on its own rather than in a cohort."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from functools import partial
from typing import Annotated

import strawberry
from broadcaster import Event
from graphql import GraphQLError
from strawberry.types import Info

from domain import bookings, organizations, people
from domain.events import (
    BookingChange,
    CannotReplay,
    SlotChange,
    bookings_channel,
    members_channel,
    missed,
    slots_channel,
)
from infra.auth import Identity
from infra.pubsub import FeedEnded
from models import BookingAction
from resolvers.live import EVERYONE, ended, shared
from schema.bookings import Booking
from schema.context import Context, forbidden
from schema.events import BookingEvent, SlotEvent, SlotEventKind
from schema.node import decode_id_of, encode_id

Since = Annotated[
    dt.datetime | None,
    strawberry.argument(
        description="Resume from here: the `at` of the last event received, or the `asOf` of "
        "the list fetched. The events of every change since then (within the last hour, at "
        "most 500) are sent first, then live ones, so nothing is missed between; some may come "
        "twice. When they cannot be, the subscription ends with REFETCH_NEEDED."
    ),
]


async def _follow(
    context: Context,
    *channels: str,
    since: dt.datetime | None = None,
    replay: Sequence[str] = (),
) -> AsyncGenerator[Event, None]:
    """Every event on `channels`; with `since`, first what was published on `replay` since
    then, read once the broker listens (so what commits after that read is heard live)."""
    try:
        async with context.live().subscribe(*channels) as feed:
            if since is not None:
                for channel, message in await missed(context.db, replay, since, context.now()):
                    yield Event(channel, message)
            async for event in feed:
                yield event
    except FeedEnded as error:
        raise ended(error) from None
    except CannotReplay as error:
        raise GraphQLError(error.message, extensions={"code": "REFETCH_NEEDED"}) from None


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
        # A SlotEvent's fields are ids and times: no field of it depends on the viewer.
        async for event in shared(info, EVERYONE, lambda: _slot_events(info.context, pk)):
            yield event

    @strawberry.subscription(
        description="Bookings created and changed, for a tutor's dashboard. Only that tutor may "
        "subscribe."
    )
    async def booking_events(
        self, info: Info[Context, None], tutor_id: strawberry.ID, since: Since = None
    ) -> AsyncGenerator[BookingEvent, None]:
        context = info.context
        identity = context.require_identity()
        pk = decode_id_of(tutor_id, "Tutor")
        tutor = await people.get_tutor(context.db, pk) if pk is not None else None
        if tutor is None or tutor.user_id != identity.sub:
            raise forbidden("Only the tutor may follow their bookings")
        # The booking is loaded and resolved under the viewer's identity (the access rule, the
        # loaders): the identity is the visibility class. Only one user gets this far.
        channel = bookings_channel(tutor.id)
        own = partial(_booking_events, context, channel, since)
        async for seen in shared(info, identity, own, alone=since is not None):
            yield seen

    @strawberry.subscription(
        description="Bookings of every member, for an organization's dashboard. Owners and "
        "admins only."
    )
    async def organization_booking_events(
        self, info: Info[Context, None], organization_id: strawberry.ID, since: Since = None
    ) -> AsyncGenerator[BookingEvent, None]:
        context = info.context
        identity = context.require_identity()
        pk = decode_id_of(organization_id, "Organization")
        organization, members = await _members(context, identity, pk)
        # Owners and admins each see a booking as the access rule lets them (with the tutor's
        # rights, and more where they are its tutor or student): the identity is the class.
        own = partial(_organization_events, context, organization, members, since)
        async for seen in shared(info, identity, own, alone=since is not None):
            yield seen


async def _slot_events(context: Context, tutor_id: uuid.UUID) -> AsyncGenerator[SlotEvent, None]:
    async for event in _follow(context, slots_channel(tutor_id)):
        change = SlotChange.read(event.message)
        yield SlotEvent(
            kind=SlotEventKind(change.kind),
            tutor_id=encode_id("Tutor", change.tutor_id),
            service_id=encode_id("Service", change.service_id),
            start=change.start,
            end=change.end,
        )


async def _booking_events(
    context: Context, channel: str, since: dt.datetime | None
) -> AsyncGenerator[BookingEvent, None]:
    async for event in _follow(context, channel, since=since, replay=[channel]):
        seen = await _seen(context, event)
        if seen is not None:
            yield seen


async def _organization_events(
    context: Context,
    organization: uuid.UUID,
    members: list[uuid.UUID],
    since: dt.datetime | None,
) -> AsyncGenerator[BookingEvent, None]:
    """Follows each member's channel and the organization's own; when its members change, the
    role is asked again and the members followed are the ones it has then (what the members'
    channels missed is replayed once, at the start). Each event is also shown only as the
    access rule lets this viewer see it at that moment."""
    while True:
        changed = members_channel(organization)
        channels = [bookings_channel(m) for m in members]
        follow = _follow(context, changed, *channels, since=since, replay=channels)
        since = None
        async with aclosing(follow) as feed:
            async for event in feed:
                if event.channel == changed:
                    break
                seen = await _seen(context, event)
                if seen is not None:
                    yield seen
        _, members = await _members(context, context.require_identity(), organization)


async def _members(
    context: Context, identity: Identity, organization_id: uuid.UUID | None
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """The organization and its members' tutor ids, for its owners and admins."""
    members = (
        await organizations.members_for_manager(context.db, identity, organization_id)
        if organization_id is not None
        else None
    )
    if organization_id is None or members is None:
        raise forbidden("Only the organization's owners and admins follow its bookings")
    return organization_id, members


async def _seen(context: Context, event: Event) -> BookingEvent | None:
    """The event's booking as this subscriber may see it now, loaded fresh (a short session
    per event); None when they may not."""
    change = BookingChange.read(event.message)
    found = await bookings.visible_bookings(
        context.db, context.require_identity(), [change.booking_id]
    )
    if change.booking_id not in found:
        return None
    context.fresh_loaders()
    return BookingEvent(
        action=BookingAction(change.action),
        booking=Booking.from_row(found[change.booking_id]),
        at=change.at,
    )
