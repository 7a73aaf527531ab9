"""What every live page shares: following the event bus, throttled refreshes, alert actions.

A page follows ``app.state.bus`` when there is one and re-reads its data, at most every
``MIN_REFRESH_S``, in one short transaction when a message it cares about arrives; without
a bus it polls a cheap change marker instead. No page holds a database session between
refreshes; closing the tab closes its subscription.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any, Protocol

from fastapi import FastAPI
from nicegui import background_tasks, ui

from nexus_crm.alerts.schemas import AlertOut
from nexus_crm.dashboard import service
from nexus_crm.dashboard.layout import PageContext
from nexus_crm.db import transaction
from nexus_crm.errors import NexusError
from nexus_crm.kit.time import local_day, utcnow
from nexus_crm.realtime import Message

TICK_S = 0.2
MIN_REFRESH_S = 0.4
POLL_S = 0.5
POLL_WITH_BUS_S = 5.0  # a safety net: the bus is what makes updates fast


class _Subscription(Protocol):
    def __aiter__(self) -> Any: ...
    def close(self) -> None: ...


async def run_alert_action(ctx: PageContext, alert: AlertOut, action: str) -> None:
    """Apply an alert action as the page's user and say how it went (streamed after commit)."""
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
    ui.notify(f"{ctx.t('done')}: {ctx.t(changed.status)}", type="positive")


async def run_bulk_action(ctx: PageContext, alert_ids: Iterable[uuid.UUID], action: str) -> int:
    """Apply one action to several alerts, each in its own transaction; how many changed."""
    changed: list[AlertOut] = []
    refused: list[str] = []
    for alert_id in alert_ids:
        try:
            async with transaction(ctx.app.state.sessions) as session:
                one = await service.act_on_alert(
                    session,
                    alert_id=alert_id,
                    action=action,
                    role=ctx.user.role,
                    actor=f"user:{ctx.user.email}",
                    now=utcnow(),
                )
            changed.append(one)
        except NexusError as exc:
            refused.append(exc.detail)
    message = f"{ctx.t('done')}: {len(changed)}"
    if refused:
        message += f" · {ctx.t('skipped')}: {len(refused)} ({refused[0]})"
    ui.notify(message, type="warning" if refused else "positive")
    return len(changed)


class LivePage:
    """A page that re-reads its data when the bus says something it shows has changed."""

    def __init__(self, ctx: PageContext) -> None:
        self.ctx = ctx
        self.dirty = False
        self.last_refresh = 0.0
        self.last_poll = 0.0
        self.marker: object = None
        self.busy = False
        self.sub: _Subscription | None = None

    async def refresh(self) -> None:
        """Re-read the page's data in one short transaction and redraw (subclasses)."""
        raise NotImplementedError

    def wants(self, message: Message) -> bool:
        """Whether a bus message may change what this page shows (every one by default)."""
        return True

    def start(self, app: FastAPI) -> None:
        """Follow the bus (or poll), and stop when the tab goes away."""
        bus = getattr(app.state, "bus", None)
        if bus is not None:
            self.sub = bus.subscribe(max_queue=100)
            background_tasks.create(self._follow(), name="dashboard-live")
        ui.timer(TICK_S, self._tick)
        ui.context.client.on_delete(self.stop)

    async def _follow(self) -> None:
        assert self.sub is not None
        async for message in self.sub:
            if self.wants(message):
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
                self.dirty, self.last_refresh = False, time.monotonic()
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
        """Close the bus subscription."""
        if self.sub is not None:
            self.sub.close()


def about_customer(message: Message, user_id: str) -> bool:
    """Whether a ``usage`` or ``alert`` bus message concerns one customer."""
    if message.type == "alert":
        return bool(message.data.get("user_id") == user_id)
    if message.type == "usage":
        events = message.data.get("events") or []
        return any(isinstance(e, dict) and e.get("user_id") == user_id for e in events)
    return False
