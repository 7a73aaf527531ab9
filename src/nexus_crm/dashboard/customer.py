"""The Customer page: usage vs limit, daily use by agent, churn and CLV, alerts, upsell.

It follows the bus like the Live page, but re-reads only for ``usage`` and ``alert``
messages about its customer; an unknown customer gets a friendly page that fills in by
itself if the customer's first event arrives.
"""

from __future__ import annotations

from datetime import timedelta

from nicegui import ui

from nexus_crm.alerts.schemas import AlertOut
from nexus_crm.analytics.churn.schemas import ChurnScore
from nexus_crm.analytics.schemas import CustomerUsage
from nexus_crm.closer.schemas import SequenceOut
from nexus_crm.dashboard import charts, service, theme
from nexus_crm.dashboard.follow import LivePage, about_customer, run_alert_action
from nexus_crm.dashboard.layout import PageContext
from nexus_crm.dashboard.widgets import alert_row
from nexus_crm.db import transaction
from nexus_crm.errors import NexusError, NotFound
from nexus_crm.kit.time import utcnow
from nexus_crm.realtime import Message


def not_found(ctx: PageContext, user_id: str) -> None:
    """The friendly page of an unknown customer ID."""
    with ui.card().classes("mx-auto mt-8 items-center p-8").props('data-testid="not-found"'):
        ui.icon("person_search").classes("text-6xl text-slate-400")
        ui.label(ctx.t("not_found")).classes("text-xl font-bold")
        ui.label(user_id).classes("font-mono text-slate-500")
        ui.label(ctx.t("not_found_hint")).classes("text-slate-500")
        ui.link(ctx.t("back_live"), "/")


def _title(ctx: PageContext, usage: CustomerUsage) -> None:
    with ui.row().classes("items-center gap-3"):
        ui.icon("person").classes("text-3xl text-indigo-600")
        ui.label(usage.user_id).classes("text-2xl font-bold").props('data-testid="customer-id"')
        ui.label(usage.tier.upper()).classes("text-sm font-bold px-2 rounded text-white").style(
            f"background:{theme.tier_color(usage.tier)}"
        ).props('data-testid="customer-tier"')
        ui.label(ctx.t(usage.status) if usage.status == "active" else usage.status).classes(
            "text-sm text-slate-500"
        )
        who = " · ".join(x for x in (usage.name, usage.email) if x)
        if who:
            ui.label(who).classes("text-sm text-slate-500")


def _usage_card(ctx: PageContext, usage: CustomerUsage) -> None:
    u = usage.usage
    with ui.card().classes("w-[360px]"):
        ui.label(ctx.t("usage_vs_limit")).classes("text-lg font-bold")
        ui.echart(charts.usage_gauge(u.usage_percentage, ctx.t("of_limit"))).classes(
            "h-56 w-full"
        ).props('data-testid="usage-gauge"')
        ui.label(f"{u.usage_percentage:.2f} %").classes("hidden").props('data-testid="usage-pct"')
        for key, used, limit, pct in (
            ("tokens", u.tokens_used, u.token_limit, u.tokens_percentage),
            ("interactions", u.interactions_used, u.interaction_limit, u.interactions_percentage),
        ):
            with ui.row().classes("w-full justify-between text-sm"):
                ui.label(ctx.t(f"{key}_used"))
                ui.label(f"{theme.number(used)} / {theme.number(limit)}").props(
                    f'data-testid="usage-{key}"'
                )
                ui.label(f"{pct:.1f} %").classes("text-slate-500")
        last_day = u.period_end - timedelta(days=1)
        ui.label(f"{ctx.t('period')}: {u.period_start:%Y-%m-%d} – {last_day:%Y-%m-%d}").classes(
            "text-xs text-slate-500"
        )


def _churn_card(ctx: PageContext, churn: ChurnScore | None) -> None:
    with ui.card().classes("w-[360px]").props('data-testid="churn-card"'):
        ui.label(ctx.t("churn")).classes("text-lg font-bold")
        if churn is None:
            ui.label(ctx.t("no_churn")).classes("text-slate-500")
            return
        colour = "text-emerald-600" if churn.probability < 0.3 else "text-rose-600"
        ui.label(f"{100 * churn.probability:.1f} %").classes(f"text-3xl font-bold {colour}").props(
            'data-testid="churn-probability"'
        )
        ui.label(ctx.t("drivers")).classes("text-sm font-bold mt-2")
        for driver in churn.drivers:
            ui.label(f"• {driver.text}").classes("text-sm").props('data-testid="churn-driver"')
        ui.label(ctx.t("clv")).classes("text-sm font-bold mt-2")
        ui.label(f"${churn.clv:,.2f}").classes("text-2xl font-bold").props('data-testid="clv"')
        ui.label(
            f"{ctx.t('lifetime')}: {churn.expected_lifetime_months:.1f} {ctx.t('months')} × "
            f"${churn.monthly_price:,.2f}"
        ).classes("text-xs text-slate-500")


