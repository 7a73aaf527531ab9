"""What the dashboard pages show, read through the analytics and alerts services."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.alerts import service as alerts
from nexus_crm.alerts.schemas import AlertOut, StatusFilter
from nexus_crm.analytics import ChurnConfig
from nexus_crm.analytics import service as analytics
from nexus_crm.analytics.schemas import CustomerUsage, Insights
from nexus_crm.business import service as business
from nexus_crm.business.schemas import BusinessMetrics
from nexus_crm.closer import service as closer
from nexus_crm.closer.schemas import SequenceOut, StartResult
from nexus_crm.dashboard import repository as repo
from nexus_crm.errors import Forbidden, InvalidInput
from nexus_crm.kit.time import local_day, utc_hour
from nexus_crm.settings import Settings
from nexus_crm.tiers import service as tiers

FEED_SIZE: Final = 25
ALERTS_SHOWN: Final = 25
ALERTS_PAGE_LIMIT: Final = 200
TOP_CUSTOMERS: Final = 10
SPARK_HOURS: Final = 24
SNOOZE: Final = timedelta(hours=24)
ACTIONS: Final = ("acknowledge", "resolve", "dismiss", "snooze")
# Roles (docs/dashboard.md#roles): everyone reads; analysts only read.
ACTING_ROLES: Final = frozenset({"admin", "sales"})


@dataclass(frozen=True)
class FeedItem:
    """One row of the activity feed."""

    event_id: str
    user_id: str
    agent_id: str
    tokens_used: int
    response_time_ms: int
    subscription_tier: str
    occurred_at: datetime


@dataclass
class LiveSnapshot:
    """Everything the Live page shows, read in one short transaction."""

    insights: Insights
    feed: list[FeedItem]
    alerts: list[AlertOut]
    sparklines: dict[str, list[int]] = field(default_factory=dict)


def can_act(role: str) -> bool:
    """Whether a dashboard role may change alerts."""
    return role in ACTING_ROLES


async def sparklines(session: AsyncSession, *, now: datetime) -> dict[str, list[int]]:
    """Interactions per agent for each of the last 24 hours (oldest first)."""
    first = utc_hour(now) - timedelta(hours=SPARK_HOURS - 1)
    series: dict[str, list[int]] = {}
    for row in await repo.hourly_interactions(session, first):
        slot = int((row.hour - first).total_seconds() // 3600)
        if 0 <= slot < SPARK_HOURS:
            series.setdefault(row.agent_id, [0] * SPARK_HOURS)[slot] += int(row.interactions)
    return series


async def recent_activity(session: AsyncSession, *, limit: int = FEED_SIZE) -> list[FeedItem]:
    """The latest usage events, newest first."""
    return [FeedItem(**row._asdict()) for row in await repo.recent_events(session, limit)]


async def get_live_snapshot(
    session: AsyncSession, *, now: datetime, settings: Settings
) -> LiveSnapshot:
    """Today's KPIs (vs yesterday), agents, tiers, open alerts, feed and sparklines."""
    today = local_day(now, settings.tz)
    return LiveSnapshot(
        insights=await analytics.get_insights(
            session, days=1, today=today, timezone=settings.timezone
        ),
        feed=await recent_activity(session),
        alerts=await alerts.list_alerts(session, limit=ALERTS_SHOWN, now=now),
        sparklines=await sparklines(session, now=now),
    )


async def change_marker(session: AsyncSession, *, today: date) -> tuple[Any, int]:
    """A value that changes whenever a usage event is stored (for polling without a bus)."""
    return await repo.change_marker(session, today)


