"""The export document, streamed: the small parts first, then raw events page by page.

A customer may have 100,000 raw events or more; they are read in keyset pages of
``page_size`` rows, each page in its own short transaction (a long one would hold SQLite's
write lock for the whole download), and written out as they come, so memory stays flat.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.db import transaction
from nexus_crm.privacy import service

PAGE_SIZE = 5000
NOTES = MappingProxyType(
    {
        "hourly_usage": "agent_usage_hourly holds per-agent totals of all customers; "
        "nothing in it is about one customer",
        "email_content": "upsell messages are rendered from templates when sent; their text "
        "is not stored",
    }
)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot export {type(value).__name__}")


def dumps(value: Any) -> str:
    """JSON text of exported values (datetimes in ISO 8601, UUIDs as strings)."""
    return json.dumps(value, default=_default, ensure_ascii=False)


async def stream_export(
    sessions: async_sessionmaker[AsyncSession],
    *,
    user_id: str,
    exported_at: datetime,
    page_size: int = PAGE_SIZE,
) -> AsyncIterator[bytes]:
    """The export as JSON bytes: one object whose last member, ``events``, is streamed."""
    async with transaction(sessions) as session:
        head = await service.export_head(session, user_id=user_id)
    doc = {"user_id": user_id, "exported_at": exported_at, "notes": dict(NOTES), **head}
    yield (dumps(doc)[:-1] + ', "events": [').encode()
    after: tuple[datetime, Any] | None = None
    first = True
    while True:
        async with transaction(sessions) as session:
            page = await service.export_events_page(
                session, user_id=user_id, after=after, limit=page_size
            )
        if not page:
            break
        text = ", ".join(dumps(row) for row in page)
        yield (text if first else ", " + text).encode()
        first = False
        after = (page[-1]["occurred_at"], page[-1]["id"])
        if len(page) < page_size:
            break
    yield b"]}"
