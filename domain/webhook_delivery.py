"""Delivering webhooks: the rows an event writes, the job that POSTs one delivery (signed the
Standard Webhooks way, to a vetted and pinned address), its retries, the order of a subject's
deliveries, and deactivating an endpoint that has failed for three days.

Each attempt is one outbox job. The job records the attempt's outcome on the delivery and, when
it failed, writes the next attempt's job after the outbox's backoff, up to the job attempt limit
(JOB_MAX_ATTEMPTS); then the delivery is FAILED. The body and the webhook-id stay the same on
every attempt; webhook-timestamp is the attempt's own time.

Order: a delivery whose subject (a booking) has an earlier delivery to the same endpoint still
PENDING parks itself (`waiting`); a delivery that is done (DELIVERED or FAILED) starts the next
one of its subject. Both sides lock the later delivery's row, so neither misses the other.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import SplitResult, urlsplit

import httpx
from sqlalchemy import func, insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from standardwebhooks import Webhook

from domain import notifications, organizations, outbox, webhook_targets
from domain.outbox import JobContext
from domain.webhook_targets import IPAddress, Refused
from infra.db import UnitOfWork
from infra.settings import WebhookSettings
from models import Tutor, WebhookDelivery, WebhookEndpoint
from models.organizations import MANAGERS
from models.webhooks import WebhookDeliveryStatus, WebhookEventType

PENDING, DELIVERED, FAILED = (
    WebhookDeliveryStatus.PENDING,
    WebhookDeliveryStatus.DELIVERED,
    WebhookDeliveryStatus.FAILED,
)
# An endpoint with no success for this long since its first failure is deactivated.
FAILING_LIMIT = timedelta(days=3)
# What is read of a receiver's answer, and kept of it in `error`.
MAX_RESPONSE_BYTES = 4096
MAX_ERROR = 300


def message_id(delivery_id: uuid.UUID) -> str:
    """The webhook-id header (and WebhookDelivery.id): the same on every attempt."""
    return f"msg_{delivery_id.hex}"


# ---------------------------------------------------------------- writing deliveries


async def queue(
    session: UnitOfWork,
    endpoint_ids: list[uuid.UUID],
    event_type: WebhookEventType,
    subject_id: uuid.UUID | None,
    body: str,
    at: datetime,
) -> list[uuid.UUID]:
    """One delivery per endpoint (one statement), each with the job of its first attempt."""
    if not endpoint_ids:
        return []
    ids = [uuid.uuid4() for _ in endpoint_ids]
    rows = [
        {
            "id": delivery_id,
            "endpoint_id": endpoint_id,
            "event_type": event_type,
            "subject_id": subject_id,
            "body": body,
            "status": PENDING,
            "attempts": 0,
            "created_at": at,
        }
        for delivery_id, endpoint_id in zip(ids, endpoint_ids, strict=True)
    ]
    await session.exec(insert(WebhookDelivery).values(rows))
    for delivery_id in ids:
        outbox.add(session, DELIVER, {"delivery": str(delivery_id)}, at, now=at)
    return ids


# ---------------------------------------------------------------- one attempt over HTTP


@dataclass(frozen=True)
class Outcome:
    status: int | None = None  # the receiver's HTTP status; None: it never answered
    error: str | None = None
    final: bool = False  # a refused target: trying again cannot help

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _bounded(text: str) -> str:
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    return printable[:MAX_ERROR]


async def post(url: str, body: str, headers: dict[str, str], settings: WebhookSettings) -> Outcome:
    """POST the body to the endpoint: its host resolved and vetted now, the connection made to
    a vetted address, no redirects followed, at most 4 KB of the answer read, all within
    the timeout (WEBHOOK_TIMEOUT_SECONDS)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    allow_private, timeout = settings.allow_private_targets, settings.timeout_seconds
    try:
        async with asyncio.timeout(timeout):
            if parts.scheme != "https" and not allow_private:
                raise Refused("refused: webhook URLs must be https://")
            found = await webhook_targets.addresses(host, port, allow_private)
            return await _post_pinned(parts, host, port, found, body, headers)
    except Refused as refused:
        return Outcome(error=str(refused), final=True)
    except (httpx.InvalidURL, UnicodeError, ValueError) as error:  # a host httpx cannot use
        return Outcome(error=_bounded(f"refused: not a usable URL: {error}"), final=True)
    except TimeoutError:
        return Outcome(error=f"no answer within {timeout:g} s")
    except httpx.HTTPError as error:
        return Outcome(error=_bounded(f"{type(error).__name__}: {error}"))
    except OSError as error:  # the name does not resolve, or the network is down
        return Outcome(error=_bounded(f"could not reach {host}: {error}"))


