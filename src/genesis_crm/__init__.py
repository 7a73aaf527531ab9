"""GENESIS-side client for NexusCRM; depends on httpx and the standard library only.

::

    from genesis_crm import track_agent_usage

    await track_agent_usage(user_id="cliente_123", agent_id="NEXUS", session_id="session_abc",
                            tokens_used=150, response_time_ms=1200, subscription_tier="pro")

Each call is committed to a local SQLite outbox before it returns (no network on the
caller's path); a background task delivers batches to NexusCRM, signed (Standard Webhooks),
retrying until they are accepted. See docs/genesis-client.md.
"""

from genesis_crm.client import GenesisCRM
from genesis_crm.default import (
    aclose,
    configure,
    flush,
    settings_from_env,
    track_agent_usage,
    track_subscription,
)
from genesis_crm.errors import (
    ClientClosedError,
    ConfigurationError,
    GenesisCRMError,
    InvalidEventError,
    OutboxFullError,
    OutboxLockedError,
)
from genesis_crm.outbox import Outbox
from genesis_crm.signing import sign_headers
from genesis_crm.sync import GenesisCRMSync

__all__ = (
    "ClientClosedError",
    "ConfigurationError",
    "GenesisCRM",
    "GenesisCRMError",
    "GenesisCRMSync",
    "InvalidEventError",
    "Outbox",
    "OutboxFullError",
    "OutboxLockedError",
    "aclose",
    "configure",
    "flush",
    "settings_from_env",
    "sign_headers",
    "track_agent_usage",
    "track_subscription",
)
