"""Helpers of the rate- and payload-limit tests: apps with small limits, clients by address."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.db import transaction
from nexus_crm.security.service import create_api_key
from nexus_crm.settings import Settings
from tests.support import OLD_SECRET, TEST_SECRET, signed

OFF = {
    "RATE_LIMIT_PER_KEY": "",
    "RATE_LIMIT_PER_USER": "",
    "RATE_LIMIT_PER_IP": "",
    "RATE_LIMIT_WEBHOOK": "",
}
HERE, THERE = ("127.0.0.2", 4000), ("127.0.0.3", 4000)  # ASGI client addresses, no traffic
CT_JSON = {"content-type": "application/json"}


def make_settings(db_url: str, **env: Any) -> Settings:
    """Settings on the database under test: every limit off unless ``env`` sets it."""
    values = {**OFF, **env}
    return Settings(
        DATABASE_URL=db_url, GENESIS_WEBHOOK_SECRET=f"{TEST_SECRET},{OLD_SECRET}", **values
    )


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[FastAPI]:
    """The app with its lifespan running."""
    async with app.router.lifespan_context(app):
        yield app


def client_of(app: FastAPI, address: tuple[str, int] = HERE) -> httpx.AsyncClient:
    """An in-process client whose requests come from ``address``."""
    transport = httpx.ASGITransport(app=app, client=address)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def new_key(app: FastAPI, *scopes: str) -> dict[str, str]:
    """Authorization headers of a new key with ``scopes``."""
    async with transaction(app.state.sessions) as session:
        _, plaintext = await create_api_key(session, name="rate", scopes=list(scopes))
    return {"Authorization": f"Bearer {plaintext}"}


async def count(app: FastAPI, table: str) -> int:
    """Rows in ``table``."""
    sessions: async_sessionmaker[AsyncSession] = app.state.sessions
    async with transaction(sessions) as session:
        return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def post_events(
    client: httpx.AsyncClient, payload: Any, secret: str = TEST_SECRET, **headers: str
) -> httpx.Response:
    """POST a webhook signed with ``secret``."""
    body, signed_headers = signed(payload, secret=secret)
    return await client.post(
        "/agent-usage/events", content=body, headers={**signed_headers, **headers}
    )
