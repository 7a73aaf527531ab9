"""Module-level functions, configured by the seed's environment variables.

``CRM_BASE_URL``, ``CRM_WEBHOOK_SECRET``, ``CRM_INTEGRATION_ENABLED`` (default true; false
makes every call a validating no-op), and optionally ``CRM_OUTBOX_PATH`` (default
``genesis_crm_outbox.db`` in the working directory), ``CRM_BATCH_SIZE``,
``CRM_FLUSH_INTERVAL`` and ``CRM_MAX_OUTBOX_EVENTS``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from genesis_crm.client import GenesisCRM
from genesis_crm.errors import ConfigurationError


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    if raw.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if raw.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be true or false, got {raw!r}")


def _env_number(name: str, kind: type[int] | type[float]) -> dict[str, Any]:
    """``{keyword: value}`` from CRM_<KEYWORD> when set (CRM_BATCH_SIZE → batch_size)."""
    raw = os.environ.get(name)
    if not raw:
        return {}
    try:
        return {name.removeprefix("CRM_").lower(): kind(raw)}
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None


def settings_from_env() -> dict[str, Any]:
    """GenesisCRM keyword arguments read from the environment."""
    enabled = _env_bool("CRM_INTEGRATION_ENABLED", True)
    kwargs: dict[str, Any] = {
        "base_url": os.environ.get("CRM_BASE_URL", ""),
        "secret": os.environ.get("CRM_WEBHOOK_SECRET", ""),
        "outbox_path": os.environ.get("CRM_OUTBOX_PATH", "genesis_crm_outbox.db"),
        "enabled": enabled,
    }
    kwargs |= _env_number("CRM_BATCH_SIZE", int) | _env_number("CRM_FLUSH_INTERVAL", float)
    kwargs |= _env_number("CRM_MAX_OUTBOX_EVENTS", int)
    if enabled and not (kwargs["base_url"] and kwargs["secret"]):
        raise ConfigurationError(
            "set CRM_BASE_URL and CRM_WEBHOOK_SECRET (or CRM_INTEGRATION_ENABLED=false)"
        )
    return kwargs


class _Shared:
    """The client the module-level functions share, its event loop, and configure()'s settings."""

    def __init__(self) -> None:
        self.client: GenesisCRM | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.overrides: Mapping[str, Any] = MappingProxyType({})

    def configure(self, overrides: Mapping[str, Any]) -> None:
        """Use ``overrides`` from the next call on (the current client is abandoned)."""
        if self.client is not None:
            self.client.abandon()
            self.client = None
        self.overrides = MappingProxyType(dict(overrides))

    def current(self) -> GenesisCRM:
        """The client of the running event loop (recreated if the loop changed)."""
        loop = asyncio.get_running_loop()
        if self.client is not None and self.loop is not loop:
            self.client.abandon()  # its loop is gone; its items stay in the outbox
            self.client = None
        if self.client is None:
            # configure()'s settings win over the environment's.
            self.client = GenesisCRM(**{**settings_from_env(), **self.overrides})
            self.loop = loop
        return self.client

    def take(self) -> GenesisCRM | None:
        """The client, which is no longer shared (None when there is none)."""
        client, self.client, self.loop = self.client, None, None
        return client


# The module-level functions are one process-wide client by design (the seed's API).
_shared = _Shared()


def configure(**kwargs: Any) -> None:
    """Override environment settings for the module-level functions (e.g. outbox_path)."""
    _shared.configure(kwargs)


def _default() -> GenesisCRM:
    """The shared client of the running event loop (recreated if the loop changed)."""
    return _shared.current()


async def track_agent_usage(
    *,
    user_id: str,
    agent_id: str,
    session_id: str,
    tokens_used: int,
    response_time_ms: int,
    subscription_tier: str,
    timestamp: datetime | None = None,
    metadata: dict[str, Any] | None = None,
) -> str:
    """Record one agent interaction (the seed's call); return its ``event_id``."""
    return await _default().track_agent_usage(
        user_id=user_id,
        agent_id=agent_id,
        session_id=session_id,
        tokens_used=tokens_used,
        response_time_ms=response_time_ms,
        subscription_tier=subscription_tier,
        timestamp=timestamp,
        metadata=metadata,
    )


async def track_subscription(
    *,
    user_id: str,
    tier: str,
    status: str = "active",
    email: str | None = None,
    name: str | None = None,
    timestamp: datetime | None = None,
) -> None:
    """Record a customer's subscription tier and status."""
    await _default().track_subscription(
        user_id=user_id, tier=tier, status=status, email=email, name=name, timestamp=timestamp
    )


async def flush(timeout: float = 10.0) -> int:
    """Deliver what is pending, waiting up to ``timeout`` s; return items still pending."""
    return await _default().flush(timeout)


async def aclose(timeout: float = 5.0) -> None:
    """Flush for up to ``timeout`` s and close the shared client."""
    client = _shared.take()
    if client is not None:
        await client.aclose(timeout)
