"""Alerts as the API shows them and the bodies of lifecycle actions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from nexus_crm.kit.text import NO_NUL


class AlertType(StrEnum):
    """What an alert is about."""

    USAGE_LIMIT_APPROACHING = "usage_limit_approaching"
    USAGE_LIMIT_EXCEEDED = "usage_limit_exceeded"
    CHURN_RISK = "churn_risk"
    UPGRADE_OPPORTUNITY = "upgrade_opportunity"
    ANOMALY_DETECTED = "anomaly_detected"
    PERFORMANCE_DEGRADATION = "performance_degradation"


class Severity(StrEnum):
    """How urgent an alert is."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class StatusFilter(StrEnum):
    """Which alerts ``GET /alerts`` lists: one status, ``open`` (active + acknowledged) or all."""

    OPEN = "open"
    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"
    ALL = "all"


class TransitionOut(BaseModel):
    """One step of an alert's lifecycle (``from_status`` null: the alert was raised)."""

    model_config = ConfigDict(from_attributes=True)

    action: str = Field(examples=["acknowledged"])
    from_status: str | None
    to_status: str
    actor: str = Field(examples=["key:1a2b3c4d", "system", "cli"])
    note: str | None
    snoozed_until: datetime | None
    at: datetime


class AlertOut(BaseModel):
    """An alert with the figures behind it and its history."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    alert_type: str = Field(examples=["usage_limit_approaching"])
    severity: str = Field(examples=["warning"])
    status: str = Field(examples=["active"])
    subject: str = Field(examples=["user:cliente_pro_456"])
    user_id: str | None
    agent_id: str | None
    period_key: str = Field(description="the billing period's start date for limit alerts")
    title: str
    message: str
    data: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    snoozed_until: datetime | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    dismissed_at: datetime | None
    history: list[TransitionOut] = Field(default_factory=list)


class AlertList(BaseModel):
    """A page of alerts, newest first."""

    count: int
    alerts: list[AlertOut]


class TransitionIn(BaseModel):
    """Body of a lifecycle action: an optional note; ``until`` for a snooze."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(None, max_length=2000, pattern=NO_NUL)
    until: datetime | None = Field(None, description="snooze only: hide the alert until then")


@dataclass
class AlertChanges:
    """Alerts raised and resolved by one evaluation, for the caller."""

    raised: list[AlertOut] = field(default_factory=list)
    resolved: list[AlertOut] = field(default_factory=list)

    def extend(self, other: AlertChanges) -> None:
        """Add another evaluation's changes."""
        self.raised += other.raised
        self.resolved += other.resolved

    @property
    def all(self) -> list[AlertOut]:
        """Every changed alert: resolved first, then raised."""
        return [*self.resolved, *self.raised]
