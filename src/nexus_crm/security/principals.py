"""Who calls the API (an API key, a user's JWT or session cookie) and what each may do.

One permission model: a key holds scopes; a user holds the scopes of their role
(``ROLE_SCOPES``, docs/security.md). A JWT (``Authorization: Bearer``, sent only by code that
holds it) grants the role's scopes in full; a session cookie, which a browser sends on its
own, is capped at ``read`` and ``write``: no cookie grants ``ingest`` or ``admin``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.errors import Forbidden, Unauthorized
from nexus_crm.models import ApiKey
from nexus_crm.security import users
from nexus_crm.security.scopes import Scope, grants
from nexus_crm.security.sessions import read_session

ROLE_SCOPES: Mapping[str, frozenset[Scope]] = MappingProxyType(
    {
        "admin": frozenset({Scope.READ, Scope.WRITE, Scope.ADMIN}),  # admin implies ingest too
        "sales": frozenset({Scope.READ, Scope.WRITE}),
        "analyst": frozenset({Scope.READ}),
    }
)
SESSION_SCOPES = frozenset({Scope.READ, Scope.WRITE})  # the most any cookie can grant
_AGAIN = "log in again, or send 'Authorization: Bearer <key>'"


def scopes_for_role(role: str) -> frozenset[Scope]:
    """The scopes a user with ``role`` holds (with a JWT); none for an unknown role."""
    return ROLE_SCOPES.get(role, frozenset())


def session_scopes_for_role(role: str) -> frozenset[Scope]:
    """The scopes a dashboard session cookie of ``role`` grants (capped at read, write)."""
    return scopes_for_role(role) & SESSION_SCOPES


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its audit actor and whether a session cookie vouched for it."""

    actor: str  # "key:<prefix>" or "user:<email>"
    via_session: bool = False


def key_principal(key: ApiKey) -> Principal:
    """The principal of an API key, recorded as ``key:<prefix>``."""
    return Principal(actor=f"key:{key.prefix}")


async def authenticate_session(
    session: AsyncSession, *, secret: str, token: str, needed: Scope, now: datetime
) -> Principal:
    """The user of a session cookie if it grants ``needed``; else 401/403 (as for keys)."""
    claims = read_session(secret, token, now=now)
    if claims is None:
        raise Unauthorized(f"invalid or expired dashboard session: {_AGAIN}")
    user = await users.session_user(session, user_id=claims.user_id, epoch=claims.epoch)
    if user is None:
        raise Unauthorized(f"this dashboard session has ended (logout or disabled user): {_AGAIN}")
    if needed not in SESSION_SCOPES:
        raise Forbidden(
            f"a dashboard session never grants the {needed.value!r} scope: use an API key"
        )
    if not grants(set(session_scopes_for_role(user.role)), needed):
        raise Forbidden(f"the {user.role!r} role lacks the {needed.value!r} scope")
    return Principal(actor=f"user:{user.email}", via_session=True)


def _host_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return parts.netloc.lower() if parts.scheme in ("http", "https") and parts.netloc else None


def same_origin(headers: Mapping[str, str]) -> bool:
    """Whether ``Origin`` (else ``Referer``) names the host the request was sent to (CSRF)."""
    host = headers.get("host", "").strip().lower()
    source = headers.get("origin") or headers.get("referer") or ""
    return bool(host) and _host_of(source) == host
