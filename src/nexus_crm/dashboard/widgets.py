"""Building blocks of the pages: KPI cards, agent cards, tier bars, alert and feed rows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import quote

from nicegui import ui

from nexus_crm.alerts.schemas import AlertOut
from nexus_crm.analytics.schemas import AgentUsage, TierUsage
from nexus_crm.dashboard import theme
from nexus_crm.dashboard.layout import PageContext
from nexus_crm.dashboard.service import FeedItem

AlertAction = Callable[[AlertOut, str], Awaitable[None]]


def customer_link(user_id: str) -> None:
    """A link to a customer's page."""
    ui.link(user_id, f"/customers/{quote(user_id, safe='')}").classes("font-medium")


def kpi_card(key: str, label: str, value: str, change: str, note: str) -> None:
    """One KPI: label, big value and its change vs yesterday."""
    with ui.card().classes("min-w-[210px] flex-1").props(f'data-testid="kpi-card-{key}"'):
        ui.label(label).classes("text-sm text-slate-500")
        ui.label(value).classes("text-3xl font-bold").props(f'data-testid="kpi-{key}"')
        colour = "text-emerald-600" if change.startswith("▲") else "text-rose-600"
        ui.label(f"{change} {note}" if change else note).classes(f"text-xs {colour}")


def sparkline(values: list[int]) -> None:
    """A small line chart (ECharts) of the last 24 hours."""
    ui.echart(
        {
            "grid": {"left": 0, "right": 0, "top": 4, "bottom": 0},
            "xAxis": {"type": "category", "show": False, "data": list(range(len(values)))},
            "yAxis": {"type": "value", "show": False},
            "series": [{"type": "line", "data": values, "smooth": True, "symbol": "none"}],
            "animation": False,
        }
    ).classes("h-12 w-full")


def agent_card(ctx: PageContext, agent: AgentUsage, spark: list[int]) -> None:
    """One agent: icon, interactions, tokens, response time, 24-hour sparkline."""
    with ui.card().classes("w-[230px]").props(f'data-testid="agent-{agent.agent_id}"'):
        with ui.row().classes("items-center gap-2"):
            ui.icon(theme.agent_icon(agent.agent_id)).classes("text-2xl text-indigo-600")
            ui.label(agent.agent_id).classes("font-bold")
        ui.label(f"{theme.number(agent.interactions)} {ctx.t('interactions_short')}")
        ui.label(f"{theme.number(agent.tokens)} {ctx.t('tokens_short')}").classes("text-sm")
        ui.label(f"{ctx.t('response_short')}: {theme.millis(agent.avg_response_time_ms)}").classes(
            "text-sm text-slate-500"
        )
        sparkline(spark or [0] * 24)


def tier_bars(ctx: PageContext, tiers: list[TierUsage]) -> None:
    """Users per tier, each bar in its tier's colour."""
    most = max((t.users for t in tiers), default=0) or 1
    for t in sorted(tiers, key=lambda x: -x.users):
        with ui.row().classes("items-center w-full gap-2").props(f'data-testid="tier-{t.tier}"'):
            ui.label(t.tier.upper()).classes("w-24 text-xs font-bold").style(
                f"color:{theme.tier_color(t.tier)}"
            )
            width = max(2, round(100 * t.users / most))
            ui.element("div").style(
                f"background:{theme.tier_color(t.tier)};height:12px;width:{width}%;border-radius:4px"
            ).classes("max-w-[60%]")
            ui.label(f"{t.users} {ctx.t('users')}").classes("text-sm")


def alert_row(ctx: PageContext, alert: AlertOut, act: AlertAction | None) -> None:
    """An alert: severity, title, customer, status, and its lifecycle buttons."""
    colour = theme.SEVERITY_COLORS.get(alert.severity, "#6b7280")
    with (
        ui.row()
        .classes("items-center w-full gap-2 border-l-4 pl-2 py-1")
        .style(f"border-color:{colour}")
        .props(f'data-testid="alert-{alert.id}"')
    ):
        with ui.column().classes("gap-0 flex-1"):
            ui.label(alert.title).classes("font-medium")
            with ui.row().classes("gap-2 text-xs text-slate-500"):
                if alert.user_id:
                    customer_link(alert.user_id)
                ui.label(f"{alert.created_at:%Y-%m-%d %H:%M}")
                ui.label(ctx.t(alert.status) if alert.status in _STATUSES else alert.status).props(
                    'data-testid="alert-status"'
                )
        if act is not None and alert.status in ("active", "acknowledged"):
            for action in ("acknowledge", "resolve", "dismiss", "snooze"):
                if action == "acknowledge" and alert.status != "active":
                    continue
                ui.button(ctx.t(action), on_click=_bind(act, alert, action)).props(
                    f'flat dense size=sm data-testid="{action}"'
                )


_STATUSES = ("active", "acknowledged", "resolved", "dismissed")


def _bind(act: AlertAction, alert: AlertOut, action: str) -> Callable[[], Awaitable[None]]:
    async def handler() -> None:
        await act(alert, action)

    return handler


def feed_row(ctx: PageContext, item: FeedItem) -> None:
    """One usage event: time (in NEXUS_CRM_TIMEZONE), customer, agent, tokens, response time."""
    at = item.occurred_at.astimezone(ctx.settings.tz)
    with ui.row().classes("items-center gap-3 w-full text-sm").props('data-testid="feed-row"'):
        ui.label(f"{at:%H:%M:%S}").classes("font-mono text-slate-500")
        ui.icon(theme.agent_icon(item.agent_id)).classes("text-indigo-600")
        ui.label(item.agent_id).classes("w-16 font-bold")
        customer_link(item.user_id)
        ui.label(item.subscription_tier.upper()).classes("text-xs font-bold").style(
            f"color:{theme.tier_color(item.subscription_tier)}"
        )
        ui.label(f"{item.tokens_used:,} tok · {item.response_time_ms:,} ms").classes("ml-auto")
