"""The Business page: conversion, revenue opportunity, agents, CLV, churn, active users, forecasts.

The page shows a spinner at once and fills in when the metrics are ready; they are computed
off the event loop and shared between tabs (:mod:`nexus_crm.dashboard.offload`).
"""

from __future__ import annotations

from collections.abc import Sequence

from nicegui import ui

from nexus_crm.business.schemas import AgentForecast, BusinessMetrics
from nexus_crm.dashboard import charts, theme
from nexus_crm.dashboard.layout import PageContext
from nexus_crm.dashboard.offload import metrics_cache
from nexus_crm.dashboard.widgets import customer_link
from nexus_crm.kit.memo import memos_of


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def grid_table(headers: Sequence[str], rows: Sequence[Sequence[str]], testid: str) -> None:
    """A plain table: a bold header row, then one row of cells per item."""
    with (
        ui.grid(columns=len(headers))
        .classes("w-full gap-x-4 gap-y-1 text-sm")
        .props(f'data-testid="{testid}"')
    ):
        for h in headers:
            ui.label(h).classes("font-bold text-slate-600 border-b")
        for row in rows:
            for cell in row:
                ui.label(cell)


def _conversion(ctx: PageContext, m: BusinessMetrics) -> None:
    t = ctx.t
    with ui.card().classes("flex-1 min-w-[420px]"):
        ui.label(t("conversion")).classes("text-lg font-bold")
        rows = [
            [
                c.tier_name,
                t(c.source),
                str(c.started),
                str(c.converted),
                str(c.pending),
                _pct(c.rate),
            ]
            for c in m.conversion
        ]
        headers = [t("tier"), t("source"), t("started"), t("converted"), t("pending"), t("rate")]
        grid_table(headers, rows, "conversion-table")
        if not m.conversion:
            ui.label(t("no_attempts")).classes("text-sm text-slate-500")


def _revenue(ctx: PageContext, m: BusinessMetrics) -> None:
    t, r = ctx.t, m.revenue_opportunity
    with ui.card().classes("flex-1 min-w-[420px]").props('data-testid="revenue"'):
        ui.label(t("revenue")).classes("text-lg font-bold")
        with ui.row().classes("gap-8"):
            for key, value in (
                ("revenue_delta", r.total_revenue_delta_monthly),
                ("expected_revenue", r.expected_revenue_monthly),
            ):
                with ui.column().classes("gap-0"):
                    ui.label(t(key)).classes("text-sm text-slate-500")
                    ui.label(f"{value:,.2f} {r.currency}").classes("text-2xl font-bold")
        rows = [
            [
                o.tier.upper(),
                str(o.opportunities),
                f"{o.revenue_delta_monthly:,.2f}",
                f"{_pct(o.conversion_rate)} ({o.rate_source})",
                f"{o.expected_revenue_monthly:,.2f}",
            ]
            for o in r.tiers
        ]
        headers = [t("tier"), t("opportunities"), "Δ", t("rate"), t("expected_revenue")]
        grid_table(headers, rows, "revenue-table")


def _agents(ctx: PageContext, m: BusinessMetrics) -> None:
    t = ctx.t
    with ui.card().classes("w-full"):
        ui.label(f"{t('agent_performance')} ({m.window.start} – {m.window.end})").classes(
            "text-lg font-bold"
        )
        rows = [
            [
                a.agent_id,
                theme.number(a.interactions),
                theme.number(a.tokens),
                _pct(a.interactions_share),
                theme.millis(a.avg_response_time_ms),
                theme.millis(a.p95_response_time_ms),
            ]
            for a in m.agents
        ]
        headers = [
            t("agent"),
            t("interactions_used"),
            t("tokens_used"),
            t("share"),
            t("response_short"),
            t("p95"),
        ]
        grid_table(headers, rows, "agent-table")


def _value(ctx: PageContext, m: BusinessMetrics) -> None:
    t, v = ctx.t, m.customer_value
    with ui.card().classes("flex-1 min-w-[420px]").props('data-testid="clv-top"'):
        ui.label(t("top_clv")).classes("text-lg font-bold")
        ui.label(f"{t('total_clv')}: ${v.total_clv:,.2f} · {v.customers} {t('customers')}").classes(
            "text-sm text-slate-500"
        )
        with ui.grid(columns=4).classes("w-full gap-x-4 gap-y-1 text-sm"):
            for h in (t("customer"), t("tier"), "CLV", t("churn")):
                ui.label(h).classes("font-bold text-slate-600 border-b")
            for s in v.top:
                customer_link(s.user_id)
                ui.label(s.tier.upper()).style(f"color:{theme.tier_color(s.tier)}")
                ui.label(f"${s.clv:,.2f}")
                ui.label(_pct(s.probability))
    with ui.card().classes("flex-1 min-w-[420px]"):
        d = m.churn_distribution
        ui.label(t("churn_distribution")).classes("text-lg font-bold")
        ui.label(f"{d.customers} {t('customers')} · mean {_pct(d.mean)} · median {_pct(d.median)}")
        ui.echart(charts.churn_histogram(d.buckets, t("customers"))).classes("h-64 w-full").props(
            'data-testid="churn-histogram"'
        )