async def _post_pinned(
    parts: SplitResult,
    host: str,
    port: int,
    found: list[IPAddress],
    body: str,
    headers: dict[str, str],
) -> Outcome:
    """Connect to the vetted addresses in turn (the first that accepts), never resolving the
    name again: the URL names the address, Host and TLS (SNI and the certificate's check)
    name the host."""
    default_port = port == (443 if parts.scheme == "https" else 80)
    named = host if default_port else f"{host}:{port}"
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    # trust_env off: a proxy from the environment would resolve the name itself.
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as client:
        for n, ip in enumerate(found):
            literal = f"[{ip}]" if ip.version == 6 else str(ip)
            pinned = parts._replace(netloc=f"{literal}:{port}").geturl()
            try:
                async with client.stream(
                    "POST",
                    pinned,
                    content=body.encode(),
                    headers={**headers, "Host": named, "Content-Type": "application/json"},
                    extensions=extensions,
                ) as response:
                    answer = bytearray()
                    async for chunk in response.aiter_bytes():
                        answer += chunk
                        if len(answer) >= MAX_RESPONSE_BYTES:
                            break
            except httpx.ConnectError:
                if n + 1 < len(found):
                    continue
                raise
            if 200 <= response.status_code < 300:
                return Outcome(status=response.status_code)
            said = bytes(answer[:MAX_RESPONSE_BYTES]).decode(errors="replace").strip()
            error = f"HTTP {response.status_code}" + (f": {said}" if said else "")
            return Outcome(status=response.status_code, error=_bounded(error))
    raise OSError(f"{host} has no addresses")  # not reached: `found` is never empty


def signed_headers(secret: str, delivery: WebhookDelivery, now: datetime) -> dict[str, str]:
    msg_id = message_id(delivery.id)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, delivery.body),
    }


# ---------------------------------------------------------------- the job


async def deliver(ctx: JobContext, session: UnitOfWork, job: dict[str, Any]) -> None:
    delivery = (
        await session.exec(
            select(WebhookDelivery)
            .where(WebhookDelivery.id == uuid.UUID(job["delivery"]))
            .with_for_update()
        )
    ).first()
    if delivery is None or delivery.status != PENDING:
        return  # its endpoint was deleted, or a repeat of a job already done
    endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id)
    if endpoint is None:
        return
    ping = delivery.event_type == WebhookEventType.PING
    refused = await _refused(session, endpoint, ping)
    if refused is not None:
        await _finish(session, delivery, FAILED, refused, ctx.now)
        return
    if await _earlier_pending(session, delivery):
        delivery.waiting = True
        session.add(delivery)
        return
    headers = signed_headers(ctx.cipher.decrypt(endpoint.secret), delivery, ctx.now)
    outcome = await post(endpoint.url, delivery.body, headers, ctx.settings.webhooks)
    delivery.attempts += 1
    delivery.response_status = outcome.status
    if outcome.delivered:
        delivery.delivered_at = ctx.now
        await _finish(session, delivery, DELIVERED, None, ctx.now)
        await _succeeded(session, endpoint.id, reactivate=ping)
        return
    if outcome.final or delivery.attempts >= ctx.settings.jobs.max_attempts:
        await _finish(session, delivery, FAILED, outcome.error, ctx.now)
    else:
        delivery.error = outcome.error
        session.add(delivery)
        due = ctx.now + outbox.backoff(delivery.attempts)
        outbox.add(session, DELIVER, {"delivery": str(delivery.id)}, due, now=ctx.now)
    await _failed(session, endpoint.id, ctx.now)


async def _refused(session: AsyncSession, endpoint: WebhookEndpoint, ping: bool) -> str | None:
    """Why this endpoint gets nothing now: deactivated (a PING still goes: it may bring the
    endpoint back), or made for an organization its owner no longer manages (which turns it
    off for good: its owner may no longer hear of the members' bookings)."""
    if endpoint.organization_id is not None:
        role = await organizations.role_of(session, endpoint.organization_id, endpoint.tutor_id)
        if role not in MANAGERS:
            endpoint.active = False
            session.add(endpoint)
            return "not sent: the endpoint's owner no longer manages its organization"
    if not endpoint.active and not ping:
        return "not sent: the endpoint is deactivated"
    return None


