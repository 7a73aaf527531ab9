"""The churn_risk rule: once per customer and month, resolved on cancellation or recovery."""

from __future__ import annotations

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.alerts.flows import apply_findings
from nexus_crm.alerts.rules import SCHEDULED_RULES, AlertPolicy, RuleContext, churn_rule
from nexus_crm.alerts.schemas import AlertChanges
from nexus_crm.analytics.churn.config import ChurnConfig
from nexus_crm.db import transaction
from nexus_crm.models import Customer, SubscriptionChange, agent_usage_daily
from tests.analytics.churn_data import Person, at, decliner, store, usage_rows

CFG = ChurnConfig(CHURN_ALERT_THRESHOLD=0.5, CHURN_CACHE_SECONDS=0)


async def evaluate(sessions: async_sessionmaker[AsyncSession], day: int) -> AlertChanges:
    now = at(day, 6)
    async with transaction(sessions) as s:
        findings = await churn_rule(s, RuleContext(now=now, policy=AlertPolicy()), CFG)
        return await apply_findings(s, findings=findings, now=now)


async def cancel(sessions: async_sessionmaker[AsyncSession], user: str, day: int) -> None:
    async with transaction(sessions) as s:
        s.add(
            SubscriptionChange(
                user_id=user,
                from_tier="pro",
                to_tier="pro",
                from_status="active",
                to_status="cancelled",
                changed_at=at(day, 9),
                source="subscription",
            )
        )
        await s.execute(update(Customer).where(Customer.user_id == user).values(status="cancelled"))


async def test_raised_once_a_month_then_resolved_on_cancel(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    churner = decliner(20)  # declining, no cancellation recorded yet
    await store(sessions, [churner, Person("steady")], range(48))
    first = await evaluate(sessions, 45)
    assert [a.user_id for a in first.raised] == [churner.user_id]
    alert = first.raised[0]
    assert alert.alert_type == "churn_risk"
    assert alert.period_key == "2026-02"
    assert alert.severity in ("warning", "critical")
    assert "Drivers: " in alert.message
    assert alert.data["probability"] >= 0.5
    assert alert.data["drivers"]
    again = await evaluate(sessions, 46)
    assert again.raised == []
    assert again.resolved == []
    await cancel(sessions, churner.user_id, 46)
    after = await evaluate(sessions, 47)
    assert [a.id for a in after.resolved] == [alert.id]
    assert after.raised == []
    assert after.resolved[0].history[-1].note == "customer is cancelled"


async def test_recovery_resolves_below_the_hysteresis(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    churner = decliner(3, until=31)
    await store(sessions, [churner], range(31))
    raised = await evaluate(sessions, 31)  # 1 February
    assert len(raised.raised) == 1
    # Back to full use for the rest of the month: the probability falls under 0.5 − 0.15.
    async with transaction(sessions) as s:
        await s.execute(insert(agent_usage_daily), usage_rows(churner, range(31, 57)))
    later = await evaluate(sessions, 57)  # 27 February
    assert len(later.resolved) == 1
    assert later.resolved[0].history[-1].note.startswith("churn probability down to ")
    assert later.raised == []


def test_the_rule_is_scheduled() -> None:
    assert "churn_rule" in [r.__name__ for r in SCHEDULED_RULES]
