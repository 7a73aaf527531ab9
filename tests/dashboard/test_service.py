"""Dashboard services and chart options without a browser: roles, bus filters, ECharts."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.business.schemas import ForecastPoint
from nexus_crm.dashboard import charts, service
from nexus_crm.dashboard.follow import about_customer
from nexus_crm.db import transaction
from nexus_crm.errors import Forbidden
from nexus_crm.realtime.bus import Message


async def test_an_analyst_cannot_change_alerts_whatever_the_page_shows(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with transaction(sessions) as session:
        with pytest.raises(Forbidden):
            await service.act_on_alert(
                session,
                alert_id=uuid.uuid4(),
                action="acknowledge",
                role="analyst",
                actor="user:bi@ngx.mx",
                now=datetime.now(UTC),
            )


def test_a_customer_page_follows_only_its_customers_messages() -> None:
    usage = Message("usage", {"count": 2, "events": [{"user_id": "a"}, {"user_id": "b"}]})
    assert about_customer(usage, "b")
    assert not about_customer(usage, "c")
    assert about_customer(Message("alert", {"user_id": "c"}), "c")
    assert not about_customer(Message("alert", {"user_id": None}), "c")
    assert not about_customer(Message("metrics", {"user_id": "c"}), "c")


def test_the_forecast_band_stacks_the_interval_above_its_lower_bound() -> None:
    point = ForecastPoint(
        day=date(2026, 1, 1), mean=10, lower_80=6, upper_80=14, lower_95=-2, upper_95=20
    )
    series = charts.forecast_band([point], "Forecast")["series"]
    low95, band95, low80, band80, mean = series
    assert (low95["data"], band95["data"]) == ([0.0], [20.0])  # no negative interactions
    assert (low80["data"], band80["data"]) == ([6], [8])
    assert low95["stack"] == band95["stack"] != low80["stack"]
    assert mean["data"] == [10]


def test_the_daily_chart_has_one_zero_filled_series_per_agent() -> None:
    days = [date(2026, 1, 1), date(2026, 1, 2)]
    option = charts.daily_by_agent(days, {"SAGE": {days[1]: 3}, "NEXUS": {days[0]: 1}})
    assert [(s["name"], s["data"]) for s in option["series"]] == [
        ("NEXUS", [1, 0]),
        ("SAGE", [0, 3]),
    ]
