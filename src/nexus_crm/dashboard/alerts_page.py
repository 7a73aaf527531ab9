"""The Alerts page: filter by status, type and customer; select rows; act on them in bulk.

Analysts see the list read-only (the bulk buttons are disabled, and the service refuses
their actions anyway). The list re-reads itself when an ``alert`` message is on the bus.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from nicegui import ui
from nicegui.events import ValueChangeEventArguments

from nexus_crm.alerts.schemas import AlertOut, AlertType, StatusFilter
from nexus_crm.dashboard import service
from nexus_crm.dashboard.follow import LivePage, run_bulk_action
from nexus_crm.dashboard.layout import PageContext
from nexus_crm.dashboard.widgets import alert_row
from nexus_crm.db import transaction
from nexus_crm.kit.time import utcnow
from nexus_crm.realtime import Message

BULK_ACTIONS = ("acknowledge", "resolve", "dismiss")
STATUS_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "open": "open",
        "active": "active",
        "acknowledged": "acknowledged",
        "resolved": "resolved",
        "dismissed": "dismissed",
        "all": "all",
    }
)


def _status(value: str | None) -> StatusFilter:
    if value is None or value not in STATUS_LABELS:
        return StatusFilter.OPEN
    return StatusFilter(value)


def _type(value: str | None) -> str:
    return value if value in {t.value for t in AlertType} else ""


Toggle = Callable[[ValueChangeEventArguments[Any]], None]


class AlertsPage(LivePage):
    """One browser tab's Alerts page."""

    def __init__(self, ctx: PageContext, query: Mapping[str, str]) -> None:
        super().__init__(ctx)
        self.status = _status(query.get("status"))
        self.alert_type = _type(query.get("type"))
        self.user_id = (query.get("customer") or "").strip()
        self.selected: set[uuid.UUID] = set()
        self.shown: list[AlertOut] = []

    def wants(self, message: Message) -> bool:
        """Only alert messages change the list."""
        return message.type == "alert"

    async def build(self) -> None:
        """Lay out filters, the bulk bar and the list, and fill it."""
        t = self.ctx.t
        ui.label(t("alerts")).classes("text-2xl font-bold")
        with ui.row().classes("items-end gap-4"):
            ui.select(
                {k: t(v) for k, v in STATUS_LABELS.items()},
                value=self.status.value,
                label=t("status"),
                on_change=lambda e: self._filter(status=_status(e.value)),
            ).classes("w-44").props('data-testid="filter-status"')
            types = {"": t("all"), **{a.value: a.value for a in AlertType}}
            ui.select(
                types,
                value=self.alert_type,
                label=t("type"),
                on_change=lambda e: self._filter(alert_type=_type(e.value)),
            ).classes("w-64").props('data-testid="filter-type"')
            ui.input(
                t("filter_customer"),
                value=self.user_id,
                on_change=lambda e: self._filter(user_id=str(e.value or "").strip()),
            ).classes("w-56").props('clearable data-testid="filter-customer"')
        self.bar = ui.row().classes("items-center gap-2 w-full")
        self.rows = ui.column().classes("w-full gap-1").props('data-testid="alert-list"')
        await self.refresh()

    def _filter(
        self,
        *,
        status: StatusFilter | None = None,
        alert_type: str | None = None,
        user_id: str | None = None,
    ) -> None:
        self.status = status or self.status
        self.alert_type = self.alert_type if alert_type is None else alert_type
        self.user_id = self.user_id if user_id is None else user_id
        self.dirty = True  # the next tick re-reads, throttled like the bus

    async def refresh(self) -> None:
        """Re-read the filtered list (one transaction) and redraw it, keeping the selection."""
        async with transaction(self.ctx.app.state.sessions) as session:
            self.shown = await service.list_alerts(
                session,
                status=self.status,
                alert_type=self.alert_type or None,
                user_id=self.user_id or None,
                now=utcnow(),
            )
        self.selected &= {a.id for a in self.shown}
        self._draw()

    def _draw(self) -> None:
        self._draw_bar()
        self.rows.clear()
        with self.rows:
            for alert in self.shown:
                with ui.card().classes("w-full py-1 px-2"), ui.row().classes("items-center w-full"):
                    ui.checkbox(
                        value=alert.id in self.selected, on_change=self._toggle(alert.id)
                    ).props(f'dense data-testid="select-{alert.id}"')
                    ui.label(alert.alert_type).classes("w-52 text-xs font-mono text-slate-500")
                    with ui.element("div").classes("flex-1"):
                        alert_row(self.ctx, alert, None)
            if not self.shown:
                ui.label(self.ctx.t("no_alerts")).classes("text-slate-500")

    def _draw_bar(self) -> None:
        t, acting = self.ctx.t, service.can_act(self.ctx.user.role)
        self.bar.clear()
        with self.bar:
            every = bool(self.shown) and len(self.selected) == len(self.shown)
            ui.checkbox(t("select_all"), value=every, on_change=self._select_all).props(
                'data-testid="select-all"'
            )
            ui.label(
                f"{len(self.selected)} {t('selected')} · {len(self.shown)} {t('alerts_shown')}"
            )
            for action in BULK_ACTIONS:
                button = ui.button(t(action), on_click=self._bulk(action)).props(
                    f'outline dense data-testid="bulk-{action}"'
                )
                button.set_enabled(acting and bool(self.selected))
            if not acting:
                ui.label(t("read_only")).classes("text-sm text-amber-700").props(
                    'data-testid="read-only"'
                )

    def _toggle(self, alert_id: uuid.UUID) -> Toggle:
        def handler(e: ValueChangeEventArguments[Any]) -> None:
            if e.value:
                self.selected.add(alert_id)
            else:
                self.selected.discard(alert_id)
            self._draw_bar()

        return handler

    def _select_all(self, e: ValueChangeEventArguments[Any]) -> None:
        self.selected = {a.id for a in self.shown} if e.value else set()
        self._draw()

    def _bulk(self, action: str) -> Callable[[], object]:
        async def handler() -> None:
            ids = [a.id for a in self.shown if a.id in self.selected]
            await run_bulk_action(self.ctx, ids, action)
            self.selected.clear()
            await self.refresh()

        return handler
