"""Auto-upsell (off by default): confident upgrade alerts start sequences, under a daily cap."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.alerts.flows import raise_alerts
from nexus_crm.alerts.rules import AlertDraft, AlertPolicy
from nexus_crm.alerts.schemas import AlertChanges
from nexus_crm.alerts.worker import evaluate_once
from nexus_crm.closer.auto import AutoUpsellPolicy
from nexus_crm.closer.service import SequencePlan
from nexus_crm.closer.wiring import auto_upsell_hook, run_auto_upsell
from nexus_crm.db import transaction
from nexus_crm.kit.time import utcnow
from nexus_crm.settings import Settings
from tests.closer.conftest import SEQUENCES, customer, heavy_user, served, start


def draft(user: str, confidence: float, tier: str = "elite") -> AlertDraft:
    return AlertDraft(
        alert_type="upgrade_opportunity",
        severity="info",
        subject=f"user:{user}",
        period_key="2026-11-01",
        title=f"{user} outgrows Pro",
        message="m",
        data={"tier": "pro", "recommended_tier": tier, "confidence": confidence},
        user_id=user,
    )


async def raised(sessions: async_sessionmaker[AsyncSession], *drafts: AlertDraft) -> AlertChanges:
    async with transaction(sessions) as session:
        return AlertChanges(raised=await raise_alerts(session, drafts=drafts, now=utcnow()))


async def sequences(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await client.get(SEQUENCES, headers=headers)).json()["sequences"]
    return found


async def test_off_by_default(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    assert settings.auto_upsell_enabled is False
    assert auto_upsell_hook(settings, sessions) is None
    on = settings.model_copy(update={"auto_upsell_enabled": True})
    assert auto_upsell_hook(on, sessions) is not None


async def test_confident_alerts_start_sequences_under_the_daily_cap(
    app: FastAPI, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    sessions = app.state.sessions
    for user in ("u1", "u2", "u3", "u4", "u5", "busy"):
        await customer(client, user)
    await start(client, admin_headers, "busy")  # a human started one already
    policy = AutoUpsellPolicy(enabled=True, min_confidence=0.8, daily_cap=2)
    changes = await raised(
        sessions,
        draft("u1", 0.85),
        draft("u2", 0.95),
        draft("u3", 0.5),
        draft("busy", 0.99),
        draft("u4", 0.9),
    )
    started = await run_auto_upsell(changes, sessions=sessions, policy=policy, plan=SequencePlan())
    assert sorted(s.user_id for s in started) == ["u2", "u4"]  # most confident; busy had one
    for seq in started:
        assert (seq.automatic, seq.created_by) == (True, "system:auto-upsell")
        assert seq.reason.startswith("automatic: upgrade_opportunity alert")
        (entry,) = seq.history
        assert (entry.action, entry.actor, entry.automatic) == (
            "started",
            "system:auto-upsell",
            True,
        )
    more = await raised(sessions, draft("u5", 0.99))
    assert await run_auto_upsell(more, sessions=sessions, policy=policy, plan=SequencePlan()) == []
    wider = AutoUpsellPolicy(enabled=True, min_confidence=0.8, daily_cap=3)
    again = await run_auto_upsell(more, sessions=sessions, policy=wider, plan=SequencePlan())
    assert [s.user_id for s in again] == ["u5"]
    found = {s["user_id"]: s for s in await sequences(client, admin_headers)}
    assert sorted(found) == ["busy", "u2", "u4", "u5"]
    assert found["busy"]["automatic"] is False


async def test_the_scheduler_starts_sequences_by_itself(
    settings: Settings, admin_headers: dict[str, str]
) -> None:
    tuned = settings.model_copy(
        update={"auto_upsell_enabled": True, "auto_upsell_min_confidence": 0.0}
    )
    async with served(tuned) as (app, client):
        await heavy_user(client, "auto_85")
        hook = auto_upsell_hook(tuned, app.state.sessions)
        assert hook is not None
        changes = await evaluate_once(app.state.sessions, AlertPolicy.from_settings(tuned))
        started = await hook(changes)
        assert [(s.user_id, s.recommended_tier, s.automatic) for s in started] == [
            ("auto_85", "elite", True)
        ]
        listed = await sequences(client, admin_headers)
    assert [s["created_by"] for s in listed] == ["system:auto-upsell"]
