"""A Stripe-compatible test server: the endpoints we call, spoken the way Stripe speaks them.

Form-encoded bodies with bracketed keys, bearer-key authentication, idempotency keys (the same
key with other parameters is an error, as on Stripe), Stripe's error objects, and Checkout's
rule that a session expires 30 minutes to 24 hours after it is made. The tests reach it through
the real `stripe` library, and make the events Stripe would send when a payer pays or walks away.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
import stripe
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.routing import Route

from tests.helpers import CLOCK, pk
from tests.processes import free_port, serve_in_thread

API_KEY = "sk_test_" + "k" * 24
WEBHOOK_SECRET = "whsec_" + "w" * 32


def _nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`a[b][0][c]=v` pairs into nested dicts; numbered keys become lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def lists(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        if node and all(k.isdigit() for k in node):
            return [lists(node[k]) for k in sorted(node, key=int)]
        return {k: lists(v) for k, v in node.items()}

    result: dict[str, Any] = lists(root)
    return result


def _error(status: int, message: str, kind: str = "invalid_request_error", **extra: Any) -> Any:
    return JSONResponse({"error": {"type": kind, "message": message, **extra}}, status_code=status)


@dataclass
class FakeStripe:
    """State of the fake: sessions, refunds and what was asked, for the tests to inspect."""

    port: int = 0
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotency: dict[str, tuple[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    down: bool = False  # every API call answers 503, as when Stripe can't be reached
    # Where the hosted page (/pay/{id}) delivers checkout.session.completed when the payer pays.
    webhook_url: str | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        self.sessions.clear()
        self.refunds.clear()
        self.idempotency.clear()
        self.requests.clear()
        self.down = False
        self.webhook_url = None

    # ------------------------------------------------------------ the API

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/checkout/sessions", self._create_session, methods=["POST"]),
                Route("/v1/checkout/sessions/{id}", self._get_session, methods=["GET"]),
                Route("/v1/checkout/sessions/{id}/expire", self._expire, methods=["POST"]),
                Route("/v1/refunds", self._create_refund, methods=["POST"]),
                Route("/pay/{id}", self._checkout_page, methods=["GET"]),
                Route("/pay/{id}", self._pay_button, methods=["POST"]),
            ]
        )

    async def _call(self, request: Request, handle: Any) -> Any:
        body = (await request.body()).decode()
        key = request.headers.get("idempotency-key")
        self.requests.append((request.method, request.url.path, key))
        if self.down:
            return _error(503, "Stripe is unavailable", "api_error")
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return _error(401, "Invalid API Key provided", "invalid_request_error")
        if key is not None and key in self.idempotency:
            seen_body, response = self.idempotency[key]
            if seen_body != body:
                return _error(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters",
                    "idempotency_error",
                )
            return JSONResponse(response)
        result = handle(_nest(parse_qsl(body)), request.path_params)
        if isinstance(result, JSONResponse):
            return result
        if key is not None:
            self.idempotency[key] = (body, result)
        return JSONResponse(result)

    async def _create_session(self, request: Request) -> Any:
        return await self._call(request, self._new_session)

    def _new_session(self, params: dict[str, Any], _: Any) -> Any:
        if params.get("mode") != "payment":
            return _error(400, "mode must be payment", param="mode")
        for name in ("success_url", "cancel_url"):
            if not params.get(name):
                return _error(400, f"Missing required param: {name}.", param=name)
        now = int(CLOCK().timestamp())  # the tests' day, as the app sees it
        expires_at = int(params.get("expires_at") or now + 86400)
        if not now + 1800 <= expires_at <= now + 86400:
            return _error(
                400,
                "The `expires_at` timestamp must be between 30 minutes and 24 hours from now",
                param="expires_at",
            )
        items = params.get("line_items") or []
        if not items:
            return _error(400, "Missing required param: line_items.", param="line_items")
        currencies = {item["price_data"]["currency"] for item in items}
        if len(currencies) != 1:
            return _error(400, "All line items must use the same currency", param="line_items")
        session_id = "cs_test_" + secrets.token_hex(12)
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "payment",
            "status": "open",
            "payment_status": "unpaid",
            "url": f"{self.base}/pay/{session_id}",
            "amount_total": sum(
                int(i["price_data"]["unit_amount"]) * int(i.get("quantity", 1)) for i in items
            ),
            "currency": currencies.pop(),
            "client_reference_id": params.get("client_reference_id"),
            "customer_email": params.get("customer_email"),
            "metadata": params.get("metadata") or {},
            "payment_intent": None,
            "success_url": params["success_url"],
            "cancel_url": params["cancel_url"],
            "expires_at": expires_at,
            "line_items": items,
            "created": now,
        }
        self.sessions[session_id] = session
        return session

    async def _get_session(self, request: Request) -> Any:
        return await self._call(request, lambda _, path: self._session(path["id"]))

    def _session(self, session_id: str) -> Any:
        found = self.sessions.get(session_id)
        return found if found else _error(404, f"No such checkout.session: '{session_id}'")

    async def _expire(self, request: Request) -> Any:
        return await self._call(request, lambda _, path: self._close(path["id"]))

    def _close(self, session_id: str) -> Any:
        session = self.sessions.get(session_id)
        if session is None:
            return _error(404, f"No such checkout.session: '{session_id}'")
        if session["status"] != "open":
            return _error(
                400, f"Only open sessions can be expired: this one is {session['status']}"
            )
        session["status"] = "expired"
        return session

    async def _create_refund(self, request: Request) -> Any:
        return await self._call(request, self._new_refund)

    def _new_refund(self, params: dict[str, Any], _: Any) -> Any:
        intent = params.get("payment_intent")
        paid = [s for s in self.sessions.values() if s["payment_intent"] == intent]
        if not paid:
            return _error(400, f"No such payment_intent: '{intent}'", param="payment_intent")
        refunded = sum(r["amount"] for r in self.refunds.values() if r["payment_intent"] == intent)
        amount = int(params.get("amount") or paid[0]["amount_total"] - refunded)
        if amount <= 0 or refunded + amount > paid[0]["amount_total"]:
            return _error(400, "Refund amount is greater than what is left", param="amount")
        refund_id = "re_test_" + secrets.token_hex(12)
        refund = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "currency": paid[0]["currency"],
            "payment_intent": intent,
            "status": "succeeded",
            "metadata": params.get("metadata") or {},
        }
        self.refunds[refund_id] = refund
        return refund

    # ------------------------------------------------------------ the hosted Checkout page

    async def _checkout_page(self, request: Request) -> Any:
        """What the payer sees at the session's url: the amount and a Pay button."""
        session = self.sessions.get(request.path_params["id"])
        if session is None:
            return HTMLResponse("No such session", status_code=404)
        amount = f"{session['amount_total'] / 100:.2f} {session['currency'].upper()}"
        return HTMLResponse(
            f'<!doctype html><html lang="en"><title>Fake Checkout</title><h1>Pay {amount}</h1>'
            f'<form method="post"><button id="pay">Pay</button></form></html>'
        )

    async def _pay_button(self, request: Request) -> Any:
        """The payer pays: the webhook goes to the app, then the payer goes back."""
        session_id = request.path_params["id"]
        event = self.pay(session_id)
        assert self.webhook_url is not None, "set FakeStripe.webhook_url to pay on the page"
        body, headers = signed(event)
        async with httpx.AsyncClient() as client:
            delivered = await client.post(self.webhook_url, content=body, headers=headers)
        delivered.raise_for_status()
        back = self.sessions[session_id]["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
        return RedirectResponse(back, status_code=303)

    # ------------------------------------------------------------ what Stripe would send

    def pay(self, session_id: str) -> dict[str, Any]:
        """The payer pays: the session completes, and the event Stripe sends about it."""
        session = self.sessions[session_id]
        session.update(
            status="complete",
            payment_status="paid",
            payment_intent=session["payment_intent"] or "pi_test_" + secrets.token_hex(12),
        )
        return self.event("checkout.session.completed", session)

    def walk_away(self, session_id: str) -> dict[str, Any]:
        session = self.sessions[session_id]
        session["status"] = "expired"
        return self.event("checkout.session.expired", session)

    @staticmethod
    def event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": "evt_test_" + secrets.token_hex(12),
            "object": "event",
            "type": kind,
            "created": int(CLOCK().timestamp()),
            "data": {"object": dict(obj)},
        }


def signed(event: dict[str, Any], secret: str = WEBHOOK_SECRET, at: int | None = None) -> Any:
    """The body and headers of a webhook delivery, signed as Stripe signs them."""
    body = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=at)
    return body, {"Stripe-Signature": header, "Content-Type": "application/json"}


def start() -> tuple[FakeStripe, uvicorn.Server]:
    """The fake, serving on a free loopback port in a thread of its own."""
    fake = FakeStripe(port=free_port())
    return fake, serve_in_thread(fake.app(), fake.port)


def session_of(fake: FakeStripe, booking_id: str) -> dict[str, Any]:
    [found] = [
        s for s in fake.sessions.values() if s["metadata"].get("booking_id") == str(pk(booking_id))
    ]
    return found


async def deliver(http: httpx.AsyncClient, event: dict[str, Any], **sign: Any) -> httpx.Response:
    body, headers = signed(event, **sign)
    return await http.post("/webhooks/stripe", content=body, headers=headers)


async def outcome(http: httpx.AsyncClient, event: dict[str, Any]) -> str:
    response = await deliver(http, event)
    assert response.status_code == 200, response.text
    return str(response.json()["outcome"])
