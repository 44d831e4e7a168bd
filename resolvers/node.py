"""node(id): any object by its global ID, under the same visibility rules as its own query."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from uuid import UUID

import strawberry
from strawberry.types import Info

from booking_api.context import Context
from resolvers.people import student_by_pk, tutor_by_pk
from schema.node import Node, decode_id

NodeLoader = Callable[[Info[Context, None], UUID], Awaitable[Node | None]]

NODE_LOADERS: dict[str, NodeLoader] = {
    "Tutor": tutor_by_pk,
    "Student": student_by_pk,
}


@strawberry.type
class Query:
    @strawberry.field
    async def node(self, info: Info[Context, None], id: strawberry.ID) -> Node | None:
        decoded = decode_id(id)
        if decoded is None or decoded[0] not in NODE_LOADERS:
            return None
        return await NODE_LOADERS[decoded[0]](info, decoded[1])
