"""Short-lived JWTs (HS256) for users' scripts: issue with a password, refresh once, verify.

An access token names the user (``sub``: id, no email), role, scopes and the user's
``session_epoch``; a password change, a logout everywhere or disabling the user bumps the
epoch, which voids every token issued before. A refresh token also carries the user's
``token_generation``: using it moves the counter on (compare-and-set), so each refresh token
works once, and a new login voids older refresh tokens (one refresh chain per user).
The role is read from the database on every request, so a token never outranks its user.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import jwt
from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.audit import service as audit
from nexus_crm.errors import Forbidden, Unauthorized
from nexus_crm.models import DashboardUser
from nexus_crm.security import user_repository as repo
from nexus_crm.security import users
from nexus_crm.security.principals import Principal, key_principal, scopes_for_role
from nexus_crm.security.scopes import Scope, grants
from nexus_crm.security.service import KEY_PREFIX, authenticate
from nexus_crm.settings import Settings

ALGORITHM = "HS256"
ISSUER = "nexus-crm"
AUDIENCE = "nexus-crm-api"
TokenType = Literal["access", "refresh"]
_REQUIRED = ("exp", "iat", "iss", "aud", "sub", "jti", "typ", "epoch")
_LOGIN = "POST /agent-usage/auth/token"
_REVOKED = (
    f"this token was revoked (password change, logout or disabled user): get a new one at {_LOGIN}"
)


@dataclass(frozen=True)
class TokenPair:
    """An access token and the refresh token that renews it, with their lifetimes."""

    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    scopes: list[str]


def signing_key(settings: Settings) -> bytes:
    """JWT_SECRET, else a key derived from SESSION_SECRET (never the cookie key itself)."""
    if settings.jwt_secret:
        return settings.jwt_secret.encode()
    return hmac.new(settings.session_secret.encode(), b"nexus-crm/jwt/v1", hashlib.sha256).digest()


def _encode(
    settings: Settings, user: DashboardUser, typ: TokenType, now: datetime, generation: int
) -> str:
    ttl = settings.jwt_access_ttl_seconds if typ == "access" else settings.jwt_refresh_ttl_seconds
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(user.id),
        "typ": typ,
        "epoch": user.session_epoch,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl)).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    if typ == "access":
        claims |= {"role": user.role, "scopes": sorted(scopes_for_role(user.role))}
    else:
        claims["gen"] = generation
    return jwt.encode(claims, signing_key(settings), algorithm=ALGORITHM)


def _pair(settings: Settings, user: DashboardUser, now: datetime, generation: int) -> TokenPair:
    # The generation comes from the atomic UPDATE, not the (stale) ORM attribute.
    return TokenPair(
        access_token=_encode(settings, user, "access", now, generation),
        expires_in=settings.jwt_access_ttl_seconds,
        refresh_token=_encode(settings, user, "refresh", now, generation),
        refresh_expires_in=settings.jwt_refresh_ttl_seconds,
        scopes=sorted(scopes_for_role(user.role)),
    )


def decode_token(settings: Settings, token: str, typ: TokenType) -> dict[str, Any]:
    """The claims of a well-signed, unexpired token of type ``typ``; else 401 saying why."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            signing_key(settings),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": list(_REQUIRED)},
        )
    except jwt.ExpiredSignatureError:
        again = "POST /agent-usage/auth/refresh" if typ == "access" else _LOGIN
        raise Unauthorized(f"the {typ} token has expired: get a new one at {again}") from None
    except jwt.InvalidTokenError:
        what = "API key or access token" if typ == "access" else "refresh token"
        raise Unauthorized(f"not a valid {what}: get a token at {_LOGIN}") from None
    if claims.get("typ") != typ:
        kind = "an access" if typ == "access" else "a refresh"
        raise Unauthorized(f"this is not {kind} token: send the {typ}_token of {_LOGIN}")
    return claims


async def _token_user(
    session: AsyncSession, settings: Settings, token: str, typ: TokenType
) -> tuple[dict[str, Any], DashboardUser]:
    """A token's claims and the live user it names, if not revoked since; else 401."""
    claims = decode_token(settings, token, typ)
    try:
        user_id, epoch = uuid.UUID(str(claims["sub"])), int(claims["epoch"])
    except (ValueError, TypeError):
        raise Unauthorized(f"invalid token: get a new one at {_LOGIN}") from None
    user = await users.session_user(session, user_id=user_id, epoch=epoch)
    if user is None:
        raise Unauthorized(_REVOKED)
    return claims, user


async def _issued(
    session: AsyncSession,
    settings: Settings,
    user: DashboardUser,
    now: datetime,
    generation: int,
    grant: str,
) -> TokenPair:
    """The new pair of ``user``, audited as issued (password) or refreshed (refresh_token)."""
    action = "auth.token_issued" if grant == "password" else "auth.token_refreshed"
    await audit.record(
        session,
        actor=f"user:{user.email}",
        action=action,
        target=f"user:{user.email}",
        details={"role": user.role, "grant": grant},
    )
    return _pair(settings, user, now, generation)


async def issue_tokens(
    session: AsyncSession, *, settings: Settings, email: str, password: str, now: datetime
) -> TokenPair | None:
    """A new token pair for an active user's credentials (audited); None if they are wrong."""
    user = await users.authenticate_user(session, email=email, password=password, now=now)
    if user is None:
        await audit.record(
            session,
            actor="system:auth",
            action="auth.token_refused",
            target=f"user:{email.strip().lower()[:254]}",
            details={"reason": "bad_credentials"},
        )
        return None
    generation = await repo.next_token_generation(session, user.id)
    return await _issued(session, settings, user, now, generation or 0, "password")


async def refresh_tokens(
    session: AsyncSession, *, settings: Settings, refresh_token: str, now: datetime
) -> TokenPair:
    """A new pair for a refresh token, which stops working (audited); 401 if not usable."""
    claims, user = await _token_user(session, settings, refresh_token, "refresh")
    generation = claims.get("gen")
    if not isinstance(generation, int):
        raise Unauthorized(f"invalid refresh token: get a new one at {_LOGIN}")
    new = await repo.next_token_generation(session, user.id, expected=generation)
    if new is None:
        raise Unauthorized(
            "this refresh token was already used or replaced by a newer login "
            f"(each works once): get a new one at {_LOGIN}"
        )
    return await _issued(session, settings, user, now, new, "refresh_token")


async def authenticate_access(
    session: AsyncSession, *, settings: Settings, token: str, needed: Scope
) -> Principal:
    """The user of an access token if both the token and the user's role grant ``needed``."""
    claims, user = await _token_user(session, settings, token, "access")
    if not grants(set(scopes_for_role(user.role)), needed):
        raise Forbidden(f"the {user.role!r} role lacks the {needed.value!r} scope")
    held = claims.get("scopes")
    token_scopes = [s for s in held if isinstance(s, str)] if isinstance(held, list) else []
    if not grants(token_scopes, needed):  # issued before the user's role grew
        raise Forbidden(f"this token lacks the {needed.value!r} scope: get a new one at {_LOGIN}")
    return Principal(actor=f"user:{user.email}")


async def authenticate_bearer(
    session: AsyncSession, *, settings: Settings, token: str, needed: Scope
) -> Principal:
    """An API key (``ncrm_…``), else a user's access token, granting ``needed``; else 401/403."""
    if token.startswith(KEY_PREFIX):
        return key_principal(await authenticate(session, token, needed))
    return await authenticate_access(session, settings=settings, token=token, needed=needed)
