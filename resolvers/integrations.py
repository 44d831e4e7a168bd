"""Connecting and disconnecting a tutor's calendar."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from domain import calendar_sync
from models import CalendarProvider
from resolvers.common import mutate
from schema.context import Context
from schema.integrations import (
    CalendarConnected,
    CalendarDisconnected,
    ConnectCalendarResult,
    ConnectGoogleCalendarInput,
    ConnectOutlookCalendarInput,
    DisconnectCalendarResult,
)


async def _connect(
    info: Info[Context, None],
    provider: CalendarProvider,
    refresh_token: str,
    calendar_id: str | None,
) -> ConnectCalendarResult:
    identity = info.context.require_identity()
    work = calendar_sync.connect(
        info.context.db,
        info.context.settings,
        info.context.cipher,
        identity,
        provider,
        refresh_token,
        calendar_id,
        info.context.now(),
    )
    return await mutate(work, lambda link: CalendarConnected(calendar_id=link.calendar_id))


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Mirror this tutor's confirmed bookings into Google Calendar (in place of "
        "any calendar connected before)."
    )
    async def connect_google_calendar(
        self, info: Info[Context, None], input: ConnectGoogleCalendarInput
    ) -> ConnectCalendarResult:
        return await _connect(info, CalendarProvider.GOOGLE, input.refresh_token, input.calendar_id)

    @strawberry.mutation(
        description="Mirror this tutor's confirmed bookings into an Outlook calendar through "
        "Microsoft Graph (in place of any calendar connected before)."
    )
    async def connect_outlook_calendar(
        self, info: Info[Context, None], input: ConnectOutlookCalendarInput
    ) -> ConnectCalendarResult:
        return await _connect(
            info, CalendarProvider.OUTLOOK, input.refresh_token, input.calendar_id
        )

    @strawberry.mutation
    async def disconnect_calendar(self, info: Info[Context, None]) -> DisconnectCalendarResult:
        identity = info.context.require_identity()
        work = calendar_sync.disconnect(info.context.db, identity)
        return await mutate(work, lambda calendar_id: CalendarDisconnected(calendar_id=calendar_id))
