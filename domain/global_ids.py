"""The opaque global IDs the API shows (base64url of "Type:uuid"), for what the domain writes
out itself, such as webhook payloads; schema.node reads and writes them for the API."""

from __future__ import annotations

import base64
import uuid


def global_id(type_name: str, pk: uuid.UUID) -> str:
    raw = f"{type_name}:{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
