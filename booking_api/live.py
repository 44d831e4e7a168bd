"""graphql-transport-ws with cohorts: Strawberry's handler, whose operation tasks each carry a
`Seat` (infra/cohorts.py) through which resolvers/live.py writes a cohort's frames to this
socket. Everything else (connection_init, limits, errors, complete) is Strawberry's own."""

from __future__ import annotations

from typing import Any

from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)

from infra.cohorts import SEAT, Seat
from schema.context import Context

PLACEHOLDER = "null}"


class CohortHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def run_operation(self, operation: Operation[Context, None]) -> None:
        # The `next` message as Strawberry writes it (its view's encode_json), to be completed
        # with a payload serialized once for the whole cohort.
        envelope = self.view.encode_json_string(
            {"id": operation.id, "type": "next", "payload": None}
        )
        assert envelope.endswith(PLACEHOLDER)
        head = envelope[: -len(PLACEHOLDER)]

        async def send(payload: str) -> None:
            if operation.completed:
                return
            await self._send_text(head + payload + "}")

        SEAT.set(Seat(operation.operation_name, operation.variables, self._encode, send))
        await super().run_operation(operation)

    def _encode(self, data: Any) -> str:
        return self.view.encode_json_string(data)

    async def _send_text(self, text: str) -> None:
        assert isinstance(self.websocket, ASGIWebSocketAdapter)
        try:
            await self.websocket.ws.send_text(text)
        except WebSocketDisconnect as error:
            raise WebSocketDisconnected from error
