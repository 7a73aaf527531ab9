"""Dashboard users: argon2id hashes, login, sessions voided by logout, the CLI."""

from __future__ import annotations

import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.db import transaction
from nexus_crm.errors import Conflict, InvalidInput
from nexus_crm.security import users
from nexus_crm.security.passwords import hash_password, needs_rehash, verify_password
from nexus_crm.security.sessions import cookie_secure, issue_session, read_session
from nexus_crm.settings import Settings
from tests.cli.test_cli import ok, run_cli
from tests.processes import nexus_crm_command, server_env

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
SECRET = "x" * 40
PASSWORD = "correct horse battery"


def test_passwords_are_argon2id_salted_and_verified() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first.startswith("$argon2id$")
    assert first != second
    assert verify_password(first, PASSWORD)
    assert not verify_password(first, PASSWORD + "!")
    assert not verify_password("not a hash", PASSWORD)
    assert not needs_rehash(first)


def test_session_cookie_is_signed_and_expires() -> None:
    uid = uuid.uuid4()
    token = issue_session(SECRET, user_id=uid, epoch=3, now=NOW, max_age=60)
    claims = read_session(SECRET, token, now=NOW)
    assert claims is not None
    assert (claims.user_id, claims.epoch) == (uid, 3)
    assert read_session(SECRET, token, now=NOW + timedelta(seconds=61)) is None
    assert read_session("y" * 40, token, now=NOW) is None
    payload, mac = token.split(".")
    assert read_session(SECRET, payload[:-2] + "xx." + mac, now=NOW) is None
    assert read_session(SECRET, "garbage", now=NOW) is None


def test_cookie_is_secure_except_in_development_over_http() -> None:
    dev = Settings(DATABASE_URL="sqlite:///:memory:")
    assert not cookie_secure(dev, scheme="http")
    assert cookie_secure(dev, scheme="https")
    prod = Settings(
        DATABASE_URL="sqlite:///:memory:",
        NEXUS_CRM_ENV="production",
        GENESIS_WEBHOOK_SECRET="whsec_" + "QUJD" * 10,
        SESSION_SECRET="s" * 48,
    )
    assert cookie_secure(prod, scheme="http")


def test_production_with_the_dashboard_needs_a_session_secret() -> None:
    env = {"NEXUS_CRM_ENV": "production", "GENESIS_WEBHOOK_SECRET": "whsec_" + "QUJD" * 10}
    with pytest.raises(ValueError, match="SESSION_SECRET"):
        Settings(DATABASE_URL="sqlite:///:memory:", DASHBOARD_ENABLED=True, **env)
    with pytest.raises(ValueError, match="SESSION_SECRET"):
        Settings(DATABASE_URL="sqlite:///:memory:", SESSION_SECRET="short")
    assert Settings(DATABASE_URL="sqlite:///:memory:", DASHBOARD_ENABLED=False, **env)


async def test_create_login_and_logout(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with transaction(sessions) as s:
        user = await users.create_user(s, email=" Ana@NGX.mx ", password=PASSWORD, role="sales")
    assert user.email == "ana@ngx.mx"
    assert user.password_hash.startswith("$argon2id$")
    async with transaction(sessions) as s:
        assert (
            await users.authenticate_user(s, email="ana@ngx.mx", password="nope", now=NOW) is None
        )
        assert (
            await users.authenticate_user(s, email="bob@ngx.mx", password=PASSWORD, now=NOW) is None
        )
        found = await users.authenticate_user(s, email="ANA@ngx.mx", password=PASSWORD, now=NOW)
        assert found is not None
        assert found.last_login_at == NOW
        assert await users.session_user(s, user_id=user.id, epoch=0) is not None
        await users.end_sessions(s, user_id=user.id)
        assert await users.session_user(s, user_id=user.id, epoch=0) is None
        assert await users.session_user(s, user_id=user.id, epoch=1) is not None
        await users.disable_user(s, email="ana@ngx.mx", now=NOW)
        assert (
            await users.authenticate_user(s, email="ana@ngx.mx", password=PASSWORD, now=NOW) is None
        )


@pytest.mark.parametrize(
    ("email", "password", "role", "field"),
    [
        ("not-an-email", PASSWORD, "admin", "email"),
        ("a@b.co", "short", "admin", "password"),
        ("a@b.co", PASSWORD, "owner", "role"),
    ],
)
async def test_bad_users_are_refused_naming_the_field(
    sessions: async_sessionmaker[AsyncSession], email: str, password: str, role: str, field: str
) -> None:
    async with transaction(sessions) as s:
        with pytest.raises(InvalidInput) as err:
            await users.create_user(s, email=email, password=password, role=role)
    assert err.value.extra["field"] == field


async def test_an_email_is_taken_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with transaction(sessions) as s:
        await users.create_user(s, email="a@b.co", password=PASSWORD, role="admin")
    async with transaction(sessions) as s:
        with pytest.raises(Conflict):
            await users.create_user(s, email="A@b.co", password=PASSWORD, role="analyst")


def create_with_stdin(db_url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``nexus-crm users create ARGS`` with the password on stdin (not a terminal)."""
    return subprocess.run(
        [*nexus_crm_command(), "users", "create", *args],
        input=PASSWORD + "\n",
        env=server_env(db_url),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_cli_creates_from_stdin_and_lists_without_hashes(db_url: str, tmp_path: Path) -> None:
    result = create_with_stdin(db_url, tmp_path, "Eva@NGX.mx", "--role", "analyst")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "created eva@ngx.mx (analyst)"
    listing = ok(run_cli("users", "list", database_url=db_url, cwd=tmp_path))
    assert "eva@ngx.mx" in listing
    assert "analyst" in listing
    assert "argon2" not in listing
    again = create_with_stdin(db_url, tmp_path, "eva@ngx.mx", "--role", "sales")
    assert again.returncode == 1
    assert "already exists" in again.stderr
