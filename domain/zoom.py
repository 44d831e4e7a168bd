"""Zoom meetings for bookings, made with the platform's Server-to-Server OAuth app: made when a
booking is confirmed, moved when it is rescheduled, deleted when it is cancelled.

The account's access token is kept in the database (encrypted, until an hour's expiry) so every
worker process uses the same one; a token Zoom refuses early is replaced once and the call made
again. Any other failure raises: the outbox retries the job with backoff, and the booking
itself is never undone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

import httpx
from sqlalchemy.dialects.postgresql import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from domain import ics
from domain.outbox import JobContext
from infra.crypto import Undecryptable
from infra.settings import ZoomSettings
from models import ExternalMeeting, ProviderToken
from models.bookings import BookingStatus

PROVIDER = "zoom"
TIMEOUT_SECONDS = 20
# Fetch a new account token this long before Zoom says the old one expires.
EARLY = timedelta(minutes=2)
MAX_TOPIC = 200


class ZoomError(Exception):
    """Zoom failed or refused; the job is tried again later."""


@dataclass(frozen=True)
class Made:
    meeting_id: str
    join_url: str


class ZoomApi:
    """Zoom's REST API (v2) with the account's token, fetched or read once per job."""

    def __init__(self, ctx: JobContext, settings: ZoomSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.token: str | None = None

    @property
    def _cache_key(self) -> str:
        return f"zoom:{self.settings.account_id}"

    async def _cached(self) -> str | None:
        async with self.ctx.db.session() as session:
            row = await session.get(ProviderToken, self._cache_key)
        if row is None or row.expires_at - EARLY <= self.ctx.now:
            return None
        try:
            return self.ctx.cipher.decrypt(row.access_token)
        except Undecryptable:  # its key was dropped: it is only a cache
            return None

    async def _fetch(self) -> str:
        """A new account token (grant_type=account_credentials), kept for the other jobs in its
        own transaction, so a job failing later does not lose it."""
        params = {"grant_type": "account_credentials", "account_id": self.settings.account_id}
        auth = (self.settings.client_id, self.settings.client_secret)
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
                response = await client.post(self.settings.oauth_url, params=params, auth=auth)
        except httpx.HTTPError as error:
            raise ZoomError(f"Zoom sign-in unreachable: {error}") from error
        if response.status_code != 200:
            raise ZoomError(f"Zoom refused the app's credentials ({response.status_code})")
        try:
            data = response.json()
            token, seconds = str(data["access_token"]), int(data.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise ZoomError("Zoom sign-in answered without an access token") from None
        values = {
            "name": self._cache_key,
            "access_token": self.ctx.cipher.encrypt(token),
            "expires_at": self.ctx.now + timedelta(seconds=seconds),
        }
        async with self.ctx.db.transaction() as session:
            await session.exec(
                insert(ProviderToken)
                .values(**values)
                .on_conflict_do_update(index_elements=["name"], set_=values)
            )
        return token

    async def _send(self, method: str, path: str, body: Any, token: str) -> httpx.Response:
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
                return await client.request(
                    method,
                    f"{self.settings.api_base}{path}",
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                )
        except httpx.HTTPError as error:
            raise ZoomError(f"Zoom unreachable: {error}") from error

    async def call(
        self, method: str, path: str, body: Any = None, gone_ok: bool = False
    ) -> httpx.Response:
        if self.token is None:
            self.token = await self._cached() or await self._fetch()
        response = await self._send(method, path, body, self.token)
        if response.status_code == 401:  # expired or revoked before its time: once more
            self.token = await self._fetch()
            response = await self._send(method, path, body, self.token)
        if gone_ok and response.status_code == 404:
            return response
        if response.status_code >= 400:
            raise ZoomError(f"Zoom said {response.status_code}: {response.text[:300]}")
        return response

    async def create(self, parts: ics.BookingParts) -> Made:
        body = {
            "topic": f"{parts.service.title} with {parts.tutor.display_name}"[:MAX_TOPIC],
            "type": 2,  # scheduled
            **_when(parts),
        }
        response = await self.call("POST", "/users/me/meetings", body)
        try:
            data = response.json()
            return Made(str(data["id"]), str(data["join_url"]))
        except (ValueError, KeyError, TypeError):
            raise ZoomError("Zoom made a meeting without its id and join_url") from None

    async def move(self, meeting_id: str, parts: ics.BookingParts) -> None:
        await self.call("PATCH", f"/meetings/{meeting_id}", _when(parts))

    async def delete(self, meeting_id: str) -> None:
        await self.call("DELETE", f"/meetings/{meeting_id}", gone_ok=True)


def _when(parts: ics.BookingParts) -> dict[str, Any]:
    booking = parts.booking
    return {
        "start_time": booking.start_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration": int((booking.end_at - booking.start_at).total_seconds() // 60),
        "timezone": parts.tutor.time_zone,
    }


async def reconcile(ctx: JobContext, session: AsyncSession, parts: ics.BookingParts) -> bool:
    """Zoom shows the booking's current state: a meeting at its time while it is CONFIRMED
    (made only for services with meeting links, and only if it has no link yet), none
    otherwise. True when the booking's link changed."""
    if ctx.settings.zoom is None:
        return False
    booking = parts.booking
    meeting = await session.get(ExternalMeeting, booking.id)
    confirmed = booking.status == BookingStatus.CONFIRMED
    zoom = ZoomApi(ctx, ctx.settings.zoom)
    if meeting is None:
        if not confirmed or not parts.service.meeting_links or booking.meeting_url is not None:
            return False
        # Zoom has no idempotency key: were this job to die between Zoom's answer and its
        # commit, the retry would make a second meeting (the first stays unused).
        made = await zoom.create(parts)
        session.add(
            ExternalMeeting(
                booking_id=booking.id,
                provider=PROVIDER,
                meeting_id=made.meeting_id,
                start_at=booking.start_at,
                end_at=booking.end_at,
            )
        )
        booking.meeting_url = made.join_url
        session.add(booking)
        return True
    if confirmed:
        if (meeting.start_at, meeting.end_at) != (booking.start_at, booking.end_at):
            await zoom.move(meeting.meeting_id, parts)
            meeting.start_at, meeting.end_at = booking.start_at, booking.end_at
            session.add(meeting)
        return False
    await zoom.delete(meeting.meeting_id)
    await session.delete(meeting)
    booking.meeting_url = None  # the meeting is gone: no link to a dead room
    session.add(booking)
    return True
