"""GENESIS-side client for NexusCRM (``track_agent_usage``); never imports ``nexus_crm``.

This release ships the Standard Webhooks signer; the durable outbox client follows.
"""

from genesis_crm.signing import sign_headers

__all__ = ["sign_headers"]
