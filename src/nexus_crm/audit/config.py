"""Settings changes in the audit trail: configuration lives in the environment, so a change
takes effect at a restart; each start compares the running settings with the last recorded
ones and records the difference (secrets never included)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.audit import repository
from nexus_crm.audit.service import record
from nexus_crm.settings import Settings

ACTION = "settings.changed"
ACTOR = "system:startup"
SECRET_FIELDS = frozenset(
    {
        "genesis_webhook_secret",
        "session_secret",
        "jwt_secret",
        "smtp_password",
        "upsell_webhook_secret",
        "nexus_crm_api_key",
        "privacy_hash_key",
    }
)


def _redact_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not sep or not at:
        return url
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


def _is_secret(name: str) -> bool:
    return name in SECRET_FIELDS or any(w in name for w in ("secret", "password", "api_key"))


def snapshot(settings: Settings) -> dict[str, Any]:
    """The settings as JSON values, secrets left out and database passwords masked."""
    secret = {n for n in type(settings).model_fields if _is_secret(n)}
    values = settings.model_dump(mode="json", exclude=secret)
    for name in ("database_url", "redis_url"):
        if isinstance(values.get(name), str):
            values[name] = _redact_url(values[name])
    return values


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each setting whose value differs, with its old and new value."""
    names = sorted(set(before) | set(after))
    return {
        n: {"from": before.get(n), "to": after.get(n)}
        for n in names
        if before.get(n) != after.get(n)
    }


async def record_settings_change(session: AsyncSession, settings: Settings) -> bool:
    """Record the settings if they differ from the last recorded ones; whether it did."""
    current = snapshot(settings)
    rows = await repository.search(
        session, actor=None, action=ACTION, target=None, since=None, until=None, limit=1
    )
    last = rows[0] if rows else None
    previous: dict[str, Any] = {} if last is None else dict(last.details.get("settings", {}))
    changed = diff(previous, current)
    if not changed:
        return False
    details = {"changed": changed if previous else sorted(changed), "settings": current}
    await record(session, actor=ACTOR, action=ACTION, target="settings:server", details=details)
    return True
