"""API keys: create (shown once), authenticate, list, revoke."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.audit.service import record
from nexus_crm.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from nexus_crm.kit.time import utcnow
from nexus_crm.models import ApiKey
from nexus_crm.security import repository
from nexus_crm.security.scopes import Scope, grants

KEY_PREFIX = "ncrm_"
CLI_ACTOR = "system:cli"  # the actor of changes made from the command line


def hash_key(plaintext: str) -> str:
    """SHA-256 of a key: keys are 190-bit random, so a fast hash is enough to store them."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


async def create_api_key(
    session: AsyncSession, *, name: str, scopes: Sequence[str], actor: str = CLI_ACTOR
) -> tuple[ApiKey, str]:
    """Create a key with ``scopes`` (audited); return the row and the plaintext (never stored)."""
    if not name.strip():
        raise InvalidInput("a key needs a name", field="name")
    unknown = [s for s in scopes if s not in Scope.__members__.values()]
    if unknown or not scopes:
        valid = ", ".join(s.value for s in Scope)
        raise InvalidInput(f"scopes must be some of: {valid}", field="scope")
    prefix = secrets.token_hex(4)
    plaintext = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(24)}"
    row = ApiKey(
        name=name.strip(), prefix=prefix, key_hash=hash_key(plaintext), scopes=sorted(set(scopes))
    )
    await repository.add_key(session, row)
    details = {"name": row.name, "scopes": row.scopes}
    await record(session, actor=actor, action="key.create", target=f"key:{prefix}", details=details)
    return row, plaintext


async def authenticate(session: AsyncSession, plaintext: str, needed: Scope) -> ApiKey:
    """Return the live key for ``plaintext`` if it grants ``needed``; else 401/403."""
    key = await repository.get_by_hash(session, hash_key(plaintext))
    if key is None or key.revoked_at is not None:
        raise Unauthorized("invalid or revoked API key")
    if not grants(key.scopes, needed):
        raise Forbidden(f"this API key lacks the {needed.value!r} scope")
    return key


async def list_api_keys(session: AsyncSession) -> Sequence[ApiKey]:
    """All keys (without secrets)."""
    return await repository.list_keys(session)


async def revoke_api_key(session: AsyncSession, ident: str, *, actor: str = CLI_ACTOR) -> None:
    """Revoke a key by id or prefix (audited); 404 if no live key matches."""
    if await repository.revoke(session, ident, utcnow()) == 0:
        raise NotFound(f"no live API key with id or prefix {ident!r}")
    await record(session, actor=actor, action="key.revoke", target=f"key:{ident}")
