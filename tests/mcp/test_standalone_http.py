"""``nexus-crm mcp --transport http`` as a real process against a real API server process.

Every request must carry the caller's own credential, the tools act with it (the server's
NEXUS_CRM_API_KEY is never used over HTTP), a foreign Host or Origin is refused, and the
server refuses to listen on a non-loopback interface without TLS unless told explicitly.
"""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import trustme
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.db import transaction
from nexus_crm.models import AuditEntry, UpsellSequence
from nexus_crm.security import users
from tests.alerts.helpers import post_subscription, use
from tests.conftest import MakeKey
from tests.mcp.conftest import failed, ok
from tests.mcp.standalone import Standalone, mcp_command, mcp_env, standalone_mcp
from tests.mcp.test_http import ACCEPT, INITIALIZE
from tests.processes import ServerProcess, free_port, running_server

pytestmark = pytest.mark.slow
SEED_EXAMPLE = {"user_id": "pro_user_123", "recommended_tier": "elite", "reason": "High usage"}
PASSWORD = "matrix-password"
EVERY_INTERFACE = "0.0.0.0"  # noqa: S104 (what these tests are about)
EXIT_TIMEOUT_S = 60.0  # bounds a refusal that never comes (the old code served forever)


@dataclass
class Keys:
    """The MCP server's own key (read + write) and the callers' keys."""

    server: str
    read: str
    write: str
    ingest: str


def actor(key: str) -> str:
    """The audit actor of an API key: ``key:<prefix>``."""
    return f"key:{key.split('_')[1]}"


@pytest.fixture
async def keys(make_key: MakeKey) -> Keys:
    return Keys(
        server=await make_key("read", "write", name="mcp-server"),
        read=await make_key("read", name="analyst"),
        write=await make_key("read", "write", name="sales"),
        ingest=await make_key("ingest", name="genesis"),
    )


@pytest.fixture
async def api(db_url: str, keys: Keys) -> AsyncIterator[ServerProcess]:
    """The API server on the database under test, with a Pro customer at 85 % of the plan."""
    with running_server(db_url) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            await post_subscription(client, user_id="pro_user_123", tier="pro", status="active")
            await use(client, "pro_user_123", 850_000)
        yield server


@pytest.fixture
def mcp_server(api: ServerProcess, keys: Keys) -> Iterator[Standalone]:
    """``nexus-crm mcp --transport http`` whose own NEXUS_CRM_API_KEY can read and write."""
    with standalone_mcp(api.base_url, keys.server) as server:
        yield server


@asynccontextmanager
async def mcp_client(url: str, key: str | None) -> AsyncIterator[Client]:
    """An MCP client of ``url`` sending ``key`` as its bearer credential (None: nothing)."""
    http = httpx2.AsyncClient(headers=bearer(key) if key else {}, timeout=60)
    async with http, Client(streamable_http_client(url, http_client=http)) as client:
        yield client


async def initialize(url: str, headers: dict[str, str]) -> httpx.Response:
    """A raw ``initialize`` POST with ``headers``."""
    async with httpx.AsyncClient(timeout=60) as http:
        return await http.post(url, json=INITIALIZE, headers={**ACCEPT, **headers})


