"""Secrets we keep but must read back (a guest's manage token until its email goes out, a
tutor's Google refresh token) are stored encrypted: Fernet (AES-128-CBC with an HMAC-SHA256,
from `cryptography`) under DATA_ENCRYPTION_KEY.

Several keys may be given: the first encrypts, every one decrypts, so a new key can be put in
front while rows written under the old one are still read (`booking-api rotate-secrets`
re-encrypts them under the first; then the old key can go).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class BadKey(ValueError):
    """A key is not a Fernet key (32 url-safe base64-encoded bytes)."""


class Undecryptable(Exception):
    """Stored ciphertext that none of the keys opens: a key was dropped too early, or the row
    was altered."""


def new_key() -> str:
    return Fernet.generate_key().decode()


class Cipher:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise BadKey("at least one key is needed")
        fernets = []
        for n, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key))
            except ValueError:
                raise BadKey(
                    f"key {n} of {len(keys)} is not a Fernet key (32 url-safe base64-encoded bytes)"
                ) from None
        self._fernet = MultiFernet(fernets)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise Undecryptable("no DATA_ENCRYPTION_KEY opens this secret") from None

    def rotate(self, ciphertext: str) -> str:
        """The same secret, encrypted under the first key."""
        try:
            return self._fernet.rotate(ciphertext.encode()).decode()
        except InvalidToken:
            raise Undecryptable("no DATA_ENCRYPTION_KEY opens this secret") from None


def digest(secret: str) -> str:
    """What we keep of a secret we only need to recognise (an invitation token): its SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()
