"""The Node interface and its opaque global IDs (infra/ids.py)."""

from __future__ import annotations

import uuid
from functools import lru_cache

import strawberry
from strawberry.types import Info

from infra import ids
from infra.ids import decode_id as decode_id


# A listing names the same few objects many times over (a tutor in each of 1,500 slots).
@lru_cache(maxsize=4096)
def encode_id(type_name: str, pk: uuid.UUID) -> strawberry.ID:
    return strawberry.ID(ids.encode_id(type_name, pk))


def decode_id_of(value: str, type_name: str) -> uuid.UUID | None:
    decoded = decode_id(value)
    if decoded is None or decoded[0] != type_name:
        return None
    return decoded[1]


@strawberry.interface
class Node:
    pk: strawberry.Private[uuid.UUID]

    @strawberry.field
    def id(self, info: Info) -> strawberry.ID:
        return encode_id(str(info.path.typename), self.pk)
