"""Contracts of what GENESIS sends: usage events and subscription updates."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    TypeAdapter,
    ValidationInfo,
    field_validator,
)

from nexus_crm.customers.schemas import (
    Identifier,
    check_tier,
    check_timestamp,
    check_user_id,
)
from nexus_crm.privacy.schemas import SUPPRESSED_REASON

MAX_METADATA_BYTES = 16 * 1024
AGENT_ID_MAX = 64
# A JSON escape of NUL that is not itself an escaped backslash followed by "u0000".
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def _check_age(value: datetime | None, info: ValidationInfo) -> datetime | None:
    """Refuse events older than the raw-event retention window (their dedupe is gone)."""
    days: int = (info.context or {}).get("retention_days", 0)
    if value is None or days <= 0:
        return value
    now: datetime = (info.context or {}).get("now") or datetime.now(UTC)
    if value < now - timedelta(days=days):
        raise ValueError(
            f"timestamp is older than the raw-event retention window ({days} days, "
            "RAW_EVENT_RETENTION_DAYS): such an event could not be deduplicated"
        )
    return value


class UsageEventIn(BaseModel):
    """One agent interaction reported by GENESIS (the seed's ``track_agent_usage``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    event_id: Identifier | None = Field(None, min_length=1, max_length=128)
    user_id: Identifier = Field(min_length=1, max_length=128, examples=["cliente_123"])
    agent_id: Identifier = Field(min_length=1, max_length=AGENT_ID_MAX, examples=["NEXUS"])
    session_id: Identifier = Field(min_length=1, max_length=128, examples=["session_abc"])
    tokens_used: StrictInt = Field(ge=0, le=10_000_000, examples=[150])
    response_time_ms: StrictInt = Field(ge=0, le=3_600_000, examples=[1200])
    subscription_tier: str = Field(min_length=1, max_length=32, examples=["pro"])
    timestamp: datetime | None = Field(None, description="When it happened; default: received")
    metadata: dict[str, Any] = Field(default_factory=dict)

    _tier = field_validator("subscription_tier")(check_tier)
    _ts = field_validator("timestamp")(check_timestamp)
    _age = field_validator("timestamp")(_check_age)
    _user = field_validator("user_id")(check_user_id)

    @field_validator("agent_id")
    @classmethod
    def _agent_upper(cls, value: str) -> str:
        upper = value.upper()  # may grow: "ß" becomes "SS"
        if len(upper) > AGENT_ID_MAX:
            raise ValueError(f"agent_id is longer than {AGENT_ID_MAX} characters once upper-cased")
        return upper

    @field_validator("metadata")
    @classmethod
    def _metadata_size(cls, value: dict[str, Any]) -> dict[str, Any]:
        text = json.dumps(value, default=str)
        if len(text) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata is larger than {MAX_METADATA_BYTES} bytes")
        if "\\u" in text:  # only then can it hold what PostgreSQL's jsonb refuses
            _check_storable(value)
        return value


def _check_storable(value: dict[str, Any]) -> None:
    """Refuse NUL characters and unpaired surrogates (PostgreSQL cannot store them)."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    try:
        text.encode()
    except UnicodeEncodeError:
        raise ValueError("metadata holds an unpaired surrogate (\\ud800-\\udfff)") from None
    if _NUL_ESCAPE.search(text):
        raise ValueError("metadata holds a NUL character (\\u0000)")


class EventBatchIn(BaseModel):
    """Several events in one webhook: ``{"events": [...]}``."""

    model_config = ConfigDict(extra="forbid")

    events: list[UsageEventIn]


EVENT_LIST = TypeAdapter(list[UsageEventIn])


class SuppressedEvent(BaseModel):
    """An event answered but not stored (docs/security.md: erased customers)."""

    event_id: str
    reason: str = Field(examples=[SUPPRESSED_REASON])


class IngestResult(BaseModel):
    """What happened to a webhook's events."""

    accepted: int = Field(description="events stored by this request")
    duplicates: int = Field(description="events already stored earlier (same event_id)")
    suppressed: int | None = Field(
        None, description="events not stored because their customer was erased (absent: 0)"
    )
    suppressed_events: list[SuppressedEvent] | None = Field(
        None, description="which events were suppressed and why (absent when none)"
    )
