"""API keys or dashboard sessions: every route needs one (but webhooks and operations)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.db import transaction
from nexus_crm.kit.time import utcnow
from nexus_crm.models import ApiKey
from nexus_crm.security.principals import ROLE_SCOPES
from nexus_crm.security.scopes import Scope, grants
from nexus_crm.security.service import revoke_api_key
from nexus_crm.security.sessions import COOKIE_NAME, issue_session
from nexus_crm.security.users import create_user
from nexus_crm.settings import Settings
from tests.conftest import MakeKey

PUBLIC = {"/healthz", "/readyz", "/metrics", "/agent-usage/events", "/agent-usage/subscriptions"}
# route → the weakest scope that may call it
NEEDS = {
    ("GET", "/agent-usage/tiers"): "read",
    ("PUT", "/agent-usage/tiers/{tier}"): "admin",
    ("GET", "/agent-usage/insights"): "read",
    ("GET", "/agent-usage/patterns"): "read",
    ("GET", "/agent-usage/customers/{user_id}"): "read",
    ("GET", "/agent-usage/churn-risks"): "read",
    ("GET", "/agent-usage/upgrade-opportunities"): "read",
    ("GET", "/agent-usage/business-metrics"): "read",
    ("GET", "/agent-usage/alerts"): "read",
    ("GET", "/agent-usage/alerts/{alert_id}"): "read",
    ("POST", "/agent-usage/alerts/{alert_id}/acknowledge"): "write",
    ("POST", "/agent-usage/alerts/{alert_id}/resolve"): "write",
    ("POST", "/agent-usage/alerts/{alert_id}/dismiss"): "write",
    ("POST", "/agent-usage/alerts/{alert_id}/snooze"): "write",
    ("POST", "/agent-usage/upsell-sequences"): "write",
    ("GET", "/agent-usage/upsell-sequences"): "read",
    ("GET", "/agent-usage/upsell-sequences/{sequence_id}"): "read",
    ("POST", "/agent-usage/upsell-sequences/{sequence_id}/cancel"): "write",
    ("POST", "/agent-usage/upsell-sequences/{sequence_id}/replied"): "write",
}
UNKNOWN_ALERT = "0191e7a0-0000-7000-8000-000000000000"
TIER_BODY = {
    "display_name": "Pro",
    "rank": 2,
    "monthly_tokens": 1,
    "monthly_interactions": 1,
    "monthly_price": "1",
}


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every operation in the OpenAPI schema that is not public."""
    paths = app.openapi()["paths"]
    return sorted((m.upper(), p) for p, ops in paths.items() for m in ops if p not in PUBLIC)


async def call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    key: str | None,
    headers: dict[str, str] | None = None,
) -> int:
    url = path.replace("{tier}", "pro").replace("{user_id}", "nobody")
    url = url.replace("{alert_id}", UNKNOWN_ALERT).replace("{sequence_id}", UNKNOWN_ALERT)
    headers = headers or ({"Authorization": f"Bearer {key}"} if key else {})
    body = TIER_BODY if method == "PUT" else None
    return (await client.request(method, url, json=body, headers=headers)).status_code


async def test_every_route_has_a_documented_scope(app: FastAPI) -> None:
    assert set(api_routes(app)) == set(NEEDS), "a new route needs an entry in NEEDS"


async def test_authorization_matrix(
    client: httpx.AsyncClient, make_key: MakeKey, sessions: async_sessionmaker[AsyncSession]
) -> None:
    keys = {s.value: await make_key(s.value) for s in Scope}
    revoked = await make_key("admin")
    async with transaction(sessions) as session:
        await revoke_api_key(session, revoked.split("_")[1])
    for (method, path), needed in NEEDS.items():
        assert await call(client, method, path, None) == 401
        assert await call(client, method, path, "ncrm_00000000_forged") == 401
        assert await call(client, method, path, revoked) == 401
        for scope, key in keys.items():
            status = await call(client, method, path, key)
            if grants([scope], Scope(needed)):
                assert status not in (401, 403), (method, path, scope)
            else:
                assert status == 403, (method, path, scope)


async def session_cookie(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, role: str
) -> dict[str, str]:
    """The Cookie and same-origin headers of a new dashboard user with ``role``."""
    async with transaction(sessions) as session:
        user = await create_user(
            session, email=f"{role}@ngx.mx", password="matrix-password", role=role
        )
        user_id, epoch = user.id, user.session_epoch
    token = issue_session(
        settings.session_secret, user_id=user_id, epoch=epoch, now=utcnow(), max_age=600
    )
    return {"Cookie": f"{COOKIE_NAME}={token}", "Origin": "http://test"}


async def test_session_authorization_matrix(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    for role, scopes in ROLE_SCOPES.items():
        headers = await session_cookie(sessions, settings, role)
        for (method, path), needed in NEEDS.items():
            status = await call(client, method, path, None, headers)
            if grants(set(scopes), Scope(needed)):
                assert status not in (401, 403), (method, path, role)
            else:
                assert status == 403, (method, path, role)


async def test_401_names_the_scheme(client: httpx.AsyncClient) -> None:
    resp = await client.get("/agent-usage/tiers", headers={"Authorization": "Basic abc"})
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == "Bearer"
    assert resp.json()["error"] == "unauthorized"


async def test_keys_are_stored_hashed(
    make_key: MakeKey, sessions: async_sessionmaker[AsyncSession]
) -> None:
    plaintext = await make_key("read", name="bi")
    async with sessions() as s:
        row = await s.scalar(select(ApiKey).where(ApiKey.name == "bi"))
    assert row is not None
    assert plaintext not in (row.key_hash, row.prefix)
    secret_part = plaintext.split("_", 2)[2]  # the random part may itself contain "_"
    assert secret_part not in row.key_hash
    assert row.scopes == ["read"]


@pytest.mark.parametrize(
    ("held", "needed", "ok"),
    [
        (["admin"], "read", True),
        (["admin"], "ingest", True),
        (["write"], "read", True),
        (["read"], "write", False),
        (["ingest"], "read", False),
        (["read", "ingest"], "ingest", True),
        (["bogus"], "read", False),
    ],
)
def test_scope_implications(held: list[str], needed: str, ok: bool) -> None:
    assert grants(held, Scope(needed)) is ok
