"""``nexus-crm demo``: migrate the embedded database, serve, and feed it live traffic."""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import httpx
import typer
import uvicorn

from genesis_crm.signing import sign_headers
from nexus_crm.app import create_app
from nexus_crm.cli.common import load_settings, run_in_session
from nexus_crm.cli.db import migrate
from nexus_crm.kit.ids import uuid7
from nexus_crm.security import service as keys
from nexus_crm.settings import Settings

AGENTS = {
    "NEXUS": 30,
    "BLAZE": 20,
    "SAGE": 18,
    "WAVE": 10,
    "SPARK": 8,
    "NOVA": 6,
    "LUNA": 4,
    "STELLA": 4,
}
# (tier, events per customer per hour relative weight, typical tokens)
PERSONAS = [
    ("essential", 1, 120),
    ("pro", 3, 180),
    ("elite", 5, 240),
    ("prime", 8, 320),
    ("longevity", 10, 400),
]


@dataclass(frozen=True)
class DemoCustomer:
    """A demo customer: id, tier, activity weight and typical tokens per interaction."""

    user_id: str
    tier: str
    weight: int
    tokens: int


def demo_customers(n: int, rng: random.Random) -> list[DemoCustomer]:
    """``n`` customers spread over the five tiers."""
    out = []
    for i in range(n):
        tier, weight, tokens = PERSONAS[i % len(PERSONAS)]
        out.append(
            DemoCustomer(f"cliente_{tier}_{100 + i}", tier, weight * rng.randint(1, 3), tokens)
        )
    return out


def make_event(c: DemoCustomer, rng: random.Random) -> dict[str, object]:
    """One realistic usage event for customer ``c``."""
    agent = rng.choices(list(AGENTS), weights=list(AGENTS.values()))[0]
    return {
        "event_id": str(uuid7()),
        "user_id": c.user_id,
        "agent_id": agent,
        "session_id": f"session_{c.user_id[-3:]}_{rng.randint(1, 40)}",
        "tokens_used": max(1, int(rng.gauss(c.tokens, c.tokens / 4))),
        "response_time_ms": max(80, int(rng.lognormvariate(6.9, 0.35))),
        "subscription_tier": c.tier,
        "timestamp": datetime.now(UTC).isoformat(),
    }


async def _post(
    client: httpx.AsyncClient, path: str, secret: str, payload: object
) -> httpx.Response:
    body = json.dumps(payload).encode()
    return await client.post(path, content=body, headers=sign_headers(secret, body))


def events_this_second(rate: float, rng: random.Random) -> int:
    """A binomial draw with mean ``rate``: traffic that varies from second to second."""
    trials = max(1, math.ceil(2 * rate))
    return sum(rng.random() < rate / trials for _ in range(trials))


async def _send_subscriptions(
    client: httpx.AsyncClient, secret: str, customers: list[DemoCustomer]
) -> None:
    for c in customers:
        name = c.user_id.replace("_", " ").title()
        sub = {"user_id": c.user_id, "tier": c.tier, "status": "active", "name": name,
               "email": f"{c.user_id}@example.com"}  # fmt: skip
        await _post(client, "/agent-usage/subscriptions", secret, sub)


async def _send_events(
    client: httpx.AsyncClient, secret: str, batch: list[dict[str, object]]
) -> int:
    """Post one batch; return how many were accepted (problems are printed, not raised)."""
    try:
        resp = await _post(client, "/agent-usage/events", secret, {"events": batch})
    except httpx.HTTPError as exc:
        typer.echo(f"demo feed: {exc!r}; will retry with the next batch", err=True)
        return 0
    if resp.status_code != 200:
        typer.echo(f"demo feed: HTTP {resp.status_code}: {resp.text[:200]}", err=True)
        return 0
    return int(resp.json()["accepted"])


async def feed(
    base_url: str, secret: str, rate: float, customers: list[DemoCustomer], rng: random.Random
) -> None:
    """Send subscriptions, then about ``rate`` signed events per second, forever."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        await _send_subscriptions(client, secret, customers)
        accepted, last_report = 0, time.monotonic()
        while True:
            n = events_this_second(rate, rng)
            weights = [c.weight for c in customers]
            if n:
                batch = [make_event(c, rng) for c in rng.choices(customers, weights, k=n)]
                accepted += await _send_events(client, secret, batch)
            if time.monotonic() - last_report >= 10:
                typer.echo(f"demo feed: {accepted} events accepted so far")
                last_report = time.monotonic()
            await asyncio.sleep(1.0)


async def _serve_with_feed(settings: Settings, host: str, port: int, rate: float, n: int) -> None:
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning")
    )
    rng = random.Random()

    async def _feed_when_up() -> None:
        while not server.started:
            await asyncio.sleep(0.05)
        await feed(
            f"http://{host}:{port}", settings.webhook_secrets[0], rate, demo_customers(n, rng), rng
        )

    task = asyncio.create_task(_feed_when_up())
    try:
        await server.serve()
    finally:
        task.cancel()


def demo(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8001,
    rate: Annotated[float, typer.Option(help="events per second")] = 3.0,
    customers: Annotated[int, typer.Option(help="demo customers")] = 15,
) -> None:
    """Migrate, serve the API and feed it live signed events. Example: nexus-crm demo"""
    settings = load_settings()
    asyncio.run(migrate(settings))
    _, key = run_in_session(
        settings,
        lambda s: keys.create_api_key(
            s, name=f"demo-admin-{datetime.now(UTC):%Y%m%d%H%M%S}", scopes=["admin"]
        ),
    )
    url = f"http://{host}:{port}"
    typer.echo(f"NexusCRM demo on {url}  (database: {settings.database_url})")
    typer.echo(f"admin API key: {key}")
    typer.echo(f"try: curl -H 'Authorization: Bearer {key}' {url}/agent-usage/insights?days=1")
    typer.echo(f"API docs: {url}/docs   stop with Ctrl+C")
    asyncio.run(_serve_with_feed(settings, host, port, rate, customers))
