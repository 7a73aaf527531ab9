"""Readiness checks."""

from __future__ import annotations

from functools import cache

from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.db import alembic_config

UPGRADE_HINT = "run `nexus-crm db upgrade`"


@cache
def head_revision() -> str | None:
    """The newest migration shipped with this version."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def check_database(sessions: async_sessionmaker[AsyncSession]) -> str | None:
    """None when the database answers at the latest schema; else what is wrong."""
    try:
        async with sessions() as session:
            current = await session.scalar(text("SELECT version_num FROM alembic_version"))
    except (SQLAlchemyError, OSError) as exc:
        return f"database unreachable or not migrated ({type(exc).__name__}); {UPGRADE_HINT}"
    head = head_revision()
    if current != head:
        return f"database schema is at {current}, this version needs {head}; {UPGRADE_HINT}"
    return None
