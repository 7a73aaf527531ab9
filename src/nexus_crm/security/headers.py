"""Security headers on every HTTP response (docs/security.md, docs/deployment.md).

All responses get ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
``Referrer-Policy: same-origin`` (no referrer leaves the site; not ``no-referrer``, under
which browsers send ``Origin: null`` on same-origin POSTs and the CSRF check in deps.py
would refuse them) and a Content-Security-Policy; HTTPS requests also get
``Strict-Transport-Security``. "HTTPS" is the ASGI scope's scheme: uvicorn serving TLS itself,
or a trusted reverse proxy's ``X-Forwarded-Proto: https`` (``--proxy-headers``).

The CSP depends on what the response is:
- JSON, static files, everything not HTML: ``default-src 'none'`` (nothing may load).
- The dashboard's HTML (NiceGUI): scripts only from this origin or inline scripts whose
  SHA-256 is listed in the header. The hashes are computed here from the very response being
  sent, so NiceGUI's per-page inline scripts run and nothing else inline does (no injected
  ``<script>``, no ``onerror=`` attributes, no ``javascript:`` URLs).
- /docs and /redoc: as strict, plus exactly the CDN origins FastAPI's pages load from.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
import zlib

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nexus_crm.settings import Settings

DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
API_CSP = "default-src 'none'; frame-ancestors 'none'"
# The relaxations, each for a reason:
# - 'unsafe-eval': NiceGUI compiles Vue templates in the browser and evaluates props,
#   handlers and run_javascript() with eval/new Function (nicegui.js); without it no page renders.
# - style 'unsafe-inline': Quasar and NiceGUI write inline style attributes, and the Tailwind
#   browser runtime injects <style> elements with generated CSS; styles cannot run code.
# - data: images: the emoji favicon is a data: SVG (NiceGUI's favicon link).
# - connect-src 'self' covers the same-origin ws:/wss: of NiceGUI's socket (CSP Level 3).
DASHBOARD_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'{hashes}; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# FastAPI's Swagger UI and ReDoc pages load their code from jsDelivr, ReDoc its fonts from
# Google Fonts and a web worker from a blob: URL; the favicon comes from fastapi.tiangolo.com.
DOCS_CSP = (
    "default-src 'none'; script-src https://cdn.jsdelivr.net{hashes}; "
    "style-src https://cdn.jsdelivr.net https://fonts.googleapis.com 'unsafe-inline'; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com; "
    "connect-src 'self'; worker-src blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_SCRIPT = re.compile(rb"<script\b([^>]*)>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)
_SRC = re.compile(rb"\bsrc\s*=", re.IGNORECASE)


def inline_script_hashes(html: bytes) -> list[str]:
    """CSP source expressions (``'sha256-…'``) of the inline scripts of an HTML page."""
    hashes: list[str] = []
    for match in _SCRIPT.finditer(html):
        if _SRC.search(match.group(1)):
            continue  # an external script: its body is not run, its origin is checked
        # Browsers hash the text after HTML's newline normalisation (CRLF and CR -> LF).
        text = match.group(2).replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        digest = base64.b64encode(hashlib.sha256(text).digest()).decode()
        if (source := f"'sha256-{digest}'") not in hashes:
            hashes.append(source)
    return hashes


def html_policy(path: str, html: bytes) -> str:
    """The CSP of an HTML response: the docs' or the dashboard's, with its scripts' hashes."""
    hashes = "".join(f" {h}" for h in inline_script_hashes(html))
    template = DOCS_CSP if path in DOCS_PATHS else DASHBOARD_CSP
    return template.format(hashes=hashes)


def _decoded(body: bytes, encoding: str) -> bytes:
    """The body as the browser sees it after Content-Encoding (gzip from NiceGUI's app)."""
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body


class SecurityHeadersMiddleware:
    """Pure-ASGI middleware adding the security headers; HTML is buffered to hash its scripts."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.hsts = f"max-age={settings.hsts_max_age_seconds}; includeSubDomains"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response = _Response(scope, send, self.hsts if scope.get("scheme") == "https" else None)
        await self.app(scope, receive, response.send)


class _Response:
    """One response on its way out: headers added at the start, or at the end for HTML."""

    def __init__(self, scope: Scope, send: Send, hsts: str | None) -> None:
        self.path: str = scope["path"]
        self._send = send
        self._hsts = hsts
        self._start: Message | None = None  # held back while an HTML body is buffered
        self._body: list[bytes] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = self._common(message)
            if not headers.get("content-type", "").startswith("text/html"):
                headers.setdefault("content-security-policy", API_CSP)
                await self._send(message)
            elif "content-security-policy" in headers:
                await self._send(message)
            else:
                self._start = message
            return
        start = self._start
        if start is None:
            await self._send(message)
            return
        if message["type"] != "http.response.body":  # e.g. a file sent by path: nothing to hash
            self._start = None
            await self._send_start(start, b"")
            await self._send(message)
            return
        self._body.append(message.get("body", b""))
        if not message.get("more_body", False):
            self._start, body = None, b"".join(self._body)
            await self._send_start(start, body)
            await self._send({"type": "http.response.body", "body": body, "more_body": False})

    def _common(self, message: Message) -> MutableHeaders:
        headers = MutableHeaders(scope=message)
        headers.setdefault("x-content-type-options", "nosniff")
        headers.setdefault("x-frame-options", "DENY")
        headers.setdefault("referrer-policy", "same-origin")
        if self._hsts is not None:
            headers.setdefault("strict-transport-security", self._hsts)
        return headers

    async def _send_start(self, start: Message, body: bytes) -> None:
        headers = MutableHeaders(scope=start)
        try:
            html = _decoded(body, headers.get("content-encoding", "identity").strip().lower())
        except (OSError, EOFError, zlib.error):
            html = b""  # undecodable: no hashes, so no inline script runs (fails closed)
        headers["content-security-policy"] = html_policy(self.path, html)
        await self._send(start)
