"""Text PostgreSQL can store. Its `text` refuses NUL, and UTF-8 has no form for a lone surrogate
(JSON's "\\ud800" decodes to one in Python); either would fail deep in the driver."""

from __future__ import annotations

import re

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(value: str) -> str | None:
    """Why this text cannot be stored, or None when it can."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    return f"Text cannot contain the character U+{ord(found.group()):04X}: remove it"
