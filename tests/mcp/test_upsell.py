"""trigger_upsell_sequence against the real ``POST /agent-usage/upsell-sequences``."""

from __future__ import annotations

import httpx

from tests.alerts.helpers import post_subscription
from tests.mcp.conftest import Connect, World, failed, ok

SEED_EXAMPLE = {
    "user_id": "pro_user_123",
    "recommended_tier": "elite",
    "reason": "High usage pattern",
}


async def test_trigger_starts_one_sequence_and_returns_the_active_one_after(
    connect: Connect, world: World
) -> None:
    async with connect(world.write) as mcp:
        md, data = ok(await mcp.call_tool("trigger_upsell_sequence", SEED_EXAMPLE))
        seq = data["sequence"]
        assert data["created"] is True
        assert (seq["user_id"], seq["current_tier"], seq["recommended_tier"]) == (
            "pro_user_123",
            "pro",
            "elite",
        )
        assert seq["reason"] == "High usage pattern"
        assert seq["status"] == "active"
        assert md.startswith("## Upsell sequence started")
        assert "**pro_user_123**: pro → **elite**" in md
        assert seq["id"] in md
        assert "1. " in md  # the steps, numbered
        md, again = ok(await mcp.call_tool("trigger_upsell_sequence", SEED_EXAMPLE))
        assert again["created"] is False
        assert again["sequence"]["id"] == seq["id"]
        assert md.startswith("## An upsell sequence was already active")


async def test_trigger_errors_name_the_problem(connect: Connect, world: World) -> None:
    async with connect(world.write) as mcp:
        args = {**SEED_EXAMPLE, "user_id": "nobody"}
        msg = failed(await mcp.call_tool("trigger_upsell_sequence", args))
        assert msg.startswith("no customer 'nobody'"), msg
        for tier in ("essential", "pro", "platinum"):
            args = {**SEED_EXAMPLE, "recommended_tier": tier}
            msg = failed(await mcp.call_tool("trigger_upsell_sequence", args))
            assert msg.startswith("cannot start an upsell sequence:"), msg
            assert tier in msg.lower() or "tier" in msg.lower(), msg
        assert "reason" in failed(
            await mcp.call_tool("trigger_upsell_sequence", {**SEED_EXAMPLE, "reason": ""})
        )


async def test_trigger_for_a_cancelled_customer_is_refused(
    connect: Connect, world: World, client: httpx.AsyncClient
) -> None:
    await post_subscription(client, user_id="cliente_elite_789", tier="elite", status="cancelled")
    args = {**SEED_EXAMPLE, "user_id": "cliente_elite_789", "recommended_tier": "prime"}
    async with connect(world.admin) as mcp:
        msg = failed(await mcp.call_tool("trigger_upsell_sequence", args))
    assert msg.startswith("cannot start an upsell sequence:"), msg


async def test_trigger_reaches_the_real_closer_router(
    connect: Connect, world: World, client: httpx.AsyncClient
) -> None:
    async with connect(world.write) as mcp:
        _, data = ok(await mcp.call_tool("trigger_upsell_sequence", SEED_EXAMPLE))
    resp = await client.get(
        "/agent-usage/upsell-sequences", headers={"Authorization": f"Bearer {world.read}"}
    )
    assert resp.status_code == 200, resp.text
    assert data["sequence"]["id"] in resp.text
