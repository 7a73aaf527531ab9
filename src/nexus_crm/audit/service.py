"""Record mutations in the append-only audit trail and read it back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.audit import repository
from nexus_crm.audit.context import source_ip
from nexus_crm.audit.schemas import AuditEntryOut
from nexus_crm.errors import InvalidInput
from nexus_crm.kit.ids import uuid7
from nexus_crm.kit.time import clamped_utc, utcnow
from nexus_crm.models import AuditEntry

# Words that never belong in an audit row: a caller that passes one is a bug, caught here.
SECRET_KEYS = frozenset({"password", "token", "secret", "api_key", "key_plaintext", "cookie"})


def _check_details(details: Mapping[str, Any]) -> dict[str, Any]:
    leaked = sorted(k for k in details if k.lower() in SECRET_KEYS)
    if leaked:
        raise ValueError(f"audit details must not carry secrets: {leaked}")
    return dict(details)


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    target: str,
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Append one audit row in the caller's transaction (source IP from the request)."""
    entry = AuditEntry(
        at=at or utcnow(),
        actor=actor[:200],
        action=action[:64],
        target=target[:300],
        source_ip=source_ip.get(),
        details=_check_details(details or {}),
    )
    await repository.add(session, entry)


async def record_many(session: AsyncSession, entries: Sequence[Mapping[str, Any]]) -> None:
    """Append many rows at once; each mapping has actor, action, target, at and details."""
    ip = source_ip.get()
    rows = [
        {
            "id": uuid7(),
            "at": e["at"],
            "actor": str(e["actor"])[:200],
            "action": str(e["action"])[:64],
            "target": str(e["target"])[:300],
            "source_ip": ip,
            "details": _check_details(e.get("details") or {}),
        }
        for e in entries
    ]
    await repository.add_many(session, rows)


async def search_audit(
    session: AsyncSession,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[AuditEntryOut]:
    """Audit rows matching the filters, newest first."""
    since = None if since is None else clamped_utc(since)
    until = None if until is None else clamped_utc(until)
    if since is not None and until is not None and since >= until:
        raise InvalidInput("since must be before until", field="since")
    rows = await repository.search(
        session, actor=actor, action=action, target=target, since=since, until=until, limit=limit
    )
    return [AuditEntryOut.model_validate(r) for r in rows]
