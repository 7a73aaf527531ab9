"""GET /agent-usage/ws with the dashboard's session cookie instead of an API key."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.realtime.conftest import Live, StartLive, frame_of
from tests.realtime.test_ws import closed_with
from tests.support import event
from websockets.asyncio.client import connect
from websockets.typing import Origin

from nexus_crm.db import transaction
from nexus_crm.kit.time import utcnow
from nexus_crm.security.sessions import COOKIE_NAME, issue_session
from nexus_crm.security.users import create_user, end_sessions
from nexus_crm.settings import Settings


async def mint_cookie(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, role: str
) -> tuple[uuid.UUID, str]:
    """A user with ``role`` and a session cookie value signed as the login form signs it."""
    email = f"{role}.{uuid.uuid4().hex[:6]}@ngx.mx"
    async with transaction(sessions) as session:
        user = await create_user(session, email=email, password="ws-test-password", role=role)
        user_id, epoch = user.id, user.session_epoch
    token = issue_session(
        settings.session_secret, user_id=user_id, epoch=epoch, now=utcnow(), max_age=600
    )
    return user_id, token


def ws_with_cookie(live: Live, token: str, origin: str | None) -> Any:
    """A connection sending the cookie (and ``origin`` as Origin, as browsers do)."""
    headers = {"Cookie": f"{COOKIE_NAME}={token}"}
    return connect(
        live.ws_url,
        origin=Origin(origin) if origin else None,
        additional_headers=headers,
        open_timeout=10,
    )


async def test_a_session_cookie_streams(
    start_live: StartLive, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    live = await start_live()
    _, token = await mint_cookie(sessions, settings, "analyst")
    async with ws_with_cookie(live, token, live.base_url) as ws:
        sent = event(user_id="ws_cookie")
        assert (await live.post_events(sent))["accepted"] == 1
        message = await frame_of(ws, "usage")
    assert message["data"]["events"][0]["event_id"] == sent["event_id"]


@pytest.mark.parametrize("origin", [None, "https://evil.example"])
async def test_a_cookie_from_another_origin_is_refused(
    start_live: StartLive,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    origin: str | None,
) -> None:
    live = await start_live()
    _, token = await mint_cookie(sessions, settings, "admin")
    async with ws_with_cookie(live, token, origin) as ws:
        code, reason = await closed_with(ws)
    assert code == 4403
    assert "origin" in reason


async def test_a_logged_out_cookie_is_refused(
    start_live: StartLive, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    live = await start_live()
    user_id, token = await mint_cookie(sessions, settings, "sales")
    async with transaction(sessions) as session:
        await end_sessions(session, user_id=user_id)
    for cookie in (token, "forged.value"):
        async with ws_with_cookie(live, cookie, live.base_url) as ws:
            code, reason = await closed_with(ws)
        assert code == 4401, reason
