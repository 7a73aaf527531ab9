"""Login, logout and the locale switch: plain HTTP routes that set or clear cookies.

The login form is server-rendered HTML (works without JavaScript) and posts here; a good
password gets a signed session cookie (HttpOnly, SameSite=Lax, Secure outside plain-HTTP
development) and a redirect to the page asked for. Failed logins are limited per email and
per client IP (LOGIN_MAX_FAILURES per LOGIN_FAILURE_WINDOW_SECONDS, counted in process): over
the limit the form answers 429 with ``Retry-After`` without checking the password.
"""

from __future__ import annotations

import html
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from nexus_crm.api import login_throttle, throttle_keys
from nexus_crm.dashboard.i18n import LOCALE_COOKIE, LOCALES, pick_locale, translate
from nexus_crm.db import transaction
from nexus_crm.kit.time import utcnow
from nexus_crm.security import (
    COOKIE_NAME,
    authenticate_user,
    cookie_secure,
    end_sessions,
    issue_session,
    read_session,
    session_user,
)
from nexus_crm.settings import Settings

router = APIRouter(include_in_schema=False)
MAX_FORM_BYTES = 8192


@dataclass(frozen=True)
class PageUser:
    """The logged-in user as pages see it."""

    id: str
    email: str
    role: str


def safe_next(target: str | None) -> str:
    """A local path to go to after login (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def locale_of(request: Request, settings: Settings) -> str:
    """The page language: the switch's cookie, else LOCALE."""
    return pick_locale(request.cookies.get(LOCALE_COOKIE), settings.locale)


async def current_user(request: Request, app: FastAPI) -> PageUser | None:
    """The user of the request's session cookie, if valid (one short transaction)."""
    settings: Settings = app.state.settings
    token = request.cookies.get(COOKIE_NAME, "")
    claims = read_session(settings.session_secret, token, now=utcnow())
    if claims is None:
        return None
    async with transaction(app.state.sessions) as session:
        user = await session_user(session, user_id=claims.user_id, epoch=claims.epoch)
        return None if user is None else PageUser(str(user.id), user.email, user.role)


def login_redirect(path: str) -> RedirectResponse:
    """Send an anonymous visitor to the login page, remembering where they were going."""
    return RedirectResponse(f"/login?next={quote(safe_next(path))}", status_code=303)


def _login_html(locale: str, target: str, error_key: str | None) -> str:
    def t(key: str) -> str:
        return html.escape(translate(key, locale))

    error = f'<p class="err" role="alert">{t(error_key)}</p>' if error_key else ""
    return f"""<!doctype html><html lang="{locale}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>NexusCRM · {t("login")}</title><style>
body{{font-family:system-ui,sans-serif;background:#0f172a;display:flex;min-height:100vh;
align-items:center;justify-content:center;margin:0}}
form{{background:#fff;padding:2rem;border-radius:12px;width:320px;display:grid;gap:.8rem}}
input,button{{font-size:1rem;padding:.6rem;border-radius:6px;border:1px solid #cbd5e1}}
button{{background:#2563eb;color:#fff;border:0;cursor:pointer}}.err{{color:#dc2626;margin:0}}
</style></head><body><form method="post" action="/login">
<h2 style="margin:0">NexusCRM</h2>{error}
<label>{t("email")}<br><input name="email" type="email" autocomplete="username" required
style="width:100%;box-sizing:border-box"></label>
<label>{t("password")}<br><input name="password" type="password" required
autocomplete="current-password" style="width:100%;box-sizing:border-box"></label>
<input type="hidden" name="next" value="{html.escape(target)}">
<button type="submit">{t("login")}</button></form></body></html>"""


@router.get("/login")
async def login_page(request: Request, next: str = "/", failed: int = 0) -> HTMLResponse:
    """The login form."""
    locale = locale_of(request, request.app.state.settings)
    error = "login_failed" if failed else None
    return HTMLResponse(_login_html(locale, safe_next(next), error))


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body())[:MAX_FORM_BYTES].decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def _throttled(request: Request, target: str, wait: int) -> HTMLResponse:
    locale = locale_of(request, request.app.state.settings)
    page = _login_html(locale, target, "login_throttled")
    return HTMLResponse(page, status_code=429, headers={"Retry-After": str(wait)})


def _signed_in(request: Request, user_id: uuid.UUID, epoch: int, target: str) -> Response:
    settings: Settings = request.app.state.settings
    token = issue_session(
        settings.session_secret,
        user_id=user_id,
        epoch=epoch,
        now=utcnow(),
        max_age=settings.session_max_age_seconds,
    )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=settings.session_max_age_seconds,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(settings, scheme=request.url.scheme),
        path="/",
    )
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the credentials; on success set the session cookie and go on (429 if throttled)."""
    form = await _form(request)
    target, keys = safe_next(form.get("next")), throttle_keys(request, form.get("email", ""))
    throttle = login_throttle(request.app)
    wait = throttle.retry_after(keys)
    if wait:
        return _throttled(request, target, wait)
    async with transaction(request.app.state.sessions) as session:
        user = await authenticate_user(
            session, email=form.get("email", ""), password=form.get("password", ""), now=utcnow()
        )
    if user is None:
        throttle.failed(keys)
        return RedirectResponse(f"/login?failed=1&next={quote(target)}", status_code=303)
    throttle.succeeded(keys[0])
    return _signed_in(request, user.id, user.session_epoch, target)


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End every session of this user (the cookie too) and show the login form."""
    user = await current_user(request, request.app)
    if user is not None:
        async with transaction(request.app.state.sessions) as session:
            await end_sessions(session, user_id=uuid.UUID(user.id))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax")
    return response


@router.get("/locale/{lang}")
async def set_locale(lang: str, next: str = "/") -> Response:
    """Switch the dashboard language (en, es) and go back."""
    response = RedirectResponse(safe_next(next), status_code=303)
    if lang in LOCALES:
        response.set_cookie(LOCALE_COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/")
    return response
