"""What an HTTP request must show before it reaches the MCP server: a host, then a credential.

``/mcp`` of the API (mount.py) and ``nexus-crm mcp --transport http`` (cli/mcp.py) serve the
same app (:func:`gated_app`) behind the same :class:`McpGate`:

1. DNS rebinding (MCP spec, transports, "Security Warning"): a web page whose name resolves
   to this machine must not reach the server. The ``Host`` must be a loopback name or an
   allowed host (NEXUS_CRM_BASE_URL's, or one the operator names), on any port, and so must
   the host of an ``Origin`` when a browser sends one; else 403 naming the header. The SDK
   has the same check (``TransportSecuritySettings``), but it answers 421 in plain text and
   compares exact strings, so it is turned off and this one answers, in the API's JSON shape.
2. The caller's own credential, ``Authorization: Bearer`` with an API key or a user's JWT:
   401 without a live one, 403 without the ``read`` scope. ``/mcp`` checks it in its
   database; the standalone server, a mere client of the REST API, asks the API.

Past the gate, every tool forwards that same credential to the REST API
(:func:`nexus_crm.mcp.server.caller_key`), so the API applies its scopes, rate limits and
audit log to the caller, never to a key of the server's.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from nexus_crm.errors import Forbidden, NexusError, TooManyRequests, Unauthorized
from nexus_crm.kit.http import nexus_response
from nexus_crm.mcp.client import ApiConfig, ApiError, NexusApi, response_detail

MCP_PATH = "/mcp"
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
UNSPECIFIED = frozenset({"0.0.0.0", "::"})  # noqa: S104 (bind addresses, never a Host to allow)
CHECK_PATH = "/tiers"  # the cheapest REST route that needs the read scope, like /mcp itself
_HOST = re.compile(r"\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9_.-]+)")
_PORT = re.compile(r":[0-9]{1,5}")
Check = Callable[[str], Awaitable[None]]  # raises NexusError unless the token may read


class ApiUnavailable(NexusError):
    """The REST API could not check a credential (502): down, or answering errors."""

    status = 502
    code = "bad_gateway"


def host_name(value: str) -> str | None:
    """The host of a ``Host`` header (``name[:port]`` or ``[v6][:port]``); None if malformed."""
    value = value.strip().lower()
    match = _HOST.match(value)
    if match is None or not (match.end() == len(value) or _PORT.fullmatch(value, match.end())):
        return None
    return match["v6"] or match["name"].rstrip(".")


def origin_host(origin: str) -> str | None:
    """The host of an ``Origin`` header (``scheme://host[:port]``); None for ``null`` & co."""
    parts = urlsplit(origin.strip().lower())
    if parts.scheme not in ("http", "https") or parts.path or parts.query or parts.fragment:
        return None
    return host_name(parts.netloc)


def allowed_hosts(*urls: str, names: tuple[str, ...] = ()) -> frozenset[str]:
    """The loopback names, the hosts of ``urls`` and ``names``: the hosts the server answers."""
    hosts = {urlsplit(url).hostname for url in urls} | {host_name(name) for name in names}
    return LOOPBACK | ({h.lower() for h in hosts if h} - UNSPECIFIED)


def _refusal(headers: Headers, hosts: frozenset[str]) -> NexusError | None:
    host = headers.get("host", "")
    if host_name(host) not in hosts:
        return Forbidden(
            f"Host {host!r} is not a host of this MCP server (DNS rebinding protection); "
            "reach it by a loopback name or the host of NEXUS_CRM_BASE_URL",
            field="host",
        )
    origin = headers.get("origin")
    if origin is not None and origin_host(origin) not in hosts:
        return Forbidden(
            f"Origin {origin!r} may not call this MCP server (DNS rebinding protection)",
            field="origin",
        )
    return None


def bearer_token(headers: Headers) -> str:
    """The token of ``Authorization: Bearer <token>``; :class:`Unauthorized` without one."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send your API key or JWT as 'Authorization: Bearer <credential>'")
    return token.strip()


class McpGate:
    """ASGI wrapper: only an allowed Host and Origin with a credential that may read pass."""

    def __init__(self, app: ASGIApp, *, hosts: frozenset[str], check: Check) -> None:
        self.app = app
        self.hosts = hosts
        self.check = check

    async def _failure(self, scope: Scope) -> NexusError | None:
        headers = Headers(scope=scope)
        refusal = _refusal(headers, self.hosts)  # before any database or API work
        if refusal is not None:
            return refusal
        try:
            await self.check(bearer_token(headers))
        except NexusError as exc:
            return exc
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        failure = await self._failure(scope) if scope["type"] == "http" else None
        if failure is None:
            await self.app(scope, receive, send)
        else:
            await nexus_response(failure)(scope, receive, send)


def rest_check(config: ApiConfig) -> Check:
    """A :data:`Check` asking the REST API at ``config.base_url`` whether the token may read."""

    async def check(token: str) -> None:
        try:
            resp = await NexusApi(config, token).send("GET", CHECK_PATH)
        except ApiError as exc:
            raise ApiUnavailable(str(exc)) from None
        status, detail = resp.status_code, response_detail(resp)
        if status == 401:
            raise Unauthorized(detail)
        if status == 403:
            raise Forbidden(detail)
        if status == 429:
            retry = resp.headers.get("retry-after", "1")
            raise TooManyRequests(detail, retry_after=int(retry) if retry.isdigit() else 1)
        if status >= 400:
            raise ApiUnavailable(f"the NexusCRM API could not check the credential ({status})")

    return check


def gated_app(server: MCPServer[Any], *, hosts: frozenset[str], check: Check) -> McpGate:
    """``server`` as a stateless streamable-HTTP app at ``/mcp`` (JSON answers), gated."""
    app: Starlette = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,  # any worker answers any request: no session affinity needed
        json_response=True,
        # McpGate checks Host and Origin against ``hosts`` (see the module docstring).
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    return McpGate(app, hosts=hosts, check=check)
