"""PRIVACY_HASH_KEY: erasures are remembered across a SESSION_SECRET rotation."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.app import create_app
from nexus_crm.db import transaction
from nexus_crm.kit.time import utcnow
from nexus_crm.models import PrivacyErasure
from nexus_crm.privacy.service import erase_customer, erasure_key, subject_hash
from nexus_crm.settings import Settings
from tests.privacy.helpers import ANA, send, stored_about, subscribe, usage
from tests.support import OLD_SECRET, TEST_SECRET

HASH_KEY = secrets.token_urlsafe(40)


def _settings(db_url: str, session_secret: str, hash_key: str | None = None) -> Settings:
    env = {
        "DATABASE_URL": db_url,
        "GENESIS_WEBHOOK_SECRET": f"{TEST_SECRET},{OLD_SECRET}",
        "SESSION_SECRET": session_secret,
    }
    if hash_key is not None:
        env["PRIVACY_HASH_KEY"] = hash_key
    return Settings(_env_file=None, **env)


@asynccontextmanager
async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The webhook API of a server running with ``settings`` (one "deployment")."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c


async def _erase(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> str:
    async with transaction(sessions) as s:
        result = await erase_customer(
            s, user_id=ANA, key=erasure_key(settings), actor="system:test", now=utcnow()
        )
    return result.status


async def test_an_erasure_survives_a_session_secret_rotation_with_a_privacy_hash_key(
    db_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    before = _settings(db_url, secrets.token_urlsafe(40), HASH_KEY)
    async with _client(before) as client:
        await subscribe(client, ANA)
        await send(client, usage(ANA, 1, 10))
    assert await _erase(sessions, before) == "erased"

    rotated = _settings(db_url, secrets.token_urlsafe(40), HASH_KEY)  # SESSION_SECRET rotated
    async with _client(rotated) as client:
        assert (await send(client, usage(ANA, 0.5, 10)))["suppressed"] == 1
        stale = await subscribe(client, ANA, status="cancelled")
        assert stale["suppressed"] == "customer_erased"
    assert (await stored_about(sessions, ANA))["events"] == 0
    assert await _erase(sessions, rotated) == "already_erased"
    async with sessions() as s:
        [row] = (await s.scalars(select(PrivacyErasure))).all()
    # The key does not depend on SESSION_SECRET at all.
    assert row.subject_hash == subject_hash(erasure_key(rotated), ANA)
    assert erasure_key(before) == erasure_key(rotated)


async def test_without_the_key_a_rotation_forgets_and_the_old_secret_as_key_remembers(
    db_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    old_secret = secrets.token_urlsafe(40)
    legacy = _settings(db_url, old_secret)  # no PRIVACY_HASH_KEY: derived from SESSION_SECRET
    async with _client(legacy) as client:
        await subscribe(client, ANA)
    assert await _erase(sessions, legacy) == "erased"
    async with sessions() as s:
        [row] = (await s.scalars(select(PrivacyErasure))).all()
    rotated = _settings(db_url, secrets.token_urlsafe(40))
    assert row.subject_hash != subject_hash(erasure_key(rotated), ANA)  # why the key exists
    # Moving to PRIVACY_HASH_KEY = the SESSION_SECRET the erasures were made with keeps them.
    migrated = _settings(db_url, secrets.token_urlsafe(40), hash_key=old_secret)
    async with _client(migrated) as client:
        assert (await send(client, usage(ANA, 0.5, 10)))["suppressed"] == 1


def test_a_short_privacy_hash_key_is_refused() -> None:
    with pytest.raises(ValidationError) as err:
        Settings(_env_file=None, PRIVACY_HASH_KEY="too-short")
    assert "PRIVACY_HASH_KEY" in str(err.value)


def test_production_without_a_privacy_hash_key_warns(caplog: pytest.LogCaptureFixture) -> None:
    env = {
        "NEXUS_CRM_ENV": "production",
        "GENESIS_WEBHOOK_SECRET": TEST_SECRET,
        "DASHBOARD_ENABLED": "false",
    }
    with caplog.at_level(logging.WARNING, logger="nexus_crm.settings"):
        Settings(_env_file=None, **env)
        assert [r.getMessage() for r in caplog.records if "PRIVACY_HASH_KEY" in r.getMessage()]
        caplog.clear()
        Settings(_env_file=None, PRIVACY_HASH_KEY=HASH_KEY, **env)
        Settings(_env_file=None, GENESIS_WEBHOOK_SECRET=TEST_SECRET)
    assert not [r for r in caplog.records if "PRIVACY_HASH_KEY" in r.getMessage()]
