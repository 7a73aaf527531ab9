"""The Live page: KPIs, agents, tiers, alerts and activity, updated without reload.

Each open page follows the event bus (``app.state.bus``) when there is one and re-reads
its snapshot, at most every ``MIN_REFRESH_S``, in one short transaction; without a bus it
polls a cheap change marker instead. No page holds a database session between refreshes.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from fastapi import FastAPI
from nicegui import background_tasks, ui

from nexus_crm.alerts.schemas import AlertOut
from nexus_crm.dashboard import service, theme
from nexus_crm.dashboard.layout import PageContext
from nexus_crm.dashboard.widgets import agent_card, alert_row, feed_row, kpi_card, tier_bars
from nexus_crm.db import transaction
from nexus_crm.errors import NexusError
from nexus_crm.kit.time import local_day, utcnow

TICK_S = 0.2
MIN_REFRESH_S = 0.4
POLL_S = 0.5
POLL_WITH_BUS_S = 5.0  # a safety net: the bus is what makes updates fast


class _Subscription(Protocol):
    def __aiter__(self) -> Any: ...
    def close(self) -> None: ...


async def run_alert_action(ctx: PageContext, alert: AlertOut, action: str) -> None:
    """Apply an alert action as the page's user, publish it, and say how it went."""
    try:
        async with transaction(ctx.app.state.sessions) as session:
            changed = await service.act_on_alert(
                session,
                alert_id=alert.id,
                action=action,
                role=ctx.user.role,
                actor=f"user:{ctx.user.email}",
                now=utcnow(),
            )
    except NexusError as exc:
        ui.notify(exc.detail, type="warning")
        return
    ctx.app.state.alert_publisher.publish([changed])  # after commit, as the API does
    ui.notify(f"{ctx.t('done')}: {ctx.t(changed.status)}", type="positive")


class LiveView:
    """One browser tab's Live page."""

    def __init__(self, ctx: PageContext) -> None:
        self.ctx = ctx
        self.dirty = False
        self.last_refresh = 0.0
        self.last_poll = 0.0
        self.marker: object = None
        self.busy = False
        self.sub: _Subscription | None = None
        self.unsubscribe_alerts: Any = None

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
        self.dirty, self.last_refresh = False, time.monotonic()
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

    def start(self, app: FastAPI) -> None:
        """Follow the bus (or poll), and stop when the tab goes away."""
        bus = getattr(app.state, "bus", None)
        if bus is not None:
            self.sub = bus.subscribe(max_queue=100)
            background_tasks.create(self._follow(), name="dashboard-live")
        else:
            self.unsubscribe_alerts = app.state.alert_publisher.subscribe(self._mark)
        ui.timer(TICK_S, self._tick)
        ui.context.client.on_delete(self.stop)

    def _mark(self, *_: object) -> None:
        self.dirty = True

    async def _follow(self) -> None:
        assert self.sub is not None
        async for _message in self.sub:
            self.dirty = True

    async def _tick(self) -> None:
        if self.busy:
            return
        self.busy = True
        try:
            every = POLL_S if self.sub is None else POLL_WITH_BUS_S
            if time.monotonic() - self.last_poll >= every:
                await self._poll()
            if self.dirty and time.monotonic() - self.last_refresh >= MIN_REFRESH_S:
                await self.refresh()
        finally:
            self.busy = False

    async def _poll(self) -> None:
        self.last_poll = time.monotonic()
        async with transaction(self.ctx.app.state.sessions) as session:
            marker = await service.change_marker(
                session, today=local_day(utcnow(), self.ctx.settings.tz)
            )
        if self.marker is not None and marker != self.marker:
            self.dirty = True
        self.marker = marker

    def stop(self) -> None:
        """Close the bus subscription or the alert listener."""
        if self.sub is not None:
            self.sub.close()
        if self.unsubscribe_alerts is not None:
            self.unsubscribe_alerts()
            self.unsubscribe_alerts = None
