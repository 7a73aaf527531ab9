"""The frame every page shares: who is logged in, navigation, search, language, logout."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import Response
from nicegui import ui

from nexus_crm.closer import PAGE_PATH as MAILBOX_PATH
from nexus_crm.closer import installed_mailbox
from nexus_crm.dashboard.auth import PageUser, current_user, locale_of, login_redirect
from nexus_crm.dashboard.i18n import translate
from nexus_crm.settings import Settings

LOGOUT_FORM = (
    '<form method="post" action="/logout" style="margin:0">'
    '<button type="submit" data-testid="logout" style="background:none;border:1px solid #fff;'
    'color:#fff;border-radius:6px;padding:4px 10px;cursor:pointer">{label}</button></form>'
)


@dataclass(frozen=True)
class PageContext:
    """The app, the user and the language of one page view."""

    app: FastAPI
    user: PageUser
    locale: str

    @property
    def settings(self) -> Settings:
        """The app's settings."""
        settings: Settings = self.app.state.settings
        return settings

    def t(self, key: str) -> str:
        """A string in the page's language."""
        return translate(key, self.locale)


async def open_page(app: FastAPI, request: Request) -> PageContext | Response:
    """The page's context for a logged-in user, else a redirect to the login form."""
    user = await current_user(request, app)
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if user is None:
        return login_redirect(path)
    ctx = PageContext(app, user, locale_of(request, app.state.settings))
    header(ctx, path)
    return ctx


def _search(value: str | None) -> None:
    user_id = (value or "").strip()
    if user_id:
        ui.navigate.to(f"/customers/{quote(user_id, safe='')}")


def header(ctx: PageContext, path: str) -> None:
    """The top bar: title, pages, customer search, EN/ES switch, user and logout."""
    ui.query("body").style("background:#f1f5f9")
    with ui.header().classes("items-center gap-4 bg-slate-900 text-white"):
        ui.label("NexusCRM").classes("text-lg font-bold")
        pages = [("live", "/"), ("alerts", "/alerts"), ("business", "/business")]
        if installed_mailbox(ctx.app) is not None:  # only `nexus-crm demo` has one
            pages.append(("mailbox", MAILBOX_PATH))
        for key, target in pages:
            ui.link(ctx.t(key), target).classes("text-white no-underline").props(
                f'data-testid="nav-{key}"'
            )
        search = ui.input(placeholder=ctx.t("search")).props(
            'dense dark standout data-testid="search"'
        )
        search.on("keydown.enter", lambda: _search(search.value))
        ui.space()
        for lang in ("en", "es"):
            style = "font-bold underline" if lang == ctx.locale else "opacity-70"
            ui.link(lang.upper(), f"/locale/{lang}?next={quote(path)}").classes(
                f"text-white no-underline {style}"
            ).props(f'data-testid="locale-{lang}"')
        ui.label(f"{ctx.user.email} · {ctx.user.role}").classes("text-sm opacity-80")
        ui.html(LOGOUT_FORM.format(label=ctx.t("logout")), sanitize=False)