async def _earlier_pending(session: AsyncSession, delivery: WebhookDelivery) -> bool:
    if delivery.subject_id is None:
        return False
    earlier = await session.exec(
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.endpoint_id == delivery.endpoint_id,
            WebhookDelivery.subject_id == delivery.subject_id,
            WebhookDelivery.status == PENDING,
            col(WebhookDelivery.seq) < delivery.seq,
        )
        .limit(1)
    )
    return earlier.first() is not None


async def _finish(
    session: UnitOfWork,
    delivery: WebhookDelivery,
    status: WebhookDeliveryStatus,
    error: str | None,
    now: datetime,
) -> None:
    """The delivery is done; the next one of its subject, parked behind it, starts now."""
    delivery.status, delivery.error, delivery.waiting = status, error, False
    session.add(delivery)
    if delivery.subject_id is None:
        return
    following = (
        await session.exec(
            select(WebhookDelivery)
            .where(
                WebhookDelivery.endpoint_id == delivery.endpoint_id,
                WebhookDelivery.subject_id == delivery.subject_id,
                WebhookDelivery.status == PENDING,
                col(WebhookDelivery.seq) > delivery.seq,
            )
            .order_by(col(WebhookDelivery.seq))
            .limit(1)
            .with_for_update()
        )
    ).first()
    if following is not None and following.waiting:
        following.waiting = False
        session.add(following)
        outbox.add(session, DELIVER, {"delivery": str(following.id)}, now, now=now)


async def _succeeded(session: AsyncSession, endpoint_id: uuid.UUID, reactivate: bool) -> None:
    values: dict[str, Any] = {"failing_since": None}
    if reactivate:
        values["active"] = True
    await session.exec(
        update(WebhookEndpoint).where(col(WebhookEndpoint.id) == endpoint_id).values(**values)
    )


async def _failed(session: UnitOfWork, endpoint_id: uuid.UUID, now: datetime) -> None:
    """Failing since the first failure after the last success; three days of it, and the
    endpoint is deactivated (once: only the job that turns it off writes the email)."""
    since = (
        await session.exec(
            update(WebhookEndpoint)
            .where(col(WebhookEndpoint.id) == endpoint_id)
            .values(failing_since=func.coalesce(col(WebhookEndpoint.failing_since), now))
            .returning(col(WebhookEndpoint.failing_since))
        )
    ).scalar_one()
    if since is None or now - since < FAILING_LIMIT:
        return
    turned_off = await session.exec(
        update(WebhookEndpoint)
        .where(col(WebhookEndpoint.id) == endpoint_id, col(WebhookEndpoint.active))
        .values(active=False)
        .returning(col(WebhookEndpoint.id))
    )
    if turned_off.first() is not None:
        outbox.add(session, DEACTIVATED_EMAIL, {"endpoint": str(endpoint_id)}, now, now=now)


DELIVER = outbox.register("webhook.deliver", deliver)


# ---------------------------------------------------------------- telling the owner


async def send_deactivated(ctx: JobContext, session: AsyncSession, job: dict[str, Any]) -> None:
    endpoint = await session.get(WebhookEndpoint, uuid.UUID(job["endpoint"]))
    if endpoint is None or endpoint.active or ctx.mailer is None:
        return
    owner = await session.get(Tutor, endpoint.tutor_id)
    if owner is None or owner.email is None:
        return
    paragraphs: list[str | tuple[str, str]] = [
        f"Deliveries to your webhook endpoint {endpoint.url} have failed for "
        f"{FAILING_LIMIT.days} days, so it no longer receives events.",
        "Fix the receiver, then ping the endpoint (pingWebhookEndpoint): a delivered ping "
        "turns it back on. Events of the time it was off are not sent.",
    ]
    message = notifications.compose(
        ctx, owner.email, "Your webhook endpoint was deactivated", paragraphs
    )
    await ctx.mailer.send(message)


DEACTIVATED_EMAIL = outbox.register("email.webhook_deactivated", send_deactivated)
