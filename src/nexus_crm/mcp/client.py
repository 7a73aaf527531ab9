"""The MCP server's client of the NexusCRM REST API: every tool is one or two calls here.

Failures become :class:`ApiError` (an MCP ``ToolError``) with a sentence the model can act
on: the call returns ``isError`` with that text, never a stack trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from mcp.server.mcpserver.exceptions import ToolError

API_PREFIX = "/agent-usage"
TIMEOUT_S = 30.0


class ApiError(ToolError):
    """A REST call that failed, with a message written for the model and the user."""


@dataclass(frozen=True)
class ApiConfig:
    """Where the REST API is and which key to send (``transport``: in-process, for /mcp).

    ``api_key`` is NEXUS_CRM_API_KEY over stdio; None over HTTP, where each tool call sends
    the caller's own credential and the server has none to fall back on.
    """

    base_url: str
    api_key: str | None
    transport: httpx.AsyncBaseTransport | None = None


@dataclass(frozen=True)
class Call:
    """One REST call: what it needs (scope), what it does (for messages), what it names."""

    scope: str
    doing: str
    missing: str = "no such resource"


def response_detail(resp: httpx.Response) -> str:
    """The ``detail`` of an API error body (else its text, else the reason phrase)."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip()[:300] or resp.reason_phrase
    detail = body.get("detail") if isinstance(body, dict) else None
    return str(detail) if detail else resp.reason_phrase


def error_message(resp: httpx.Response, call: Call) -> str:
    """A readable sentence for a failed response to ``call``."""
    status, detail = resp.status_code, response_detail(resp)
    if status == 401:
        return (
            f"the NexusCRM API refused the API key ({detail}); set NEXUS_CRM_API_KEY to a "
            "live key (`nexus-crm keys create NAME --scope read --scope write`)"
        )
    if status == 403:
        return f"this API key lacks the {call.scope!r} scope needed to {call.doing}"
    if status == 404:
        return f"{call.missing} ({detail})"
    if status == 429:
        wait = resp.headers.get("retry-after", "a few")
        return f"the NexusCRM API is rate limiting this key; retry in {wait} s"
    if status in (409, 422):
        return f"cannot {call.doing}: {detail}"
    return f"the NexusCRM API failed to {call.doing} (HTTP {status}: {detail})"


class NexusApi:
    """Async client of ``/agent-usage`` with one API key."""

    def __init__(self, config: ApiConfig, api_key: str | None = None) -> None:
        self.config = config
        self.api_key = api_key or config.api_key

    async def request(
        self, method: str, path: str, call: Call, *, params: Any = None, body: Any = None
    ) -> dict[str, Any]:
        """Send one request; the JSON answer, or :class:`ApiError`."""
        if not self.api_key:
            raise ApiError(
                "no NexusCRM API key: set NEXUS_CRM_API_KEY (create one with `nexus-crm keys "
                "create claude --scope read --scope write`)"
            )
        resp = await self.send(method, path, params=params, body=body)
        if resp.status_code >= 400:
            raise ApiError(error_message(resp, call))
        answer: dict[str, Any] = resp.json()
        return answer

    async def send(
        self, method: str, path: str, *, params: Any = None, body: Any = None
    ) -> httpx.Response:
        """Send one request with this key; any answer, or :class:`ApiError` if unreachable."""
        base = self.config.base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {self.api_key}"}
        try:
            async with httpx.AsyncClient(
                base_url=base, transport=self.config.transport, timeout=TIMEOUT_S
            ) as http:
                return await http.request(
                    method, API_PREFIX + path, params=params, json=body, headers=headers
                )
        except httpx.TransportError as exc:
            raise ApiError(
                f"the NexusCRM API at {base} is unreachable ({type(exc).__name__}); start it "
                "with `nexus-crm serve` or set NEXUS_CRM_BASE_URL"
            ) from None

    async def get(self, path: str, call: Call, **params: Any) -> dict[str, Any]:
        """``GET /agent-usage{path}``."""
        return await self.request("GET", path, call, params=params or None)

    async def post(self, path: str, call: Call, body: Any = None) -> dict[str, Any]:
        """``POST /agent-usage{path}`` with a JSON body."""
        return await self.request("POST", path, call, body=body)
