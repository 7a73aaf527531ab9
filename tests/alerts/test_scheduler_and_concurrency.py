"""The in-server scheduler, the database constraint, and evaluators racing each other."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.alerts import flows
from nexus_crm.alerts.flows import raise_alerts
from nexus_crm.alerts.repository import insert_alerts
from nexus_crm.alerts.rules import AlertDraft, AlertPolicy
from nexus_crm.alerts.service import resolve_alert
from nexus_crm.alerts.worker import evaluate_once
from nexus_crm.app import create_app
from nexus_crm.db import run_transaction, transaction
from nexus_crm.errors import Conflict
from nexus_crm.ingest.schemas import UsageEventIn
from nexus_crm.ingest.service import event_rows, ingest_events, store_usage
from nexus_crm.kit.time import billing_period
from nexus_crm.models import UsageAlert, UsageAlertEvent
from nexus_crm.settings import Settings
from tests.alerts.helpers import use

TODAY = datetime.now(UTC).date()
OLD_PERIOD = billing_period(billing_period(TODAY)[0] - timedelta(days=1))[0].isoformat()


def old_draft(user: str) -> AlertDraft:
    """A limit alert of the previous billing period: due for auto-resolution."""
    return AlertDraft(
        alert_type="usage_limit_exceeded",
        severity="critical",
        subject=f"user:{user}",
        period_key=OLD_PERIOD,
        title="old",
        message="old",
        data={"tier": "pro"},
        user_id=user,
    )


async def test_the_scheduler_runs_inside_the_server(settings: Settings) -> None:
    fast = settings.model_copy(update={"alert_evaluation_interval_seconds": 0.05})
    app = create_app(fast)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await use(client, "sched", 10)  # a customer on Pro, far under the limit
        sessions = app.state.sessions
        async with transaction(sessions) as session:
            [old] = await raise_alerts(session, drafts=[old_draft("sched")], now=datetime.now(UTC))
        for _ in range(200):
            await asyncio.sleep(0.05)
            async with sessions() as s:
                status = await s.scalar(select(UsageAlert.status).where(UsageAlert.id == old.id))
            if status == "resolved":
                break
        assert status == "resolved"


async def test_the_database_refuses_a_second_open_alert(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = datetime.now(UTC)
    row = {
        "alert_type": "churn_risk",
        "severity": "warning",
        "status": "active",
        "subject": "user:x",
        "period_key": "2026-11-01",
        "title": "t",
        "message": "m",
        "data": {},
    }
    async with transaction(sessions) as s:
        s.add(UsageAlert(**row))
    with pytest.raises(IntegrityError):
        async with transaction(sessions) as s:
            s.add(UsageAlert(**{**row, "status": "acknowledged"}))
    async with transaction(sessions) as s:  # a closed one does not count
        s.add(UsageAlert(**{**row, "status": "resolved", "resolved_at": now}))


def usage_rows(users: list[str], tag: str, tokens: int) -> list[dict[str, object]]:
    now = datetime.now(UTC)
    events = [
        UsageEventIn(
            event_id=f"{tag}-{u}",
            user_id=u,
            agent_id="NEXUS",
            session_id="s",
            tokens_used=tokens,
            response_time_ms=100,
            subscription_tier="pro",
            timestamp=now - timedelta(seconds=5),
        )
        for u in users
    ]
    return event_rows(events, webhook_id=tag, batch=True, received_at=now, tz=UTC)


class Gate:
    """Holds inserting transactions until ``n`` of them wait at once (PostgreSQL: a real race).

    On SQLite a transaction holds the write lock from BEGIN, so only one can ever be at the
    insert: the gate lets it through at once there.
    """

    def __init__(self, n: int) -> None:
        self.n, self.waiting, self.peak, self.opened = n, 0, 0, asyncio.Event()

    async def __call__(self, session: AsyncSession, rows: Any) -> set[uuid.UUID]:
        if session.get_bind().dialect.name == "postgresql" and rows:
            self.waiting += 1
            self.peak = max(self.peak, self.waiting)
            if self.waiting >= self.n:
                self.opened.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.opened.wait(), 10)
            self.waiting -= 1
        return await insert_alerts(session, rows)


async def test_concurrent_evaluators_and_ingests_keep_one_open_alert_per_key(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    users = [f"race_{i:02d}" for i in range(30)]
    async with transaction(sessions) as s:  # usage over 95 % for all, not announced: no alert yet
        await store_usage(s, rows=usage_rows(users, "seed", 960_000), received_at=datetime.now(UTC))
    gate = Gate(6)
    monkeypatch.setattr(flows.repo, "insert_alerts", gate)

    async def ingest(tag: str) -> None:
        async def work(s: AsyncSession) -> object:
            return await ingest_events(
                s,
                rows=usage_rows(users, tag, 1_000),
                received_at=datetime.now(UTC),
            )

        await run_transaction(sessions, work)

    evaluators = [evaluate_once(sessions, AlertPolicy()) for _ in range(6)]
    results = await asyncio.gather(*evaluators, *(ingest(f"more{i}") for i in range(3)))
    if sessions.kw["bind"].dialect.name == "postgresql":
        assert gate.peak >= 6  # six transactions were inserting the same alerts at once
    assert sum(len(r.raised) for r in results if r is not None) <= 30

    period = billing_period(date.today())[0].isoformat()
    alerts, actions = await stored(sessions)
    assert open_keys(alerts) == {("usage_limit_exceeded", f"user:{u}", period): 1 for u in users}
    assert len(alerts) == 30
    assert actions == Counter({(a.id, "raised"): 1 for a in alerts})

    # Next period: every evaluator wants to resolve all 30 at once; each is resolved once.
    later = datetime.combine(billing_period(date.today())[1], datetime.min.time(), tzinfo=UTC)
    await asyncio.gather(*(evaluate_once(sessions, AlertPolicy(), later) for _ in range(6)))
    alerts, actions = await stored(sessions)
    assert open_keys(alerts) == {}
    assert {a.status for a in alerts} == {"resolved"}
    assert actions == Counter({(a.id, act): 1 for a in alerts for act in ("raised", "resolved")})


async def stored(
    sessions: async_sessionmaker[AsyncSession],
) -> tuple[list[UsageAlert], Counter[tuple[uuid.UUID, str]]]:
    async with sessions() as s:
        alerts = list((await s.scalars(select(UsageAlert))).all())
        events = (await s.execute(select(UsageAlertEvent.alert_id, UsageAlertEvent.action))).all()
    return alerts, Counter((e[0], e[1]) for e in events)


def open_keys(alerts: list[UsageAlert]) -> dict[tuple[str, str, str], int]:
    return dict(
        Counter(
            (a.alert_type, a.subject, a.period_key)
            for a in alerts
            if a.status in ("active", "acknowledged")
        )
    )


async def test_two_concurrent_resolves_one_wins_the_other_conflicts(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with transaction(sessions) as s:
        await ingest_events(
            s,
            rows=usage_rows(["duel"], "duel", 990_000),
            received_at=datetime.now(UTC),
        )
        [alert_id] = (await s.scalars(select(UsageAlert.id))).all()

    async def resolve(actor: str) -> str:
        try:
            async with transaction(sessions) as s:
                await resolve_alert(s, alert_id=alert_id, actor=actor, now=datetime.now(UTC))
        except Conflict:
            return "409"
        return "ok"

    outcomes = await asyncio.gather(resolve("key:a"), resolve("key:b"))
    assert sorted(outcomes) == ["409", "ok"]
    _, actions = await stored(sessions)
    assert actions == Counter({(alert_id, "raised"): 1, (alert_id, "resolved"): 1})