async def act_on_alert(
    session: AsyncSession, *, alert_id: uuid.UUID, action: str, role: str, actor: str, now: datetime
) -> AlertOut:
    """Acknowledge, resolve, dismiss or snooze (24 h) an alert as a dashboard user."""
    if not can_act(role):
        raise Forbidden(f"the {role} role cannot change alerts")
    if action not in ACTIONS:
        raise InvalidInput(f"action must be one of {', '.join(ACTIONS)}", field="action")
    if action == "snooze":
        return await alerts.snooze_alert(
            session, alert_id=alert_id, actor=actor, now=now, until=now + SNOOZE
        )
    act = {
        "acknowledge": alerts.acknowledge_alert,
        "resolve": alerts.resolve_alert,
        "dismiss": alerts.dismiss_alert,
    }[action]
    return await act(session, alert_id=alert_id, actor=actor, now=now)


async def list_alerts(
    session: AsyncSession,
    *,
    status: StatusFilter,
    alert_type: str | None,
    user_id: str | None,
    now: datetime,
) -> list[AlertOut]:
    """Alerts for the Alerts page and a customer's page."""
    return await alerts.list_alerts(
        session,
        status=status,
        alert_type=alert_type,
        user_id=user_id,
        include_snoozed=status != StatusFilter.OPEN,
        limit=ALERTS_PAGE_LIMIT,
        now=now,
    )


@dataclass
class CustomerView:
    """The Customer page: usage vs limit, churn, CLV, daily use by agent, alerts."""

    usage: CustomerUsage
    daily_by_agent: dict[str, dict[date, int]]
    alerts: list[AlertOut]
    sequences: list[SequenceOut] = field(default_factory=list)
    upgrade_tiers: dict[str, str] = field(default_factory=dict)  # tier -> display name


async def get_customer_view(
    session: AsyncSession, *, user_id: str, now: datetime, settings: Settings
) -> CustomerView:
    """One customer's page (404 if unknown)."""
    today = local_day(now, settings.tz)
    churn = ChurnConfig.from_settings(settings)  # with it: churn probability, drivers, CLV
    usage = await analytics.get_customer_usage(
        session, user_id=user_id, today=today, tz=settings.tz, churn=churn
    )
    rows = await repo.customer_daily_by_agent(
        session, user_id, usage.daily[0].day, usage.daily[-1].day
    )
    by_agent: dict[str, dict[date, int]] = {}
    for r in rows:
        by_agent.setdefault(r.agent_id, {})[r.day] = int(r.interactions)
    found = await list_alerts(
        session, status=StatusFilter.ALL, alert_type=None, user_id=user_id, now=now
    )
    ranks = {t.tier: t for t in await tiers.list_tiers(session)}
    now_rank = ranks[usage.tier].rank if usage.tier in ranks else 10**9
    above = {t.tier: t.display_name for t in ranks.values() if t.rank > now_rank}
    sequences = await closer.list_sequences(session, user_id=user_id, limit=10)
    return CustomerView(
        usage=usage, daily_by_agent=by_agent, alerts=found, sequences=sequences, upgrade_tiers=above
    )


async def start_upsell(
    session: AsyncSession,
    *,
    user_id: str,
    recommended_tier: str,
    reason: str,
    role: str,
    actor: str,
    now: datetime,
    settings: Settings,
) -> StartResult:
    """Start an upsell sequence as a dashboard user (admin and sales only)."""
    if not can_act(role):
        raise Forbidden(f"the {role} role cannot start upsell sequences")
    return await closer.start_sequence(
        session,
        user_id=user_id,
        recommended_tier=recommended_tier,
        reason=reason,
        by=closer.Starter(actor=actor),
        now=now,
        plan=closer.SequencePlan.from_settings(settings),
    )


async def get_business_metrics(
    session: AsyncSession, *, now: datetime, settings: Settings, days: int = 30
) -> BusinessMetrics:
    """The Business page: the analytics business metrics with the configured policy."""
    policy = business.BusinessPolicy.from_settings(settings)
    return await business.get_business_metrics(
        session,
        days=days,
        today=local_day(now, settings.tz),
        now=now,
        tz=settings.tz,
        limit=TOP_CUSTOMERS,
        policy=policy,
    )
