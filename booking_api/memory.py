"""Memory given back after large request bodies (whose size Starlette's `max_body_size` limits,
set in app.build_app)."""

from __future__ import annotations

import gc

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ReclaimAfterBodies:
    """A full garbage collection after every `every` bytes of request bodies received.

    graphql-core leaves each operation's execution context in a reference cycle that holds the
    operation's variables and our Context (with the request and its body), so only the cyclic
    collector frees them; with the collector tuned for throughput (create_app) that took
    thousands of requests: 200 bodies of 1 MB left the process 130-315 MB larger. Start-up
    objects are frozen, so a full collection scans only what requests left behind (1-3 ms).
    """

    def __init__(self, app: ASGIApp, every: int) -> None:
        self.app = app
        self.every = every
        self.received = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counted() -> Message:
            message = await receive()
            self.received += len(message.get("body", b""))
            return message

        try:
            await self.app(scope, counted, send)
        finally:
            if self.received >= self.every:
                self.received = 0
                gc.collect()
