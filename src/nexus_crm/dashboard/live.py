"""The Live page: KPIs, agents, tiers, alerts and activity, updated without reload.

Each open page follows the event bus through :class:`~nexus_crm.dashboard.follow.LivePage`
and re-reads its snapshot in one short transaction; no session stays open between refreshes.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from nicegui import ui

from nexus_crm.alerts.schemas import AlertOut
from nexus_crm.dashboard import service, theme
from nexus_crm.dashboard.follow import LivePage, run_alert_action
from nexus_crm.dashboard.widgets import agent_card, alert_row, feed_row, kpi_card, tier_bars
from nexus_crm.db import transaction
from nexus_crm.kit.time import utcnow
from nexus_crm.realtime import Message


class LiveView(LivePage):
    """One browser tab's Live page."""

    alerts_shown: list[tuple[uuid.UUID, str, datetime]] | None = None

    def wants(self, message: Message) -> bool:
        """Usage and alerts change the page; a ``metrics`` snapshot adds nothing to a re-read."""
        return message.type != "metrics"

    async def build(self) -> None:
        """Lay out the page and fill it."""
        t = self.ctx.t
        self.kpis = ui.row().classes("w-full gap-4")
        ui.label(t("agents")).classes("text-lg font-bold mt-2")
        self.agents = ui.row().classes("w-full gap-4")
        with ui.row().classes("w-full gap-4 items-start flex-nowrap max-lg:flex-wrap"):
            with ui.card().classes("flex-1 min-w-[320px]"):
                ui.label(t("live_alerts")).classes("text-lg font-bold")
                self.alerts = ui.column().classes("w-full gap-1")
            with ui.column().classes("flex-1 min-w-[320px] gap-4"):
                with ui.card().classes("w-full"):
                    ui.label(t("tiers")).classes("text-lg font-bold")
                    self.tiers = ui.column().classes("w-full gap-1")
                with ui.card().classes("w-full"):
                    ui.label(t("activity")).classes("text-lg font-bold")
                    self.feed = ui.column().classes("w-full gap-1").props('data-testid="feed"')
        await self.refresh()

    async def refresh(self) -> None:
        """Re-read the snapshot (one transaction) and redraw the live parts."""
        async with transaction(self.ctx.app.state.sessions) as session:
            snap = await service.get_live_snapshot(
                session, now=utcnow(), settings=self.ctx.settings
            )
        self._draw(snap)

    def _draw(self, snap: service.LiveSnapshot) -> None:
        t, totals, change = self.ctx.t, snap.insights.totals, snap.insights.change
        note = t("vs_yesterday")
        self.kpis.clear()
        with self.kpis:
            for key, value, pct in (
                ("interactions", theme.number(totals.interactions), change.interactions_pct),
                ("tokens", theme.number(totals.tokens), change.tokens_pct),
                ("active_users", theme.number(totals.active_users), change.active_users_pct),
                ("avg_response", theme.millis(totals.avg_response_time_ms), None),
            ):
                pct = change.avg_response_time_pct if key == "avg_response" else pct
                kpi_card(key, t(key), value, theme.change(pct), note if pct is not None else "")
        self.agents.clear()
        with self.agents:
            for agent in snap.insights.agents:
                agent_card(self.ctx, agent, snap.sparklines.get(agent.agent_id, []))
        self._draw_lists(snap)

    def _draw_lists(self, snap: service.LiveSnapshot) -> None:
        t = self.ctx.t
        self.tiers.clear()
        with self.tiers:
            tier_bars(self.ctx, snap.insights.tiers)
        # Rebuilt only when an alert changed: a rebuild replaces the buttons, and a click on
        # a replaced button is lost (a usage event every second would otherwise do it).
        shown = [(a.id, a.status, a.updated_at) for a in snap.alerts]
        if shown != self.alerts_shown:
            self.alerts_shown = shown
            self.alerts.clear()
            with self.alerts:
                act = self._act if service.can_act(self.ctx.user.role) else None
                for alert in snap.alerts:
                    alert_row(self.ctx, alert, act)
                if not snap.alerts:
                    ui.label(t("no_alerts")).classes("text-slate-500")
        self.feed.clear()
        with self.feed:
            for item in snap.feed:
                feed_row(self.ctx, item)
            if not snap.feed:
                ui.label(t("no_activity")).classes("text-slate-500")

    async def _act(self, alert: AlertOut, action: str) -> None:
        await run_alert_action(self.ctx, alert, action)
        await self.refresh()
