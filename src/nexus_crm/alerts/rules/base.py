"""What every alert rule shares: the policy, a rule's context, and what a rule finds.

A rule is ``async (session, context) -> Findings``: alerts to raise (drafts, inserted only
if no open alert has the same type, subject and period) and open alerts to resolve, each
with a note saying why. The rule modules of this package import only this module.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.analytics import (
    AnomalyConfig,
    BaselineCache,
    ChurnConfig,
    DegradationPolicy,
    UpgradePolicy,
)
from nexus_crm.settings import Settings


@dataclass(frozen=True)
class AlertPolicy:
    """Thresholds (percent of a tier's monthly limits) and the time zone of billing periods."""

    approaching_pct: float = 80.0
    exceeded_pct: float = 95.0
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    upgrade: UpgradePolicy = field(default_factory=UpgradePolicy)
    degradation: DegradationPolicy = field(default_factory=DegradationPolicy)
    anomaly: AnomalyConfig = field(default_factory=AnomalyConfig)
    churn: ChurnConfig = field(default_factory=ChurnConfig)

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertPolicy:
        """The policy of ALERT_LIMIT_*, NEXUS_CRM_TIMEZONE and each rule's settings."""
        return cls(
            settings.alert_limit_approaching_pct,
            settings.alert_limit_exceeded_pct,
            settings.tz,
            upgrade=UpgradePolicy(threshold_pct=settings.upgrade_projection_pct),
            degradation=DegradationPolicy(
                slo_p95_ms=settings.degradation_slo_p95_ms,
                p95_factor=settings.degradation_p95_factor,
                mean_factor=settings.degradation_mean_factor,
            ),
            anomaly=AnomalyConfig.from_settings(settings),
            churn=ChurnConfig.from_settings(settings),
        )


@dataclass(frozen=True)
class RuleContext:
    """What a rule evaluates: the clock, the policy, and whose alerts (None: everyone's).

    ``baselines`` keeps degradation baselines across evaluations (None: computed afresh).
    """

    now: datetime
    policy: AlertPolicy
    user_ids: Sequence[str] | None = None
    baselines: BaselineCache | None = None


@dataclass(frozen=True)
class AlertDraft:
    """An alert a rule wants open."""

    alert_type: str
    severity: str
    subject: str
    period_key: str
    title: str
    message: str
    data: dict[str, Any]
    user_id: str | None = None
    agent_id: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """The (type, subject, period) of which at most one alert is open."""
        return (self.alert_type, self.subject, self.period_key)


@dataclass(frozen=True)
class Resolution:
    """An open alert whose condition cleared, and why."""

    alert_id: uuid.UUID
    note: str


@dataclass
class Findings:
    """What a rule found: alerts to raise and alerts to resolve."""

    drafts: list[AlertDraft] = field(default_factory=list)
    resolutions: list[Resolution] = field(default_factory=list)

    def extend(self, other: Findings) -> None:
        """Add another rule's findings."""
        self.drafts += other.drafts
        self.resolutions += other.resolutions


Rule = Callable[[AsyncSession, RuleContext], Awaitable[Findings]]
