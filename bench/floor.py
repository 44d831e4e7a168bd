"""The fan-out floor: a bare websocket broadcast of the same bytes, no GraphQL.

    python -m bench.floor --port 8790 --broker URL --channel slots:<tutor id>

A Starlette app under uvicorn that speaks just enough graphql-transport-ws for bench.live's
subscribers (connection_ack, then `next` messages), listens on the broker as our servers do,
and writes each event, as the `next` message our server would send, to every socket: the
cost of the broker, the websocket writes and the event loop, which no server can go under.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bench.listen import listen
from tests.live_client import PROTOCOL


def frame(message: str) -> str:
    """The `next` payload our server writes for this slot change (resolvers/events.py)."""
    change = json.loads(message)
    event = {
        "kind": change["kind"],
        "tutorId": change["tutor"],
        "serviceId": change["service"],
        "start": datetime.fromisoformat(change["start"]).isoformat(),
        "end": datetime.fromisoformat(change["end"]).isoformat(),
    }
    return json.dumps({"data": {"slotEvents": event}}, separators=(",", ":"))


def app(broker: str, channel: str) -> Starlette:
    sockets: dict[WebSocket, str] = {}

    async def deliver(message: str) -> None:
        payload = frame(message)
        for ws, op in list(sockets.items()):
            head = json.dumps({"id": op, "type": "next"}, separators=(",", ":"))[:-1]
            try:
                await ws.send_text(f'{head},"payload":{payload}}}')
            except (WebSocketDisconnect, RuntimeError):
                sockets.pop(ws, None)

    async def endpoint(ws: WebSocket) -> None:
        await ws.accept(subprotocol=PROTOCOL)
        try:
            await ws.receive_text()  # connection_init
            await ws.send_text('{"type":"connection_ack"}')
            subscribe = json.loads(await ws.receive_text())
            sockets[ws] = subscribe["id"]
            while True:
                await ws.receive_text()
        except WebSocketDisconnect:
            sockets.pop(ws, None)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        events: asyncio.Queue[str] = asyncio.Queue()

        async def pump() -> None:
            while True:
                await deliver(await events.get())

        pumping = asyncio.create_task(pump())
        async with listen(broker, channel, events.put_nowait):
            yield
        pumping.cancel()

    return Starlette(routes=[WebSocketRoute("/graphql", endpoint)], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--broker", required=True)
    parser.add_argument("--channel", required=True)
    args = parser.parse_args()
    # The websocket settings of `booking-api serve` (booking_api/cli.py).
    uvicorn.run(
        app(args.broker, args.channel),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        ws="websockets-sansio",
        ws_per_message_deflate=False,
    )


if __name__ == "__main__":
    main()
