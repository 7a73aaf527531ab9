"""GenesisCRM against the real NexusCRM app (in process) on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import genesis_crm
from genesis_crm import (
    ClientClosedError,
    ConfigurationError,
    GenesisCRM,
    GenesisCRMSync,
    InvalidEventError,
    OutboxFullError,
)
from genesis_crm.outbox import Outbox
from nexus_crm.models import AgentUsageEvent, Customer
from tests.processes import free_port, running_server
from tests.support import OTHER_SECRET, TEST_SECRET

EVENT: dict[str, Any] = {
    "agent_id": "NEXUS",
    "session_id": "s",
    "tokens_used": 150,
    "response_time_ms": 1200,
    "subscription_tier": "pro",
}

MakeClient = Callable[..., GenesisCRM]


@pytest.fixture
async def make_client(app: FastAPI, tmp_path: Path) -> AsyncIterator[MakeClient]:
    """Clients whose transport is the real app, with a fast flush interval."""
    made: list[GenesisCRM] = []

    def _make(**kw: Any) -> GenesisCRM:
        args = {
            "base_url": "http://crm",
            "secret": TEST_SECRET,
            "flush_interval": 0.05,
            "outbox_path": tmp_path / "outbox.db",
            "transport": httpx.ASGITransport(app=app),
        } | kw
        made.append(GenesisCRM(**args))
        return made[-1]

    yield _make
    for c in made:
        await c.aclose(timeout=0)


async def stored(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(AgentUsageEvent)) or 0)


async def test_events_and_subscriptions_are_delivered_exactly_once(
    make_client: MakeClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    client = make_client(batch_size=40)
    ids = [await client.track_agent_usage(user_id=f"u{i % 7}", **EVENT) for i in range(100)]
    await client.track_subscription(user_id="u1", tier="elite", email="u1@ngx.mx")
    assert len(set(ids)) == 100
    assert await client.flush(timeout=20) == 0
    assert await stored(sessions) == 100
    async with sessions() as s:
        u1 = await s.scalar(select(Customer).where(Customer.user_id == "u1"))
        db_ids = set((await s.scalars(select(AgentUsageEvent.event_id))).all())
    assert u1 is not None
    assert (u1.tier, u1.email) == ("elite", "u1@ngx.mx")
    assert db_ids == set(ids)


async def test_concurrent_first_calls_share_one_outbox(
    make_client: MakeClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    client = make_client()
    ids = await asyncio.gather(
        *(client.track_agent_usage(user_id=f"u{i}", **EVENT) for i in range(30))
    )
    assert len(set(ids)) == 30
    assert await client.flush(timeout=20) == 0
    assert await stored(sessions) == 30


async def test_refused_events_go_to_dead_letters_and_the_rest_is_delivered(
    make_client: MakeClient, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    client = make_client()
    for i in range(5):
        tier = "gold" if i == 2 else "pro"  # not a NexusCRM tier: the server refuses it
        await client.track_agent_usage(user_id=f"u{i}", **{**EVENT, "subscription_tier": tier})
    assert await client.flush(timeout=20) == 0
    assert await stored(sessions) == 4
    await client.aclose()
    ob = Outbox(tmp_path / "outbox.db")
    [(_, kind, error, payload)] = ob.dead_letters()
    assert (kind, json.loads(payload)["subscription_tier"]) == ("event", "gold")
    assert "unknown tier 'gold'" in error
    ob.close()


async def test_a_wrong_secret_keeps_events_pending_not_dead(
    make_client: MakeClient, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    client = make_client(secret=OTHER_SECRET, backoff_base=0.01, backoff_cap=0.05)
    await client.track_agent_usage(user_id="u", **EVENT)
    assert await client.flush(timeout=0.5) == 1
    await client.aclose(timeout=0)
    assert await stored(sessions) == 0
    fixed = make_client()  # same outbox, right secret: the event arrives
    assert await fixed.flush(timeout=20) == 0
    assert await stored(sessions) == 1


async def test_full_outbox_raises_a_clear_error(tmp_path: Path) -> None:
    client = GenesisCRM(
        base_url=f"http://127.0.0.1:{free_port()}",
        secret=TEST_SECRET,
        outbox_path=tmp_path / "o.db",
        max_outbox_events=3,
    )
    for i in range(3):
        await client.track_agent_usage(user_id=f"u{i}", **EVENT)
    with pytest.raises(OutboxFullError, match="unreachable"):
        await client.track_agent_usage(user_id="u9", **EVENT)
    await client.aclose(timeout=0)
    ob = Outbox(tmp_path / "o.db")
    assert ob.pending == 3
    ob.close()


async def test_invalid_input_raises_before_anything_is_stored(tmp_path: Path) -> None:
    client = GenesisCRM(base_url="http://crm", secret=TEST_SECRET, outbox_path=tmp_path / "o.db")
    with pytest.raises(InvalidEventError) as err:
        await client.track_agent_usage(user_id="u", **{**EVENT, "tokens_used": -5})
    assert err.value.field == "tokens_used"
    assert not (tmp_path / "o.db").exists()
    await client.aclose()
    with pytest.raises(ClientClosedError):
        await client.track_agent_usage(user_id="u", **EVENT)


async def test_nan_or_inf_is_refused_at_the_call_and_never_stored(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = GenesisCRM(base_url=url, secret=TEST_SECRET, outbox_path=tmp_path / "o.db")
    kept = await client.track_agent_usage(user_id="u", **EVENT, metadata={"score": 0.5})
    for metadata in ({"score": float("nan")}, {"runs": [{"cost": float("-inf")}]}):
        with pytest.raises(InvalidEventError, match="finite") as err:
            await client.track_agent_usage(user_id="u", **EVENT, metadata=metadata)
        assert err.value.field in ("metadata.score", "metadata.runs[0].cost")
    with pytest.raises(InvalidEventError) as err:
        await client.track_agent_usage(user_id="u", **{**EVENT, "tokens_used": float("inf")})
    assert err.value.field == "tokens_used"
    await client.aclose(timeout=0)
    ob = Outbox(tmp_path / "o.db")
    assert [json.loads(i.payload)["event_id"] for i in ob.due("event", 10)] == [kept]
    ob.close()


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="CRM_BASE_URL"):
        GenesisCRM(base_url="crm:8001", secret=TEST_SECRET)
    with pytest.raises(ConfigurationError, match="CRM_WEBHOOK_SECRET"):
        GenesisCRM(base_url="http://crm", secret="shared_secret_with_crm")


async def test_module_functions_read_the_seeds_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CRM_INTEGRATION_ENABLED", "false")
    monkeypatch.delenv("CRM_BASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    event_id = await genesis_crm.track_agent_usage(user_id="cliente_123", **EVENT)
    assert len(event_id) == 36
    with pytest.raises(InvalidEventError):
        await genesis_crm.track_agent_usage(user_id="", **EVENT)
    assert await genesis_crm.flush() == 0
    await genesis_crm.aclose()
    assert list(tmp_path.iterdir()) == []  # disabled: validated, nothing stored
    monkeypatch.setenv("CRM_INTEGRATION_ENABLED", "true")
    with pytest.raises(ConfigurationError, match="CRM_BASE_URL and CRM_WEBHOOK_SECRET"):
        await genesis_crm.track_agent_usage(user_id="u", **EVENT)
    monkeypatch.setenv("CRM_INTEGRATION_ENABLED", "maybe")
    with pytest.raises(ConfigurationError, match="true or false"):
        await genesis_crm.track_agent_usage(user_id="u", **EVENT)


@pytest.mark.slow
async def test_module_functions_and_sync_client_deliver_to_a_real_server(
    db_url: str,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    with running_server(db_url) as server:
        monkeypatch.setenv("CRM_BASE_URL", server.base_url)
        monkeypatch.setenv("CRM_WEBHOOK_SECRET", TEST_SECRET)
        monkeypatch.setenv("CRM_OUTBOX_PATH", str(tmp_path / "module.db"))
        await genesis_crm.track_agent_usage(user_id="cliente_123", **EVENT)
        assert await genesis_crm.flush(timeout=20) == 0
        await genesis_crm.aclose()
        with GenesisCRMSync(
            base_url=server.base_url, secret=TEST_SECRET, outbox_path=tmp_path / "sync.db"
        ) as sync:
            for i in range(10):
                sync.track_agent_usage(user_id=f"s{i}", **EVENT)
            sync.track_subscription(user_id="s1", tier="elite")
            assert sync.flush(timeout=20) == 0
    assert await stored(sessions) == 11
