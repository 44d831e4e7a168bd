"""The Node interface and its opaque global IDs: base64url of "Type:uuid"."""

from __future__ import annotations

import base64
import binascii
import uuid

import strawberry
from strawberry.types import Info

from domain.global_ids import global_id


def encode_id(type_name: str, pk: uuid.UUID) -> strawberry.ID:
    return strawberry.ID(global_id(type_name, pk))


def decode_id(value: str) -> tuple[str, uuid.UUID] | None:
    """The type name and key of a global ID, or None when it is not one of ours."""
    if not value or len(value) > 120:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        type_name, _, key = raw.partition(":")
        return type_name, uuid.UUID(key)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


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
