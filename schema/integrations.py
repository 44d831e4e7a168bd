"""Connecting a tutor's own calendar (Google Calendar or Outlook) for bookings to be mirrored
into."""

from __future__ import annotations

from typing import Annotated

import strawberry

from schema.errors import InvalidInput, NotFound


@strawberry.input(
    description="The platform runs Google's OAuth consent (scope calendar.events, offline "
    "access) and passes the refresh token; the server's GOOGLE_CLIENT_ID must be the client "
    "that obtained it."
)
class ConnectGoogleCalendarInput:
    refresh_token: str
    calendar_id: str = "primary"


@strawberry.input(
    description="The platform runs Microsoft's OAuth consent (Calendars.ReadWrite, "
    "offline_access) and passes the refresh token."
)
class ConnectOutlookCalendarInput:
    refresh_token: str
    calendar_id: str | None = strawberry.field(
        default=None, description="Default: the user's default calendar."
    )


@strawberry.type(description="Confirmed bookings, upcoming ones included, now appear there.")
class CalendarConnected:
    calendar_id: str


@strawberry.type(description="Bookings are no longer mirrored; events already there stay.")
class CalendarDisconnected:
    calendar_id: str


ConnectCalendarResult = Annotated[
    CalendarConnected | InvalidInput | NotFound, strawberry.union("ConnectCalendarResult")
]
DisconnectCalendarResult = Annotated[
    CalendarDisconnected | NotFound, strawberry.union("DisconnectCalendarResult")
]
