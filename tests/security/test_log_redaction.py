"""Credentials are masked in every log record the process creates (record factory)."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI

from nexus_crm.security.logredact import MASK, redact
from tests.conftest import MakeKey
from tests.support import TEST_SECRET


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ('1.2.3.4:5 - "WebSocket /agent-usage/ws?api_key=ncrm_ab12cd34_x-y_z" 101', "ncrm_ab12"),
        ("GET /x?limit=1&token=aaa.bbb.ccc HTTP/1.1", "aaa.bbb.ccc"),
        ("Authorization: Bearer eyJhbGciOi.eyJzdWIi.c2ln rejected", "eyJhbGciOi"),
        (f"secret {TEST_SECRET} in a message", TEST_SECRET),
        ("refresh failed for eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "c2lnbmF0"),
    ],
)
def test_redact_masks_credentials(line: str, secret: str) -> None:
    out = redact(line)
    assert secret not in out
    assert MASK in out


def test_redact_keeps_ordinary_text() -> None:
    line = 'GET /agent-usage/insights?days=7&user_id=cliente_123 HTTP/1.1" 200'
    assert redact(line) == line


async def test_a_websocket_key_in_the_url_never_reaches_the_log(
    app: FastAPI, make_key: MakeKey, caplog: pytest.LogCaptureFixture
) -> None:
    key = await make_key("read")
    # A logger of our own shaped like uvicorn's access log: uvicorn's logging config (applied
    # by any in-process server earlier in the suite) may stop "uvicorn.access" propagating.
    access = logging.getLogger("nexus_crm.tests.access")
    access.addHandler(caplog.handler)
    try:
        await _log_and_call(app, access, key, caplog)
    finally:
        access.removeHandler(caplog.handler)
    assert caplog.records
    assert key not in caplog.text
    assert "api_key=***" in caplog.text


async def _log_and_call(
    app: FastAPI, access: logging.Logger, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO), caplog.at_level(logging.INFO, logger=access.name):
        # what uvicorn's access logger emits for a WebSocket opened with ?api_key=
        access.info('%s - "%s %s" %d', "127.0.0.1:1", "GET", f"/agent-usage/ws?api_key={key}", 101)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            resp = await client.get("/agent-usage/insights", headers={"Authorization": "Bearer x"})
            assert resp.status_code == 401
