"""/healthz, /readyz and /metrics."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from nexus_crm.app import create_app
from nexus_crm.ops.service import head_revision
from nexus_crm.settings import Settings
from tests.support import event, signed


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json()["status"] == "ok"
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


async def test_readyz_is_503_on_an_unmigrated_database(tmp_path: object) -> None:
    app = create_app(Settings(DATABASE_URL=f"sqlite:///{tmp_path}/empty.db"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            resp = await c.get("/readyz")
    assert resp.status_code == 503
    assert "nexus-crm db upgrade" in resp.json()["detail"]


async def test_readyz_is_503_when_postgres_is_unreachable() -> None:
    app = create_app(Settings(DATABASE_URL="postgresql://nobody@127.0.0.1:9/none"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            resp = await c.get("/readyz")
    assert resp.status_code == 503
    assert resp.json()["status"] == "unavailable"
    assert resp.json()["error"] == "not_ready"  # the documented error body (schemathesis)


async def test_readyz_names_an_old_schema(client: httpx.AsyncClient, app: FastAPI) -> None:
    sessions = app.state.sessions
    async with sessions() as s:
        head = await s.scalar(text("SELECT version_num FROM alembic_version"))
    assert head == head_revision()
    async with sessions() as s, s.begin():
        await s.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    try:
        resp = await client.get("/readyz")
        assert resp.status_code == 503
        assert "0000" in resp.json()["detail"]
    finally:  # the database is shared by the session's later tests: put the real head back
        async with sessions() as s, s.begin():
            await s.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
    assert (await client.get("/readyz")).status_code == 200


def metric(text_: str, name: str) -> float:
    for line in text_.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_accepted_duplicates_and_rejections(client: httpx.AsyncClient) -> None:
    ev = event()
    for payload in (ev, ev, {**ev, "tokens_used": -1}):
        body, headers = signed(payload)
        await client.post("/agent-usage/events", content=body, headers=headers)
    body, headers = signed(ev)
    await client.post("/agent-usage/events", content=body, headers={**headers, "webhook-id": "x"})
    resp = await client.get("/metrics")
    assert resp.status_code == 200
    m = resp.text
    assert metric(m, "nexus_events_accepted_total") == 1
    assert metric(m, "nexus_events_duplicate_total") == 1
    assert metric(m, 'nexus_events_rejected_total{reason="validation_error"}') == 1
    assert metric(m, 'nexus_events_rejected_total{reason="unauthorized"}') == 1
    assert 'route="/agent-usage/events"' in m
    assert "nexus_http_request_duration_seconds_bucket" in m
