"""The official MCP Inspector CLI against ``nexus-crm mcp`` (stdio), ``/mcp`` of the API
server and ``nexus-crm mcp --transport http``.

All run against a real server process. The stdio run uses the Claude Desktop config block
of docs/claude-desktop.md, with this machine's path, URL and key filled in. With CI=true a
missing Node.js/npx, or an Inspector that cannot be fetched, fails the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from nexus_crm.db import create_engine, create_sessionmaker, transaction
from nexus_crm.security.service import create_api_key
from nexus_crm.settings import Settings
from tests.alerts.helpers import post_subscription, use
from tests.conftest import reset_database
from tests.mcp.test_tools import TOOLS
from tests.processes import (
    ServerProcess,
    free_port,
    nexus_crm_command,
    running_server,
    terminate,
)

pytestmark = pytest.mark.slow
INSPECTOR = "@modelcontextprotocol/inspector@1.0.3"  # 2.x needs Node >= 22.19; the machine has 20
DOCS = Path(__file__).resolve().parents[2] / "docs" / "claude-desktop.md"
TIMEOUT_S = 600  # the first run downloads the Inspector from the npm registry


@pytest.fixture(scope="session")
def inspector() -> list[str]:
    """``npx -y @modelcontextprotocol/inspector@<pinned> --cli``."""
    npx = shutil.which("npx")
    if npx is None:
        if os.environ.get("CI") == "true":
            pytest.fail("npx (Node.js) is required for the MCP Inspector tests in CI")
        pytest.skip("npx (Node.js) is not installed")
    return [npx, "-y", INSPECTOR, "--cli"]


def run_inspector(inspector: list[str], *args: str, cwd: Path) -> Any:
    """Run the Inspector CLI; its JSON answer."""
    proc = subprocess.run(
        [*inspector, *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        cwd=cwd,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])
    return json.loads(proc.stdout)


@dataclass
class Served:
    server: ServerProcess
    key: str


async def _read_key(url: str) -> str:
    engine = create_engine(Settings(DATABASE_URL=url))
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            _, key = await create_api_key(session, name="inspector", scopes=["read"])
    finally:
        await engine.dispose()
    return key


@pytest.fixture
async def served(sqlite_url: str) -> AsyncIterator[Served]:
    """A real server on SQLite with a read-only key and one open alert."""
    await reset_database(sqlite_url)
    key = await _read_key(sqlite_url)
    with running_server(sqlite_url) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            await post_subscription(client, user_id="pro_user_123", tier="pro", status="active")
            await use(client, "pro_user_123", 850_000)
        yield Served(server, key)


@pytest.fixture
def desktop_config(served: Served, tmp_path: Path) -> Path:
    """docs/claude-desktop.md's config block, pointing at this venv, server and key."""
    block = re.search(r"```json\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert block, "docs/claude-desktop.md lost its claude_desktop_config.json block"
    config = json.loads(block.group(1))
    [entry] = config["mcpServers"].values()
    assert entry["args"] == ["mcp"]
    assert entry["command"].endswith("/.venv/bin/nexus-crm")
    assert set(entry["env"]) == {"NEXUS_CRM_BASE_URL", "NEXUS_CRM_API_KEY"}
    entry["command"] = nexus_crm_command()[0]
    entry["env"] = {"NEXUS_CRM_BASE_URL": served.server.base_url, "NEXUS_CRM_API_KEY": served.key}
    path = tmp_path / "claude_desktop_config.json"
    path.write_text(json.dumps(config))
    return path


def check_alerts_call(answer: Any) -> None:
    assert answer.get("isError") is not True, answer
    assert answer["structuredContent"]["count"] == 1
    [block] = answer["content"]
    assert block["text"].startswith("## Open alerts (1)")
    assert "pro_user_123" in block["text"]


async def test_inspector_over_stdio_with_the_documented_desktop_config(
    inspector: list[str], desktop_config: Path, tmp_path: Path
) -> None:
    target = ["--config", str(desktop_config), "--server", "ngx-closer-agent"]
    listed = run_inspector(inspector, *target, "--method", "tools/list", cwd=tmp_path)
    assert {t["name"] for t in listed["tools"]} == TOOLS
    called = run_inspector(
        inspector,
        *target,
        "--method",
        "tools/call",
        "--tool-name",
        "get_usage_alerts",
        cwd=tmp_path,
    )
    check_alerts_call(called)


async def test_inspector_over_http_at_slash_mcp(
    inspector: list[str], served: Served, tmp_path: Path
) -> None:
    target = [
        f"{served.server.base_url}/mcp",
        "--transport",
        "http",
        "--header",
        f"Authorization: Bearer {served.key}",
    ]
    listed = run_inspector(inspector, *target, "--method", "tools/list", cwd=tmp_path)
    assert {t["name"] for t in listed["tools"]} == TOOLS
    call = ["--method", "tools/call", "--tool-name"]
    check_alerts_call(run_inspector(inspector, *target, *call, "get_usage_alerts", cwd=tmp_path))
    denied = run_inspector(
        inspector,
        *target,
        *call,
        "trigger_upsell_sequence",
        "--tool-arg",
        "user_id=pro_user_123",
        "recommended_tier=elite",
        "reason=High usage pattern",
        cwd=tmp_path,
    )
    assert denied["isError"] is True
    assert "lacks the 'write' scope" in denied["content"][0]["text"]


def standalone_http(served: Served, port: int, cwd: Path) -> subprocess.Popen[bytes]:
    """``nexus-crm mcp --transport http`` (its NEXUS_CRM_API_KEY unused); once it listens."""
    env = {
        **os.environ,
        "NEXUS_CRM_BASE_URL": served.server.base_url,
        "NEXUS_CRM_API_KEY": served.key,
    }
    proc = subprocess.Popen(
        [*nexus_crm_command(), "mcp", "--transport", "http", "--port", str(port)],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return proc
        time.sleep(0.1)
    terminate(proc)
    pytest.fail(f"nexus-crm mcp --transport http did not listen on {port}")


async def test_inspector_against_the_standalone_http_transport(
    inspector: list[str], served: Served, tmp_path: Path
) -> None:
    port = free_port()
    proc = standalone_http(served, port, tmp_path)
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        auth = ["--header", f"Authorization: Bearer {served.key}"]  # the caller's own key
        call = ["--method", "tools/call", "--tool-name", "get_usage_alerts"]
        answer = run_inspector(inspector, url, "--transport", "http", *auth, *call, cwd=tmp_path)
        check_alerts_call(answer)
    finally:
        terminate(proc)
