"""Contracts of what GENESIS sends: usage events and subscription updates."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    TypeAdapter,
    ValidationInfo,
    field_validator,
)

from nexus_crm.privacy.schemas import ERASED_PREFIX, SUPPRESSED_REASON

# Control characters (C0, DEL, C1 with U+0085) and the Unicode line and paragraph separators
# are refused in text fields: PostgreSQL cannot store NUL, and a name or an address reaches
# email headers, where a line break would start a header of the sender's choosing.
CONTROL_FREE = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]+$"
_NOT_IN_EMAIL = r"@\s\x00-\x1f\x7f-\x9f\u2028\u2029"
EMAIL = rf"^[^{_NOT_IN_EMAIL}]+@[^{_NOT_IN_EMAIL}]+\.[^{_NOT_IN_EMAIL}]+$"
# Printable identifiers only: no control characters, no surrounding blanks.
Identifier = Annotated[str, Field(pattern=CONTROL_FREE)]
MAX_METADATA_BYTES = 16 * 1024
AGENT_ID_MAX = 64
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
# A JSON escape of NUL that is not itself an escaped backslash followed by "u0000".
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def _check_tier(value: str, info: ValidationInfo) -> str:
    tier = value.strip().lower()
    known: frozenset[str] = (info.context or {}).get("tiers", frozenset())
    if known and tier not in known:
        raise ValueError(f"unknown tier {value!r}; known tiers: {', '.join(sorted(known))}")
    return tier


def _check_timestamp(value: datetime | None, info: ValidationInfo) -> datetime | None:
    if value is None:
        return None
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 once in UTC
        raise ValueError("timestamp is outside the supported range of dates") from None
    ctx = info.context or {}
    now: datetime = ctx.get("now") or datetime.now(UTC)
    max_future = timedelta(seconds=ctx.get("max_future_seconds", 300))
    if value > now + max_future:
        raise ValueError(f"timestamp is more than {max_future} in the future")
    if value < EARLIEST:
        raise ValueError("timestamp is before 2000-01-01")
    return value


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


def _check_user_id(value: str) -> str:
    if value.startswith(ERASED_PREFIX):
        raise ValueError(f"user ids starting with {ERASED_PREFIX!r} are reserved")
    if value in (".", ".."):  # URL clients remove such path segments: no route could reach it
        raise ValueError(f"{value!r} cannot be a user id")
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

    _tier = field_validator("subscription_tier")(_check_tier)
    _ts = field_validator("timestamp")(_check_timestamp)
    _age = field_validator("timestamp")(_check_age)
    _user = field_validator("user_id")(_check_user_id)

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


class SubscriptionIn(BaseModel):
    """A customer's subscription as GENESIS reports it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_id: Identifier = Field(min_length=1, max_length=128)
    tier: str = Field(min_length=1, max_length=32)
    status: Literal["active", "cancelled"]
    email: str | None = Field(None, max_length=320, pattern=EMAIL)
    name: str | None = Field(None, min_length=1, max_length=200, pattern=CONTROL_FREE)
    billing_anchor_day: int | None = Field(None, ge=1, le=31)
    timestamp: datetime | None = None

    _tier = field_validator("tier")(_check_tier)
    _ts = field_validator("timestamp")(_check_timestamp)
    _user = field_validator("user_id")(_check_user_id)

    @field_validator("status", mode="before")
    @classmethod
    def _status_lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


class SubscriptionResult(BaseModel):
    """The customer's state after a subscription update."""

    user_id: str
    tier: str
    status: str
    changed: bool = Field(description="whether this update recorded a tier or status change")
    suppressed: str | None = Field(
        None, description="why the update was not stored (the customer was erased); else absent"
    )
