"""JSON-RPC errors: an unknown prompt or tool, or bad prompt arguments, are invalid params.

The MCP spec: an unknown prompt or tool name and invalid prompt arguments answer -32602;
bad *tool* arguments stay tool errors (``isError``), so the model can correct its call.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from tests.conftest import MakeKey
from tests.mcp.conftest import Connect, failed
from tests.mcp.test_http import ACCEPT, mcp_over_http

BAD_PROMPTS = [
    ("no_such_prompt", None, "no_such_prompt"),
    ("agent_usage_report", {"days": "many"}, "days"),
    ("agent_usage_report", {"days": "0"}, "days"),
    ("customer_health_check", {"customer": "x"}, "customer"),
]


@pytest.mark.parametrize(("name", "args", "named"), BAD_PROMPTS)
async def test_a_bad_prompt_request_is_invalid_params(
    connect: Connect, name: str, args: dict[str, str] | None, named: str
) -> None:
    async with connect(None) as mcp:
        with pytest.raises(MCPError) as caught:
            await mcp.get_prompt(name, args)
    assert caught.value.code == INVALID_PARAMS, caught.value
    assert named in caught.value.message


async def test_an_unknown_tool_is_invalid_params_and_bad_arguments_a_tool_error(
    connect: Connect,
) -> None:
    async with connect(None) as mcp:
        with pytest.raises(MCPError) as caught:
            await mcp.call_tool("no_such_tool", {})
        assert caught.value.code == INVALID_PARAMS
        assert "no_such_tool" in caught.value.message
        assert "limit" in failed(await mcp.call_tool("get_churn_risks", {"limit": 0}))


async def rpc(app: FastAPI, key: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """One JSON-RPC request to ``/mcp`` (stateless: no session needed); its JSON answer."""
    transport = httpx.ASGITransport(app=app)
    body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}
    headers = {**ACCEPT, "Authorization": f"Bearer {key}", "MCP-Protocol-Version": "2025-06-18"}
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8001") as http:
        resp = await http.post("/mcp", json=body, headers=headers)
    assert resp.status_code == 200, resp.text
    answer: dict[str, Any] = resp.json()
    return answer


async def test_over_http_the_wire_carries_code_minus_32602(app: FastAPI, make_key: MakeKey) -> None:
    key = await make_key("read")
    for method, params in (
        ("prompts/get", {"name": "no_such_prompt"}),
        ("prompts/get", {"name": "agent_usage_report", "arguments": {"days": "many"}}),
        ("tools/call", {"name": "no_such_tool", "arguments": {}}),
    ):
        answer = await rpc(app, key, method, params)
        assert answer["id"] == 7
        assert "result" not in answer, answer
        assert answer["error"]["code"] == -32602, (method, params, answer)
    async with mcp_over_http(app, key) as mcp:
        with pytest.raises(MCPError) as caught:
            await mcp.get_prompt("agent_usage_report", {"days": "0"})
    assert caught.value.code == INVALID_PARAMS
