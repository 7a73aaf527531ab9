"""Time-ordered UUIDs (v7) made in Python: one implementation, shared with the client SDK."""

from genesis_crm.ids import uuid7

__all__ = ("uuid7",)