def _forecast(ctx: PageContext, forecasts: list[AgentForecast], agent: str) -> None:
    t = ctx.t
    found = next((f for f in forecasts if f.agent_id == agent), None)
    series = None if found is None else found.interactions
    if series is None or not series.daily:
        ui.label(t("no_forecast")).classes("text-slate-500")
        return
    ui.label(
        f"{t('next_7')}: {theme.number(series.next_7_days)} · {t('next_30')}: "
        f"{theme.number(series.next_30_days)} · {t('method')}: {series.method}"
    ).classes("text-sm text-slate-500")
    ui.echart(charts.forecast_band(series.daily, t("forecast_mean"))).classes("h-72 w-full").props(
        'data-testid="forecast-chart"'
    )


class BusinessPage:
    """One browser tab's Business page."""

    def __init__(self, ctx: PageContext) -> None:
        self.ctx = ctx
        self.metrics: BusinessMetrics | None = None
        with ui.row().classes("items-center gap-4"):
            ui.label(ctx.t("business")).classes("text-2xl font-bold")
            self.as_of = ui.label().classes("text-slate-500")
            ui.button(ctx.t("refresh"), icon="refresh", on_click=self.reload).props(
                'flat dense data-testid="business-refresh"'
            )
        self.body = ui.column().classes("w-full gap-4")

    def start(self) -> None:
        """Show the cached metrics at once, or a spinner until they are computed."""
        cached = metrics_cache.cached()
        if cached is not None:
            self._draw(cached)
        else:
            self._spinner()
            ui.timer(0.05, self.load, once=True)

    def _spinner(self) -> None:
        self.body.clear()
        with self.body, ui.row().classes("items-center gap-3 p-8"):
            ui.spinner(size="xl").props('data-testid="business-loading"')
            ui.label(self.ctx.t("loading")).classes("text-slate-500")

    async def load(self, fresh: bool = False) -> None:
        """Compute (or join the computation of) the metrics and draw them."""
        try:
            memos = memos_of(self.ctx.app.state.sessions)
            metrics = await metrics_cache.get(self.ctx.settings, memos, fresh=fresh)
        except Exception as exc:  # shown to the user; the server log has the traceback
            self.body.clear()
            with self.body:
                ui.label(f"{self.ctx.t('failed')}: {exc}").classes("text-rose-600")
            raise
        self._draw(metrics)

    async def reload(self) -> None:
        """Recompute now (the Refresh button)."""
        self._spinner()
        await self.load(fresh=True)

    def _draw(self, m: BusinessMetrics) -> None:
        ctx = self.ctx
        self.as_of.text = f"{ctx.t('as_of')} {m.as_of}"
        self.body.clear()
        with self.body:
            with ui.row().classes("w-full gap-4 items-stretch"):
                _conversion(ctx, m)
                _revenue(ctx, m)
            _agents(ctx, m)
            with ui.row().classes("w-full gap-4 items-stretch"):
                _value(ctx, m)
            with ui.row().classes("w-full gap-4 items-stretch"):
                self._active_and_forecast(m)

    def _active_and_forecast(self, m: BusinessMetrics) -> None:
        t = self.ctx.t
        with ui.card().classes("flex-1 min-w-[380px]"):
            ui.label(t("active_per_tier")).classes("text-lg font-bold")
            option = charts.active_users(m.active_users, t("last_7"), t("last_30"))
            ui.echart(option).classes("h-64 w-full").props('data-testid="active-users"')
        with ui.card().classes("flex-[2] min-w-[480px]").props('data-testid="forecasts"'):
            ui.label(t("forecasts")).classes("text-lg font-bold")
            agents = [f.agent_id for f in m.forecasts]
            busiest = next((a.agent_id for a in m.agents if a.agent_id in agents), None)
            first = busiest or (agents[0] if agents else None)
            picker = ui.select(agents, value=first, label=t("agent"))
            picker.classes("w-48").props('data-testid="forecast-agent"')
            chart = ui.column().classes("w-full")

            def show(agent: str | None) -> None:
                chart.clear()
                with chart:
                    _forecast(self.ctx, m.forecasts, agent or "")

            picker.on_value_change(lambda e: show(e.value))
            show(picker.value)
