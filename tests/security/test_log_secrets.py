"""Secrets never reach the logs: a real server at debug level, and the app in-process.

A realistic session — keys and a user made by the CLI, a dashboard login, JWTs, Bearer keys
(also in a WebSocket URL), signed webhooks, an upsell email through an SMTP server that
requires a password — plus the usual failures (bad key, bad password, bad signature, bad
token). Then every byte the server and the CLI logged, and every record the in-process
app logged at DEBUG, is searched for each secret used.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.sync.client import connect

from nexus_crm.db import transaction
from nexus_crm.security.sessions import COOKIE_NAME
from nexus_crm.security.users import create_user
from tests.conftest import MakeKey
from tests.processes import (
    Command,
    ServerProcess,
    free_port,
    nexus_crm_command,
    server_env,
    uvicorn_command,
)
from tests.security.logcapture import SecretSearch
from tests.support import OTHER_SECRET, TEST_SECRET, event, signed

pytestmark = pytest.mark.slow
API = "/agent-usage"


@dataclass
class Secrets:
    """Every secret of the session; ``found_in`` names those present in a text."""

    values: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, value: str) -> str:
        assert len(value) >= 8, name  # short values would match by chance
        self.values[name] = value
        return value

    def add_key(self, name: str, key: str) -> str:
        """An API key, and its secret part alone (``ncrm_<prefix>_<secret>``)."""
        self.add(f"{name} secret part", key.split("_", 2)[2])
        return self.add(name, key)

    def add_jwt(self, name: str, token: str) -> str:
        """A JWT, and its signature alone."""
        self.add(f"{name} signature", token.rsplit(".", 1)[-1])
        return self.add(name, token)

    def found_in(self, text: str) -> list[str]:
        return sorted(name for name, value in self.values.items() if value in text)


def webhook_secrets(found: Secrets) -> None:
    """The webhook secret as configured, its base64 body, and the key bytes as text."""
    found.add("webhook secret", TEST_SECRET)
    body = TEST_SECRET.removeprefix("whsec_")
    found.add("webhook secret body", body)
    found.add("webhook key bytes", base64.b64decode(body).decode())


class Mailbox:
    """An aiosmtpd handler that keeps messages; login only with the one password."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user.encode(), password.encode()
        self.messages: list[bytes] = []
        self.logins = 0
        self._lock = threading.Lock()

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            self.user,
            self.password,
        )
        self.logins += ok
        return AuthResult(success=ok)

    async def data(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            self.messages.append(envelope.original_content or b"")
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A loopback SMTP server offering AUTH over plain text (the test checks a login happened)."""
    handler = type("Handler", (Mailbox,), {"handle_DATA": Mailbox.data})  # aiosmtpd's hook
    box: Mailbox = handler("crm-mailer", "smtp-" + secrets.token_urlsafe(16))
    port = free_port()
    controller = Controller(
        box, hostname="127.0.0.1", port=port, authenticator=box.authenticate, auth_require_tls=False
    )
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def cli(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run ``nexus-crm`` with ``args``; fail with its output when it fails."""
    done = subprocess.run(
        [*nexus_crm_command(), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


# What an operator who wants everything would configure: the root logger at DEBUG (every
# library: SQL with its parameters, multipart, NiceGUI, aiosmtplib), uvicorn's access log.
LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"level": "DEBUG", "handlers": ["stderr"]},
    "loggers": {
        "uvicorn.access": {"level": "DEBUG"},
        "uvicorn.error": {"level": "DEBUG"},
        "sqlalchemy.engine": {"level": "INFO"},
    },  # statements and their parameters
}


def debug_server(log_config: Path) -> Command:
    """uvicorn serving the app with ``log_config`` at debug level, access log on."""

    def command(port: int) -> list[str]:
        return [
            *uvicorn_command(port)[:-2],
            "--log-level",
            "debug",
            "--access-log",
            "--log-config",
            str(log_config),
        ]

    return command


@dataclass
class LiveSession:
    """What the live session needs: the server, its secrets, and the CLI's log output."""

    server: ServerProcess
    found: Secrets
    admin_key: str
    read_key: str
    email: str
    password: str
    cli_logs: list[str]


def _setup(db_url: str, mailbox: tuple[Mailbox, int]) -> tuple[dict[str, str], Secrets, list[str]]:
    found = Secrets()
    webhook_secrets(found)
    jwt_secret = found.add("JWT_SECRET", secrets.token_urlsafe(40))
    session_secret = found.add("SESSION_SECRET", secrets.token_urlsafe(40))
    found.add("SMTP password", mailbox[0].password.decode())
    extra = {
        "DASHBOARD_ENABLED": "true",
        "JWT_SECRET": jwt_secret,
        "SESSION_SECRET": session_secret,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(mailbox[1]),
        "SMTP_STARTTLS": "false",
        "SMTP_USERNAME": mailbox[0].user.decode(),
        "SMTP_PASSWORD": mailbox[0].password.decode(),
        "UPSELL_WORKER_INTERVAL_SECONDS": "0.2",
    }
    return server_env(db_url, extra=extra), found, []


@pytest.fixture
def live(db_url: str, mailbox: tuple[Mailbox, int], tmp_path: Path) -> Iterator[LiveSession]:
    """Keys and a user made by the CLI, and a debug-level server with the dashboard."""
    env, found, cli_logs = _setup(db_url, mailbox)
    password = found.add("password", "Corr3ct-" + secrets.token_urlsafe(12))
    email = f"ana.{uuid.uuid4().hex[:6]}@ngx.mx"
    keys = []
    for scope in ("admin", "read"):
        done = cli(env, "keys", "create", f"logs-{scope}", "--scope", scope)
        keys.append(found.add_key(f"{scope} key", done.stdout.strip()))
        cli_logs.append(done.stderr)
    cli_logs.append(cli(env, "users", "create", email, "-r", "admin", stdin=password + "\n").stderr)
    log_config = tmp_path / "logging.json"
    log_config.write_text(json.dumps(LOG_CONFIG))
    with ServerProcess(env, command=debug_server(log_config)) as server:
        server.start()
        yield LiveSession(server, found, keys[0], keys[1], email, password, cli_logs)


def _api_calls(http: httpx.Client, s: LiveSession) -> None:
    bearer = {"Authorization": f"Bearer {s.admin_key}"}
    assert http.get(f"{API}/insights", headers=bearer).status_code == 200
    bogus = "ncrm_deadbeef_" + secrets.token_urlsafe(24)
    s.found.add_key("unknown key", bogus)
    assert (
        http.get(f"{API}/insights", headers={"Authorization": f"Bearer {bogus}"}).status_code == 401
    )
    read = {"Authorization": f"Bearer {s.read_key}"}
    assert http.put(f"{API}/tiers/pro", headers=read, json={}).status_code in (403, 422)
    # a key in the query string (as a careless client would send it) reaches the access log
    http.get(f"{API}/insights", params={"api_key": s.admin_key})
    ws_url = s.server.base_url.replace("http", "ws") + f"{API}/ws?api_key={s.admin_key}"
    with connect(ws_url, open_timeout=10) as ws:
        ws.recv(timeout=10)


def _webhooks(http: httpx.Client) -> None:
    sub = {
        "user_id": "log_customer",
        "tier": "pro",
        "status": "active",
        "email": "c@example.com",
        "name": "Cliente",
    }
    body, headers = signed(sub)
    assert http.post(f"{API}/subscriptions", content=body, headers=headers).status_code == 200
    body, headers = signed(event(user_id="log_customer"))
    assert http.post(f"{API}/events", content=body, headers=headers).status_code == 200
    _, foreign = signed(event(user_id="log_customer"), secret=OTHER_SECRET)
    assert http.post(f"{API}/events", content=body, headers=foreign).status_code == 401
    tampered = {**headers, "webhook-signature": headers["webhook-signature"][:-4] + "AAA="}
    assert http.post(f"{API}/events", content=body, headers=tampered).status_code == 401


def _dashboard_login(http: httpx.Client, s: LiveSession) -> None:
    wrong = s.found.add("wrong password", "Wr0ng-" + secrets.token_urlsafe(12))
    http.post("/login", data={"email": s.email, "password": wrong})
    assert COOKIE_NAME not in http.cookies
    http.post("/login", data={"email": s.email, "password": s.password})
    cookie = http.cookies.get(COOKIE_NAME)
    assert cookie, "the dashboard login set no session cookie"
    s.found.add("session cookie", cookie)
    assert http.get(f"{API}/alerts").status_code == 200
    assert http.get("/").status_code == 200
    http.cookies.clear()


def _tokens(http: httpx.Client, s: LiveSession) -> None:
    """JWTs for users' scripts, when the app has the route (issue 7)."""
    paths = http.get("/openapi.json").json()["paths"]
    if f"{API}/auth/token" not in paths:
        return
    creds = {"email": s.email, "password": s.password}
    resp = http.post(f"{API}/auth/token", json=creds)
    assert resp.status_code == 200, resp.text
    pair = resp.json()
    access = s.found.add_jwt("access token", pair["access_token"])
    refresh = s.found.add_jwt("refresh token", pair["refresh_token"])
    auth = {"Authorization": f"Bearer {access}"}
    assert http.get(f"{API}/insights", headers=auth).status_code == 200
    assert http.post(f"{API}/auth/refresh", json={"refresh_token": refresh}).status_code == 200
    assert http.post(f"{API}/auth/refresh", json={"refresh_token": refresh}).status_code == 401
    forged = access.rsplit(".", 1)[0] + ".c2lnbmF0dXJl"
    assert (
        http.get(f"{API}/insights", headers={"Authorization": f"Bearer {forged}"}).status_code
        == 401
    )
    bad = {"email": s.email, "password": s.found.values["wrong password"]}
    assert http.post(f"{API}/auth/token", json=bad).status_code == 401


def _upsell_email(http: httpx.Client, s: LiveSession, box: Mailbox) -> None:
    bearer = {"Authorization": f"Bearer {s.admin_key}"}
    body = {"user_id": "log_customer", "recommended_tier": "elite", "reason": "heavy usage"}
    assert http.post(f"{API}/upsell-sequences", headers=bearer, json=body).status_code == 201
    deadline = time.monotonic() + 20
    while not box.messages and time.monotonic() < deadline:
        time.sleep(0.1)
    assert box.messages, "the upsell email never reached the SMTP server"
    assert box.logins, "the app sent mail without logging in"


def test_a_live_session_logs_no_secret(live: LiveSession, mailbox: tuple[Mailbox, int]) -> None:
    try:
        with httpx.Client(base_url=live.server.base_url, timeout=15) as http:
            _api_calls(http, live)
            _webhooks(http)
            _dashboard_login(http, live)
            _tokens(http, live)
            _upsell_email(http, live, mailbox[0])
    except AssertionError as exc:  # the server's traceback says why
        tail = live.server.output()[-8000:]
        raise AssertionError(f"{exc}\n--- server output (end) ---\n{tail}") from exc
    live.server.stop()
    output = live.server.output()
    assert "GET /agent-usage/insights" in output, "the access log was not captured"
    assert " 401" in output
    assert "log_customer" in output, "SQL parameters were not logged: the search proves little"
    assert live.found.found_in(output) == [], output[-4000:]
    for logs in live.cli_logs:
        assert live.found.found_in(logs) == []


# --- in process -------------------------------------------------------------------------


async def test_in_process_debug_logs_hold_no_secret(
    client: httpx.AsyncClient,
    make_key: MakeKey,
    sessions: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: every library's records too
    found = Secrets()
    webhook_secrets(found)
    key = found.add_key("admin key", await make_key("admin"))
    password = found.add("password", "Corr3ct-" + secrets.token_urlsafe(12))
    async with transaction(sessions) as session:
        await create_user(session, email="bea@ngx.mx", password=password, role="admin")
    found.add("wrong password", "Wr0ng-" + secrets.token_urlsafe(12))
    await _in_process_calls(client, key, found)
    text = caplog.text + "\n".join(_record_text(r) for r in caplog.records)
    assert caplog.records, "nothing was logged: the capture is not working"
    assert found.found_in(text) == []


def _record_text(record: logging.LogRecord) -> str:
    return " ".join([record.getMessage(), record.exc_text or "", str(record.__dict__)])


async def _in_process_calls(client: httpx.AsyncClient, key: str, found: Secrets) -> None:
    bearer = {"Authorization": f"Bearer {key}"}
    assert (await client.get(f"{API}/insights", headers=bearer)).status_code == 200
    bogus = found.add_key("unknown key", "ncrm_deadbeef_" + secrets.token_urlsafe(24))
    resp = await client.get(f"{API}/insights", headers={"Authorization": f"Bearer {bogus}"})
    assert resp.status_code == 401
    body, headers = signed(event())
    assert (await client.post(f"{API}/events", content=body, headers=headers)).status_code == 200
    bad = {**headers, "webhook-signature": "v1,AAAA"}
    assert (await client.post(f"{API}/events", content=body, headers=bad)).status_code == 401
    paths = (await client.get("/openapi.json")).json()["paths"]
    if f"{API}/auth/token" in paths:
        wrong = {"email": "bea@ngx.mx", "password": found.values["wrong password"]}
        assert (await client.post(f"{API}/auth/token", json=wrong)).status_code == 401
        right = {"email": "bea@ngx.mx", "password": found.values["password"]}
        resp = await client.post(f"{API}/auth/token", json=right)
        assert resp.status_code == 200, resp.text
        access = found.add_jwt("access token", resp.json()["access_token"])
        auth = {"Authorization": f"Bearer {access}"}
        assert (await client.get(f"{API}/insights", headers=auth)).status_code == 200


# --- the suite-wide search (tests/security/logcapture.py) ----------------------------------


def test_the_suite_wide_search_spots_credential_shapes() -> None:
    search = SecretSearch()
    lines = [
        "request from 127.0.0.1 answered 200",
        "key ncrm_0123abcd_" + secrets.token_urlsafe(24),
        "secret " + TEST_SECRET.removeprefix("whsec_"),
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbmEifQ." + secrets.token_urlsafe(32),
    ]
    for line in lines:  # records made directly: no record factory (redaction) in between
        search.handle(logging.LogRecord("probe", logging.INFO, __file__, 1, line, None, None))
    assert len(search.leaks) == 3
    assert all(leak.startswith("probe: ") for leak in search.leaks)