async def count(sessions: async_sessionmaker[AsyncSession], model: Any) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def audit_actors(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        return list(await session.scalars(select(AuditEntry.actor)))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_every_request_needs_the_callers_own_credential(
    mcp_server: Standalone, keys: Keys
) -> None:
    for headers, status in (
        ({}, 401),
        (bearer("ncrm_00000000_forged"), 401),
        ({"Authorization": f"Basic {keys.read}"}, 401),
        (bearer(keys.ingest), 403),
    ):
        resp = await initialize(mcp_server.url, headers)
        assert resp.status_code == status, (headers, resp.text)
        assert resp.json()["error"] == ("unauthorized" if status == 401 else "forbidden")
        assert resp.json()["detail"]
    resp = await initialize(mcp_server.url, bearer(keys.read))
    assert resp.status_code == 200, resp.text
    assert resp.json()["result"]["serverInfo"]["name"] == "NGX_Closer.Agent"


async def test_tools_act_with_the_callers_key_and_scopes(
    mcp_server: Standalone, keys: Keys, sessions: async_sessionmaker[AsyncSession]
) -> None:
    before = await audit_actors(sessions)
    # No credential: the server's own key must not stand in; the client cannot even start.
    with pytest.RaisesGroup(MCPError, flatten_subgroups=True):
        async with mcp_client(mcp_server.url, None) as mcp:
            await mcp.call_tool("trigger_upsell_sequence", SEED_EXAMPLE)
    async with mcp_client(mcp_server.url, keys.read) as mcp:
        _, alerts = ok(await mcp.call_tool("get_usage_alerts", {}))
        assert alerts["count"] == 1
        denied = failed(await mcp.call_tool("trigger_upsell_sequence", SEED_EXAMPLE))
        assert "lacks the 'write' scope" in denied
        args = {"alert_id": alerts["alerts"][0]["id"], "action": "acknowledge"}
        assert "lacks the 'write' scope" in failed(await mcp.call_tool("manage_usage_alert", args))
    assert await count(sessions, UpsellSequence) == 0
    assert await audit_actors(sessions) == before  # nothing was done, by anyone
    async with mcp_client(mcp_server.url, keys.write) as mcp:
        _, data = ok(await mcp.call_tool("trigger_upsell_sequence", SEED_EXAMPLE))
        assert data["created"] is True
    assert await count(sessions, UpsellSequence) == 1
    actors = await audit_actors(sessions)
    assert actor(keys.write) in actors
    assert actor(keys.server) not in actors


async def test_a_users_jwt_is_a_credential_with_the_users_scopes(
    mcp_server: Standalone, api: ServerProcess, sessions: async_sessionmaker[AsyncSession]
) -> None:
    email = "analyst@ngx.mx"
    async with transaction(sessions) as session:
        await users.create_user(session, email=email, password=PASSWORD, role="analyst")
    async with httpx.AsyncClient(base_url=api.base_url) as client:
        resp = await client.post(
            "/agent-usage/auth/token", json={"email": email, "password": PASSWORD}
        )
    assert resp.status_code == 200, resp.text
    async with mcp_client(mcp_server.url, resp.json()["access_token"]) as mcp:
        _, alerts = ok(await mcp.call_tool("get_usage_alerts", {}))
        assert alerts["count"] == 1
        denied = failed(await mcp.call_tool("trigger_upsell_sequence", SEED_EXAMPLE))
        assert "lacks the 'write' scope" in denied
    assert await count(sessions, UpsellSequence) == 0
    forged = await initialize(mcp_server.url, bearer("eyJhbGciOiJIUzI1NiJ9.e30.forged"))
    assert forged.status_code == 401, forged.text


async def test_a_foreign_host_or_origin_is_refused(mcp_server: Standalone, keys: Keys) -> None:
    own = f"http://127.0.0.1:{mcp_server.port}"
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Host": f"evil.example:{mcp_server.port}"},
        {"Host": "evil.example", "Origin": "http://evil.example"},
    ):
        resp = await initialize(mcp_server.url, {**bearer(keys.read), **headers})
        assert resp.status_code == 403, (headers, resp.text)
        body = resp.json()
        assert body["error"] == "forbidden"
        assert body["field"] == (
            "origin" if "Origin" in headers and "Host" not in headers else "host"
        )
    for headers in ({"Origin": own}, {"Origin": "http://localhost:6274"}, {"Host": "localhost"}):
        resp = await initialize(mcp_server.url, {**bearer(keys.read), **headers})
        assert resp.status_code == 200, (headers, resp.text)
    resp = await initialize(mcp_server.url, {"Host": "evil.example"})  # before the credential
    assert resp.status_code == 403, resp.text


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    """A client TLS context trusting only ``ca``."""
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


def refusal(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``nexus-crm mcp --transport http ARGS``, which must exit by itself."""
    return subprocess.run(
        mcp_command(free_port(), *args),
        env=mcp_env("http://127.0.0.1:9", "ncrm_00000000_unused"),
        capture_output=True,
        text=True,
        timeout=EXIT_TIMEOUT_S,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("host", [EVERY_INTERFACE, "::", "192.0.2.10", "crm.example.com"])
def test_a_non_loopback_host_without_tls_is_refused(host: str) -> None:
    proc = refusal("--host", host)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    [line] = proc.stderr.strip().splitlines()
    assert "--allow-insecure-remote" in line
    assert "--ssl-certfile" in line


def test_half_a_tls_pair_is_refused() -> None:
    proc = refusal("--host", EVERY_INTERFACE, "--ssl-certfile", "/nonexistent/cert.pem")
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    [line] = proc.stderr.strip().splitlines()
    assert "--ssl-keyfile" in line


async def test_allow_insecure_remote_listens_on_every_interface_and_still_checks(
    api: ServerProcess, keys: Keys
) -> None:
    args = ("--host", EVERY_INTERFACE, "--allow-insecure-remote", "--allowed-host", "mcp.ngx.mx")
    with standalone_mcp(api.base_url, keys.server, args) as server:
        assert (await initialize(server.url, {})).status_code == 401
        assert (await initialize(server.url, bearer(keys.read))).status_code == 200
        named = {**bearer(keys.read), "Host": f"mcp.ngx.mx:{server.port}"}
        assert (await initialize(server.url, named)).status_code == 200
        other = {**bearer(keys.read), "Host": f"0.0.0.0:{server.port}"}  # never a Host to allow
        assert (await initialize(server.url, other)).status_code == 403


async def test_an_unreachable_api_is_a_502_not_a_pass() -> None:
    with standalone_mcp(f"http://127.0.0.1:{free_port()}", "ncrm_00000000_server") as server:
        resp = await initialize(server.url, bearer("ncrm_00000000_caller"))
    assert resp.status_code == 502, resp.text
    assert resp.json()["error"] == "bad_gateway"
    assert "unreachable" in resp.json()["detail"]


async def test_tls_on_every_interface(api: ServerProcess, keys: Keys, tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    for i, pem in enumerate(cert.cert_chain_pems):
        pem.write_to_path(str(certfile), append=i > 0)
    cert.private_key_pem.write_to_path(str(keyfile))
    args = (
        "--host",
        EVERY_INTERFACE,
        "--ssl-certfile",
        str(certfile),
        "--ssl-keyfile",
        str(keyfile),
    )
    with standalone_mcp(api.base_url, keys.server, args) as server:
        url = f"https://127.0.0.1:{server.port}/mcp"
        async with httpx.AsyncClient(verify=client_context(ca), timeout=60) as http:
            resp = await http.post(url, json=INITIALIZE, headers=ACCEPT)
            assert resp.status_code == 401, resp.text
            resp = await http.post(url, json=INITIALIZE, headers={**ACCEPT, **bearer(keys.read)})
            assert resp.status_code == 200, resp.text
