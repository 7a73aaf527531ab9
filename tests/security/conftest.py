"""Shared by the hostile-input tests: a snapshot of every table and the JSON error shape."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import Integer, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.models import Base
from tests.support import event, signed

Snapshot = dict[str, tuple[int, ...]]


async def snapshot(sessions: async_sessionmaker[AsyncSession]) -> Snapshot:
    """Per table: the row count and the sum of every integer column."""
    found: Snapshot = {}
    async with sessions() as session:
        for table in Base.metadata.sorted_tables:
            numbers = [c for c in table.columns if isinstance(c.type, Integer)]
            query = select(func.count(), *(func.coalesce(func.sum(c), 0) for c in numbers))
            row = (await session.execute(query.select_from(table))).one()
            found[table.name] = tuple(int(v) for v in row)
    return found


Unchanged = Callable[[], Awaitable[None]]


@pytest.fixture
async def unchanged(
    sessions: async_sessionmaker[AsyncSession], client: httpx.AsyncClient
) -> Unchanged:
    """Seed some data, snapshot it; calling the fixture asserts nothing changed since."""
    body, headers = signed({"events": [event(user_id="victim", tokens_used=500)]})
    assert (await client.post("/agent-usage/events", content=body, headers=headers)).is_success
    before = await snapshot(sessions)

    async def _check() -> None:
        assert await snapshot(sessions) == before

    return _check


def as_json(headers: dict[str, str]) -> dict[str, str]:
    """``headers`` with a JSON content type (for raw bodies)."""
    return {**headers, "content-type": "application/json"}


def assert_error(resp: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    """The response is our JSON error with this status (and naming ``field``)."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = resp.json()
    assert set(body) >= {"error", "detail"}
    if field is not None:
        assert body.get("field") == field or field in {e["field"] for e in body.get("errors", [])}
    return body


async def post_signed(client: httpx.AsyncClient, payload: Any, **sign: Any) -> httpx.Response:
    """POST a signed body to the events webhook."""
    body, headers = signed(payload, **sign)
    return await client.post("/agent-usage/events", content=body, headers=headers)