def _sequence_rows(ctx: PageContext, sequences: list[SequenceOut]) -> None:
    ui.label(ctx.t("sequences")).classes("text-sm font-bold mt-2")
    for seq in sequences:
        sent = sum(1 for st in seq.steps if st.status == "sent")
        ui.label(
            f"{seq.created_at:%Y-%m-%d} → {seq.recommended_tier}: {seq.status} "
            f"({sent}/{len(seq.steps)}){' · auto' if seq.automatic else ''}"
        ).classes("text-xs").props('data-testid="sequence-row"')
    if not sequences:
        ui.label(ctx.t("no_sequences")).classes("text-xs text-slate-500")


async def start_upsell(ctx: PageContext, user_id: str, tier: str, reason: str) -> bool:
    """Start a sequence as the page's user and say how it went; True if one is active now."""
    try:
        async with transaction(ctx.app.state.sessions) as session:
            result = await service.start_upsell(
                session,
                user_id=user_id,
                recommended_tier=tier,
                reason=reason,
                role=ctx.user.role,
                actor=f"user:{ctx.user.email}",
                now=utcnow(),
                settings=ctx.settings,
            )
    except NexusError as exc:
        ui.notify(exc.detail, type="warning")
        return False
    key = "upsell_started" if result.created else "upsell_existing"
    ui.notify(ctx.t(key), type="positive" if result.created else "info")
    return True


class CustomerPage(LivePage):
    """One browser tab's Customer page."""

    def __init__(self, ctx: PageContext, user_id: str) -> None:
        super().__init__(ctx)
        self.user_id = user_id
        self.body = ui.column().classes("w-full gap-4")

    def wants(self, message: Message) -> bool:
        """Only usage and alerts of this customer change the page."""
        return about_customer(message, self.user_id)

    async def refresh(self) -> None:
        """Re-read the customer's view (one transaction) and redraw it."""
        try:
            async with transaction(self.ctx.app.state.sessions) as session:
                view = await service.get_customer_view(
                    session, user_id=self.user_id, now=utcnow(), settings=self.ctx.settings
                )
        except NotFound:
            self.body.clear()
            with self.body:
                not_found(self.ctx, self.user_id)
            return
        self._draw(view)

    def _upsell_card(self, view: service.CustomerView) -> None:
        ctx, tiers = self.ctx, view.upgrade_tiers
        with ui.card().classes("w-[300px]").props('data-testid="upsell-card"'):
            allowed = service.can_act(ctx.user.role) and bool(tiers)
            tier = ui.select(tiers, value=next(iter(tiers), None), label=ctx.t("recommended_tier"))
            tier.props('dense data-testid="upsell-tier"').classes("w-full")
            reason = ui.input(ctx.t("reason"), value="High usage pattern").props(
                'dense maxlength=500 data-testid="upsell-reason"'
            )
            button = ui.button(
                ctx.t("upsell"),
                icon="trending_up",
                on_click=lambda: self._start(
                    str(tier.value), str(reason.value or "").strip() or "dashboard"
                ),
            )
            button.props('data-testid="upsell"').classes("w-full")
            if not allowed:
                button.props("disable")
            note = ctx.t("upsell_note") if tiers else ctx.t("upsell_top_tier")
            ui.label(note).classes("text-xs text-slate-500").props('data-testid="upsell-note"')
            _sequence_rows(ctx, view.sequences)

    async def _start(self, tier: str, reason: str) -> None:
        if await start_upsell(self.ctx, self.user_id, tier, reason):
            await self.refresh()

    def _draw(self, view: service.CustomerView) -> None:
        ctx, usage = self.ctx, view.usage
        self.body.clear()
        with self.body:
            _title(ctx, usage)
            with ui.row().classes("w-full gap-4 items-stretch"):
                _usage_card(ctx, usage)
                _churn_card(ctx, usage.churn)
                self._upsell_card(view)
            with ui.card().classes("w-full"):
                ui.label(ctx.t("daily_by_agent")).classes("text-lg font-bold")
                days = [p.day for p in usage.daily]
                ui.echart(charts.daily_by_agent(days, view.daily_by_agent)).classes(
                    "h-72 w-full"
                ).props('data-testid="daily-chart"')
            self._draw_alerts(view.alerts)

    def _draw_alerts(self, alerts: list[AlertOut]) -> None:
        with ui.card().classes("w-full").props('data-testid="customer-alerts"'):
            ui.label(self.ctx.t("customer_alerts")).classes("text-lg font-bold")
            act = self._act if service.can_act(self.ctx.user.role) else None
            for alert in alerts:
                alert_row(self.ctx, alert, act)
            if not alerts:
                ui.label(self.ctx.t("no_customer_alerts")).classes("text-slate-500")

    async def _act(self, alert: AlertOut, action: str) -> None:
        await run_alert_action(self.ctx, alert, action)
        await self.refresh()
