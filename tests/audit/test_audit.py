"""The audit trail: every mutation recorded with actor, time, target and source IP; read by
admins only; append-only in the database itself (both dialects)."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.app import create_app
from nexus_crm.audit.service import record, search_audit
from nexus_crm.db import transaction
from nexus_crm.models import AuditEntry
from nexus_crm.security import users
from nexus_crm.security.service import create_api_key, revoke_api_key
from nexus_crm.settings import Settings
from tests.alerts.helpers import act, list_alerts, use
from tests.conftest import MakeKey
from tests.processes import nexus_crm_command, server_env

AUDIT = "/agent-usage/audit"


async def entries(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    resp = await client.get(AUDIT, params=params, headers=headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["count"] == len(body["entries"])
    found: list[dict[str, Any]] = body["entries"]
    return found


def actor_of(key: str) -> str:
    return f"key:{key.split('_')[1]}"


async def test_alert_transitions_are_audited_with_actor_and_source_ip(
    client: httpx.AsyncClient, make_key: MakeKey, admin_headers: dict[str, str]
) -> None:
    key = await make_key("write")
    headers = {"Authorization": f"Bearer {key}"}
    await use(client, "audited", 850_000)
    [alert] = await list_alerts(client, headers, user_id="audited")
    resp = await act(client, headers, alert["id"], "acknowledge", note="on it")
    assert resp.status_code == 200, resp.text

    rows = await entries(client, admin_headers, target=f"alert:{alert['id']}")
    assert [r["action"] for r in rows] == ["alert.acknowledged", "alert.raised"]
    ack, raised = rows
    assert ack["actor"] == actor_of(key)
    assert ack["source_ip"] == "127.0.0.1"  # httpx's ASGI transport client address
    assert ack["details"] == {"from": "active", "to": "acknowledged", "note": "on it"}
    assert raised["actor"] == "system"
    assert raised["details"] == {"from": None, "to": "active"}


async def test_tier_edit_is_audited_with_before_and_after(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    body = {
        "display_name": "Pro",
        "rank": 2,
        "monthly_tokens": 2_000_000,
        "monthly_interactions": 4_000,
        "monthly_price": "149",
    }
    resp = await client.put("/agent-usage/tiers/pro", json=body, headers=admin_headers)
    assert resp.status_code == 200, resp.text
    [row] = await entries(client, admin_headers, action="tier.update")
    assert row["target"] == "tier:pro"
    assert row["details"]["before"]["monthly_tokens"] == 1_000_000
    assert row["details"]["after"]["monthly_tokens"] == 2_000_000


async def test_key_create_and_revoke_are_audited_without_the_secret(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    admin_headers: dict[str, str],
) -> None:
    async with transaction(sessions) as session:
        _, plaintext = await create_api_key(
            session, name="bi", scopes=["read"], actor="user:a@b.co"
        )
    prefix = plaintext.split("_")[1]
    async with transaction(sessions) as session:
        await revoke_api_key(session, prefix)
    rows = await entries(client, admin_headers, target=f"key:{prefix}")
    assert [(r["action"], r["actor"]) for r in rows] == [
        ("key.revoke", "system:cli"),
        ("key.create", "user:a@b.co"),
    ]
    assert rows[1]["details"] == {"name": "bi", "scopes": ["read"]}
    assert plaintext not in str(rows)


async def test_filters_actor_action_prefix_and_time(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    admin_headers: dict[str, str],
) -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    async with transaction(sessions) as session:
        for i, (actor, action) in enumerate(
            [
                ("user:a@x.co", "alert.acknowledged"),
                ("user:b@x.co", "alert.resolved"),
                ("user:a@x.co", "sequence.started"),
                ("system", "alert.raised"),
            ]
        ):
            await record(
                session, actor=actor, action=action, target=f"t:{i}", at=t0 + timedelta(hours=i)
            )
    by_a = await entries(client, admin_headers, actor="user:a@x.co")
    assert [r["target"] for r in by_a] == ["t:2", "t:0"]
    alerts = await entries(client, admin_headers, action="alert.", since="2026-11-01T00:30:00Z")
    assert [r["target"] for r in alerts] == ["t:3", "t:1"]
    exact = await entries(client, admin_headers, action="alert.resolved")
    assert [r["target"] for r in exact] == ["t:1"]
    window = await entries(
        client, admin_headers, since="2026-11-01T01:00:00Z", until="2026-11-01T03:00:00Z"
    )
    assert [r["target"] for r in window] == ["t:2", "t:1"]
    newest = await entries(client, admin_headers, action="alert.", limit=1)
    assert [r["target"] for r in newest] == ["t:3"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-11-01T00:00:00"}, "since"),  # no offset
        ({"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"}, "since"),
        ({"limit": "0"}, "limit"),
        ({"action": "x" * 65}, "action"),
    ],
)
async def test_bad_filters_are_422_naming_the_field(
    client: httpx.AsyncClient, admin_headers: dict[str, str], params: dict[str, str], field: str
) -> None:
    resp = await client.get(AUDIT, params=params, headers=admin_headers)
    assert resp.status_code == 422, resp.text
    assert field in resp.text


async def test_only_admins_read_it(client: httpx.AsyncClient, make_key: MakeKey) -> None:
    for scope, status in (("read", 403), ("write", 403), ("ingest", 403), ("admin", 200)):
        headers = {"Authorization": f"Bearer {await make_key(scope)}"}
        assert (await client.get(AUDIT, headers=headers)).status_code == status, scope
    assert (await client.get(AUDIT)).status_code == 401


async def test_no_route_can_change_or_delete_audit_rows(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    audit_ops = {(m, p) for p, ops in paths.items() if "audit" in p for m in ops}
    assert audit_ops == {("get", AUDIT)}


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"]
)
async def test_the_database_refuses_update_and_delete(
    sessions: async_sessionmaker[AsyncSession], statement: str
) -> None:
    async with transaction(sessions) as session:
        await record(session, actor="system", action="test.kept", target="t:1")
    with pytest.raises(DBAPIError, match="append-only"):
        async with transaction(sessions) as session:
            await session.execute(text(statement))
    async with sessions() as session:
        [row] = await search_audit(session, action="test.kept")
        assert row.actor == "system"
        assert await session.scalar(select(func.count()).select_from(AuditEntry)) == 1


async def test_a_failed_mutation_leaves_no_audit_row(
    client: httpx.AsyncClient, make_key: MakeKey, admin_headers: dict[str, str]
) -> None:
    key = await make_key("write")
    headers = {"Authorization": f"Bearer {key}"}
    await use(client, "twice", 850_000)
    [alert] = await list_alerts(client, headers, user_id="twice")
    assert (await act(client, headers, alert["id"], "resolve")).status_code == 200
    assert (await act(client, headers, alert["id"], "resolve")).status_code == 409
    rows = await entries(client, admin_headers, target=f"alert:{alert['id']}")
    assert [r["action"] for r in rows] == ["alert.resolved", "alert.raised"]


async def test_secrets_in_details_are_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with transaction(sessions) as session:
        with pytest.raises(ValueError, match="secrets"):
            await record(
                session, actor="system", action="x.y", target="t", details={"password": "pw"}
            )


async def _start(settings: Settings) -> None:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        pass


async def test_settings_changes_are_recorded_at_startup_without_secrets(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _start(settings)
    await _start(settings)  # unchanged: nothing new
    changed = settings.model_copy(update={"alert_limit_approaching_pct": 70.0})
    await _start(changed)
    async with sessions() as session:
        rows = await search_audit(session, action="settings.changed")
    assert len(rows) == 2
    assert rows[0].actor == "system:startup"
    assert rows[0].details["changed"] == {"alert_limit_approaching_pct": {"from": 80.0, "to": 70.0}}
    text_of_rows = str([r.details for r in rows])
    assert "genesis_webhook_secret" not in text_of_rows
    assert "session_secret" not in text_of_rows
    for secret in [*settings.webhook_secrets, settings.session_secret]:
        assert secret not in text_of_rows


async def test_user_changes_are_audited(sessions: async_sessionmaker[AsyncSession]) -> None:
    email, password = "ana@ngx.mx", "a long enough password"
    async with transaction(sessions) as session:
        await users.create_user(
            session, email=email, password=password, role="analyst", actor="user:boss@ngx.mx"
        )
    async with transaction(sessions) as session:
        await users.set_role(session, email=email, role="sales")
        await users.set_role(session, email=email, role="sales")  # unchanged: not recorded
    async with transaction(sessions) as session:
        await users.set_password(session, email=email, password=password + "!")
    async with transaction(sessions) as session:
        await users.disable_user(session, email=email, now=datetime.now(UTC))
    async with sessions() as session:
        rows = await search_audit(session, target=f"user:{email}")
    assert [(r.action, r.actor) for r in reversed(rows)] == [
        ("user.create", "user:boss@ngx.mx"),
        ("user.role_change", "system:cli"),
        ("user.password_change", "system:cli"),
        ("user.disable", "system:cli"),
    ]
    assert rows[-1].details == {"role": "analyst"}
    assert rows[-2].details == {"from": "analyst", "to": "sales"}
    assert password not in str([r.details for r in rows])


async def test_cli_set_role_and_set_password_are_audited(
    db_url: str, tmp_path: Path, sessions: async_sessionmaker[AsyncSession]
) -> None:
    def run(*args: str, stdin: str | None = None) -> str:
        env = server_env(db_url)
        done = subprocess.run(
            [*nexus_crm_command(), *args],
            input=stdin,
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    async def cli(*args: str, stdin: str | None = None) -> str:
        return await asyncio.to_thread(run, *args, stdin=stdin)

    await cli("users", "create", "bo@ngx.mx", "-r", "analyst", stdin="first password 123\n")
    assert "bo@ngx.mx is now admin" in await cli("users", "set-role", "bo@ngx.mx", "-r", "admin")
    out = await cli("users", "set-password", "bo@ngx.mx", stdin="second password 456\n")
    assert "sessions and tokens have ended" in out
    async with sessions() as session:
        rows = await search_audit(session, target="user:bo@ngx.mx")
    actions = [r.action for r in reversed(rows)]
    assert actions == ["user.create", "user.role_change", "user.password_change"]
