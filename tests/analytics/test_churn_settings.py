"""The churn settings are CHURN_* fields of the one Settings, and every reader uses them."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.alerts.rules import AlertPolicy
from nexus_crm.analytics import ChurnConfig
from nexus_crm.app import create_app
from nexus_crm.business.service import BusinessPolicy
from nexus_crm.kit.time import utcnow
from nexus_crm.settings import Settings
from tests.analytics.churn_data import FIRST, Person, decliner, store


def test_the_environment_reaches_every_policy_through_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHURN_HORIZON_DAYS", "60")
    monkeypatch.setenv("CHURN_ALERT_THRESHOLD", "0.7")
    monkeypatch.setenv("CHURN_CACHE_SECONDS", "0")
    settings = Settings()
    churn = ChurnConfig.from_settings(settings)
    assert (churn.horizon_days, churn.alert_threshold, churn.cache_seconds) == (60, 0.7, 0)
    assert AlertPolicy.from_settings(settings).churn == churn
    assert BusinessPolicy.from_settings(settings).churn == churn
    assert ChurnConfig().horizon_days == 30  # no second reader of the environment


def test_out_of_range_churn_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="CHURN_HORIZON_DAYS"):
        Settings(CHURN_HORIZON_DAYS=3)


async def test_the_api_scores_with_the_configured_horizon(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    read_headers: dict[str, str],
) -> None:
    offset = (utcnow().date() - FIRST).days
    await store(sessions, [decliner(offset - 20), Person("steady")], range(offset - 60, offset + 1))
    app = create_app(settings.model_copy(update={"churn_horizon_days": 45}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            risks = await client.get("/agent-usage/churn-risks", headers=read_headers)
            one = await client.get("/agent-usage/customers/steady", headers=read_headers)
    assert risks.status_code == 200, risks.text
    assert risks.json()["model"]["horizon_days"] == 45
    assert one.status_code == 200, one.text
    assert one.json()["churn"]["user_id"] == "steady"
