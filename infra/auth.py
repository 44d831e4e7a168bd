"""Bearer tokens: HS256 JWTs with `sub` and `exp` (both required), `name`, `email`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from infra.text import unstorable

ALGORITHM = "HS256"


class AuthError(Exception):
    """The request carried a token we must refuse (never treated as anonymous)."""


@dataclass(frozen=True)
class Identity:
    sub: str
    name: str | None = None
    email: str | None = None


def mint_token(
    secret: str,
    sub: str,
    *,
    name: str | None = None,
    email: str | None = None,
    ttl: timedelta = timedelta(days=30),
    now: datetime | None = None,
) -> str:
    issued = now or datetime.now(UTC)
    claims: dict[str, object] = {"sub": sub, "iat": issued, "exp": issued + ttl}
    if name:
        claims["name"] = name
    if email:
        claims["email"] = email
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str, *, require_exp: bool = True) -> Identity:
    """The token's identity. A token must expire (`exp`) unless `require_exp` is off, which the
    AUTH_ALLOW_TOKENS_WITHOUT_EXP setting allows for local development only."""
    required = ["sub", "exp"] if require_exp else ["sub"]
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": required}, leeway=5
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("The token has expired") from None
    except jwt.MissingRequiredClaimError as exc:
        raise AuthError(f"The token has no {exc.claim} claim: tokens must carry one") from None
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"The token is not valid: {exc}") from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip() or len(sub) > 255:
        raise AuthError("The token's sub claim must be a non-empty string")
    name, email = claims.get("name"), claims.get("email")
    for claim, value in (("sub", sub), ("name", name), ("email", email)):
        # They become a student's profile: text the database cannot keep is refused here.
        if isinstance(value, str) and unstorable(value):
            raise AuthError(f"The token's {claim} claim holds a character that cannot be stored")
    return Identity(
        sub=sub,
        name=name if isinstance(name, str) and name.strip() else None,
        email=email if isinstance(email, str) and email.strip() else None,
    )


def identity_from_header(
    secret: str, header: str | None, *, require_exp: bool = True
) -> Identity | None:
    """None for no credentials; AuthError for credentials we cannot accept."""
    if header is None or not header.strip():
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Authorization must be 'Bearer <token>'")
    return decode_token(secret, token.strip(), require_exp=require_exp)
