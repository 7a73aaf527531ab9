"""The Mailbox page: the emails the demo's NGX_Closer sent, as the customers would read them.

Only ``nexus-crm demo`` installs a mailbox (``closer/mailbox.py``); elsewhere the page says
so and the header has no link to it. The mailbox lives in memory, so the page polls its
message count (cheap, no database) and redraws when a new email arrives.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import Response
from nicegui import ui
from nicegui.events import ValueChangeEventArguments

from nexus_crm.closer import HOST, PAGE_PATH, DemoMailbox, Received, installed_mailbox
from nexus_crm.dashboard import theme
from nexus_crm.dashboard.layout import PageContext, open_page

POLL_S = 0.5
TIME_CLASSES = "w-44 shrink-0 font-mono text-slate-500"
TO_CLASSES = "w-64 shrink-0 truncate"
Toggle = Callable[[ValueChangeEventArguments[bool]], None]


def mailbox_off(ctx: PageContext) -> None:
    """What the page shows outside the demo."""
    with ui.card().classes("mx-auto mt-8 items-center p-8").props('data-testid="mailbox-off"'):
        ui.icon("mail_lock").classes("text-6xl text-slate-400")
        ui.label(ctx.t("mailbox_off")).classes("text-slate-600")
        ui.link(ctx.t("back_live"), "/")


class MailboxPage:
    """One browser tab's Mailbox page."""

    def __init__(self, ctx: PageContext, mailbox: DemoMailbox) -> None:
        self.ctx = ctx
        self.mailbox = mailbox
        self.shown = -1  # the mailbox's count when the list was last drawn
        self.opened: set[int] = set()  # the messages whose body is open, kept on redraw

    def build(self) -> None:
        """Title, explanation, column headings and the list; then follow new messages."""
        t = self.ctx.t
        ui.label(t("mailbox_title")).classes("text-2xl font-bold").props(
            'data-testid="mailbox-title"'
        )
        ui.label(t("mailbox_note").format(server=f"{HOST}:{self.mailbox.port}")).classes(
            "text-slate-600"
        )
        self.count = ui.label().classes("text-sm text-slate-500").props('data-testid="mail-count"')
        with ui.row().classes("w-full gap-4 px-4 text-sm font-bold text-slate-500 no-wrap"):
            ui.label(t("received")).classes("w-44 shrink-0")
            ui.label(t("to")).classes("w-64 shrink-0")
            ui.label(t("subject"))
        self.rows = ui.column().classes("w-full gap-1").props('data-testid="mail-list"')
        self.draw()
        ui.timer(POLL_S, self.draw)

    def draw(self) -> None:
        """Redraw the list when messages arrived since the last drawing."""
        received = self.mailbox.received
        if received == self.shown:
            return
        self.shown = received
        messages = self.mailbox.messages()
        self.count.set_text(f"{theme.number(received)} {self.ctx.t('emails_received')}")
        self.rows.clear()
        with self.rows:
            if not messages:
                seconds = f"{self.ctx.settings.upsell_worker_interval_seconds:g}"
                ui.label(self.ctx.t("mailbox_empty").format(seconds=seconds)).classes(
                    "text-slate-500 p-4"
                ).props('data-testid="mailbox-empty"')
            for message in messages:
                self._message(message)

    def _message(self, message: Received) -> None:
        at = message.received_at.astimezone(self.ctx.settings.tz)
        row = ui.expansion(
            value=message.number in self.opened, on_value_change=self._toggle(message)
        )
        row.classes("w-full bg-white rounded").props('dense data-testid="mail-row"')
        with row.add_slot("header"), ui.row().classes("w-full items-center gap-4 no-wrap"):
            ui.label(f"{at:%Y-%m-%d %H:%M:%S}").classes(TIME_CLASSES).props(
                'data-testid="mail-time"'
            )
            ui.label(message.to).classes(TO_CLASSES).props('data-testid="mail-to"')
            ui.label(message.subject).classes("font-medium").props('data-testid="mail-subject"')
        with row:
            ui.label(f"{self.ctx.t('from')}: {message.sender}").classes("text-sm text-slate-500")
            # A label is text, never HTML: what an email says cannot run in the page.
            ui.label(message.body).classes(
                "whitespace-pre-wrap font-mono text-sm bg-slate-50 p-3 rounded w-full"
            ).props('data-testid="mail-body"')

    def _toggle(self, message: Received) -> Toggle:
        def toggle(event: ValueChangeEventArguments[bool]) -> None:
            if event.value:
                self.opened.add(message.number)
            else:
                self.opened.discard(message.number)

        return toggle


def register_mailbox_page(app: FastAPI) -> None:
    """Declare the Mailbox page of ``app`` (it shows a mailbox only when the demo installed one)."""

    @ui.page(PAGE_PATH, title="NexusCRM · Mailbox")
    async def mailbox_page(request: Request) -> Response | None:
        """Mailbox: the emails the demo sent — time, recipient, subject and body."""
        ctx = await open_page(app, request)
        if not isinstance(ctx, PageContext):
            return ctx
        mailbox = installed_mailbox(app)
        with ui.column().classes("w-full gap-4 p-2"):
            if mailbox is None:
                mailbox_off(ctx)
            else:
                MailboxPage(ctx, mailbox).build()
        return None
