"""Global IDs, the names objects go by outside: base64url of "Type:uuid". The API reads and
writes them (schema/node.py), and so do links in emails, built below the schema."""

from __future__ import annotations

import base64
import binascii
import uuid


def encode_id(type_name: str, pk: uuid.UUID) -> str:
    raw = f"{type_name}:{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


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
