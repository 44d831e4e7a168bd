"""secrets at rest: encrypt the Google refresh tokens and parked manage tokens stored in plain

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 12:00:00

No column changes: the ciphertext is text in the same columns. What changes is the rows written
before this revision, which the code from now on reads as ciphertext. They are encrypted here,
once, in the migration's transaction and under its advisory lock (migrations/env.py): every row
at revision 0006 is plaintext, so nothing has to guess which rows are which, and no process of
the new code can read a row before it is encrypted. (Encrypting at every start-up instead would
have to tell plaintext from ciphertext by trying to decrypt, and a wrong key would then make
every row look like plaintext and encrypt it a second time.)

The key is the one the service will read with: the caller's (`alembic_config(...)
.attributes["cipher"]`), else DATA_ENCRYPTION_KEY or the embedded data folder's key file, read
like the service does. It is asked for only when there are rows to encrypt, so building an empty
database needs no key.
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import context, op

from infra.crypto import Cipher
from infra.settings import Settings

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LINKS = sa.text("SELECT tutor_id, refresh_token FROM calendar_links")
PARKED = sa.text("SELECT id, payload FROM outbox WHERE kind = 'parked.token'")


def _cipher() -> Cipher:
    given = context.config.attributes.get("cipher")
    return given if isinstance(given, Cipher) else Settings.from_env().cipher()


def _convert(token_in: str, token_out: str, change: Callable[[Cipher, str], str]) -> None:
    bind = op.get_bind()
    links = bind.execute(LINKS).all()
    parked = bind.execute(PARKED).all()
    if not links and not parked:
        return
    cipher = _cipher()
    for tutor_id, refresh_token in links:
        # The access token is dropped rather than converted: the next sync gets a fresh one.
        bind.execute(
            sa.text(
                "UPDATE calendar_links SET refresh_token = :token, access_token = NULL, "
                "access_expires_at = NULL WHERE tutor_id = :id"
            ),
            {"token": change(cipher, refresh_token), "id": tutor_id},
        )
    for job_id, payload in parked:
        bind.execute(
            sa.text(
                "UPDATE outbox SET payload = jsonb_build_object(CAST(:key AS text), "
                "CAST(:token AS text)) WHERE id = :id"
            ),
            {"key": token_out, "token": change(cipher, payload[token_in]), "id": job_id},
        )


def upgrade() -> None:
    _convert("token", "encrypted_token", Cipher.encrypt)


def downgrade() -> None:
    _convert("encrypted_token", "token", Cipher.decrypt)
