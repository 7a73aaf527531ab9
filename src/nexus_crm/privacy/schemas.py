"""Answers of the privacy API and CLI: erasure and retention results."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

# The prefix of the anonymous ids that erased customers' aggregates are re-keyed to.
ERASED_PREFIX = "erased:"
# Why a webhook's event or subscription update was not stored.
SUPPRESSED_REASON = "customer_erased"


class ErasureCounts(BaseModel):
    """What an erasure deleted or anonymised, by kind."""

    events_deleted: int = 0
    daily_rows_anonymised: int = 0
    customer_rows_anonymised: int = 0
    subscription_changes_anonymised: int = 0
    alerts_deleted: int = 0
    sequences_anonymised: int = 0


class ErasureResult(BaseModel):
    """The outcome of ``DELETE /privacy/{user_id}``; ``already_erased`` repeats nothing."""

    user_id: str
    status: Literal["erased", "already_erased"]
    erased_at: datetime
    counts: ErasureCounts = Field(default_factory=ErasureCounts)


class RetentionResult(BaseModel):
    """A retention run: raw events older than ``cutoff`` (deleted unless a dry run)."""

    retention_days: int
    cutoff: datetime | None = Field(None, description="None when retention is off (0 days)")
    events: int = Field(description="raw events older than the cutoff")
    deleted: int
    dry_run: bool
