"""Exceptions raised by ``genesis_crm``; all derive from :class:`GenesisCRMError`.

::

    GenesisCRMError
    ├── ConfigurationError   missing/invalid base URL, secret or option (also a ValueError)
    ├── InvalidEventError    an argument of track_* breaks the contract (also a ValueError);
    │                        ``.field`` names it. Nothing was stored.
    ├── OutboxFullError      the local outbox holds ``max_outbox_events`` undelivered items;
    │                        the event was NOT stored — NexusCRM has been unreachable for long
    ├── OutboxLockedError    another process has this outbox file open
    └── ClientClosedError    the client was closed with aclose()/close()
"""

from __future__ import annotations


class GenesisCRMError(Exception):
    """Base class of every error raised by genesis_crm."""


class ConfigurationError(GenesisCRMError, ValueError):
    """The client is configured wrongly (base URL, secret, options)."""


class InvalidEventError(GenesisCRMError, ValueError):
    """An event or subscription argument breaks the NexusCRM contract."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class OutboxFullError(GenesisCRMError):
    """The outbox reached its size cap; the new item was not stored."""


class OutboxLockedError(GenesisCRMError):
    """Another process uses the outbox file."""


class ClientClosedError(GenesisCRMError):
    """The client has been closed."""
