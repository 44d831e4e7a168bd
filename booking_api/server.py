"""`booking-api serve`'s HTTP protocol: uvicorn's, with a deadline to receive each request.

uvicorn 0.54 has no request read timeout (measured): its keep-alive timer is armed only after a
response and is cancelled by any byte, so a client that connects and sends nothing, or dribbles
a header or a body, holds its socket and its task for ever; and httptools accepts a request head
of any size (50 MB of headers grew the process by 50 MB). This protocol closes a connection
whose request is not complete REQUEST_READ_TIMEOUT seconds after the connection or the request's
first byte, and answers 431 to a head over MAX_HEAD_BYTES. A proxy in front should enforce its
own limits as well (README, Production).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from infra.settings import HttpLimits, Settings

# Request line and headers; what a browser or a GraphQL client sends is a few kilobytes.
MAX_HEAD_BYTES = 64 * 1024


@functools.cache
def _limits() -> HttpLimits:
    # uvicorn makes the protocol itself, in each worker process: settings come from the same
    # environment as the app's.
    return Settings.from_env().http


class GuardedHttpProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_deadline: asyncio.TimerHandle | None = None
        # Bytes received of the request head being read; None between heads.
        self.head_bytes: int | None = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a client that connects and sends nothing is cut off too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.head_bytes is not None:  # a head still incomplete after these bytes
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD_BYTES:
                self._refuse(431, "Request header fields too large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.head_bytes is None:
            self.head_bytes = 0
        if self.read_deadline is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self.head_bytes = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._disarm()
        super().handle_websocket_upgrade()

    def _arm(self) -> None:
        self._disarm()
        self.read_deadline = self.loop.call_later(_limits().read_timeout, self._expired)

    def _disarm(self) -> None:
        if self.read_deadline is not None:
            self.read_deadline.cancel()
            self.read_deadline = None

    def _expired(self) -> None:
        self.read_deadline = None
        if self.head_bytes is not None:
            self._refuse(408, "Request timeout")
        else:
            # The app has the request and is waiting for its body: it sees a disconnect.
            self.transport.close()

    def _refuse(self, status: int, message: str) -> None:
        self._disarm()
        answering = self.cycle is not None and not self.cycle.response_complete
        if not answering and not self.transport.is_closing():  # not amid a pipelined response
            body = message.encode()
            self.transport.write(
                STATUS_LINE[status]
                + b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
                + b"content-length: %d\r\n\r\n" % len(body)
                + body
            )
        self.transport.close()
