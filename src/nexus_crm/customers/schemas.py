"""Contracts of customer state: the subscription update GENESIS sends, the identity fields
every incoming record shares (user ids, tiers, e-mail addresses, timestamps) and their checks.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from nexus_crm.privacy.schemas import ERASED_PREFIX

# Control characters (C0, DEL, C1 with U+0085) and the Unicode line and paragraph separators
# are refused in text fields: PostgreSQL cannot store NUL, and a name or an address reaches
# email headers, where a line break would start a header of the sender's choosing.
CONTROL_FREE = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]+$"
_NOT_IN_EMAIL = r"@\s\x00-\x1f\x7f-\x9f\u2028\u2029"
EMAIL = rf"^[^{_NOT_IN_EMAIL}]+@[^{_NOT_IN_EMAIL}]+\.[^{_NOT_IN_EMAIL}]+$"
# Printable identifiers only: no control characters, no surrounding blanks.
Identifier = Annotated[str, Field(pattern=CONTROL_FREE)]
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


def check_tier(value: str, info: ValidationInfo) -> str:
    """A tier name, lower-cased; one of the known tiers when the context lists them."""
    tier = value.strip().lower()
    known: frozenset[str] = (info.context or {}).get("tiers", frozenset())
    if known and tier not in known:
        raise ValueError(f"unknown tier {value!r}; known tiers: {', '.join(sorted(known))}")
    return tier


def check_timestamp(value: datetime | None, info: ValidationInfo) -> datetime | None:
    """A timestamp in UTC, not too far in the future, not before 2000."""
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


def check_user_id(value: str) -> str:
    """A user id no URL or erasure marker can confuse."""
    if value.startswith(ERASED_PREFIX):
        raise ValueError(f"user ids starting with {ERASED_PREFIX!r} are reserved")
    if value in (".", ".."):  # URL clients remove such path segments: no route could reach it
        raise ValueError(f"{value!r} cannot be a user id")
    return value


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

    _tier = field_validator("tier")(check_tier)
    _ts = field_validator("timestamp")(check_timestamp)
    _user = field_validator("user_id")(check_user_id)

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
