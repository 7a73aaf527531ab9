"""Database and unexpected errors on GET /agent-usage/ws: a close code, a log line, no crash."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import ProgrammingError
from tests.conftest import MakeKey
from tests.processes import free_port
from tests.realtime.conftest import StartLive
from tests.realtime.test_ws import closed_with

from nexus_crm.api import realtime as realtime_router
from nexus_crm.db import create_engine, create_sessionmaker
from nexus_crm.settings import Settings

TRY_AGAIN_LATER, INTERNAL_ERROR = 1013, 1011


@pytest.fixture
def server_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Records of the app and of uvicorn ("Exception in ASGI application" does not propagate)."""
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING):
            yield caplog
    finally:
        uvicorn_log.removeHandler(caplog.handler)


def unreachable(settings: Settings, tmp_path: Path) -> Settings:
    """A database of the same kind that cannot be opened (a directory; a closed port)."""
    if settings.is_sqlite:
        return Settings(DATABASE_URL=f"sqlite:///{tmp_path}")
    return Settings(DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/none")


def assert_no_crash(logs: pytest.LogCaptureFixture) -> None:
    """The handler did not fail itself (it read ``request.method`` of a WebSocket)."""
    assert "Exception in ASGI application" not in logs.text
    assert "AttributeError" not in logs.text


async def test_unreachable_database_at_handshake_closes_with_try_again_later(
    start_live: StartLive,
    settings: Settings,
    tmp_path: Path,
    server_logs: pytest.LogCaptureFixture,
) -> None:
    live = await start_live()
    engine = create_engine(unreachable(settings, tmp_path))
    live.app.state.sessions = create_sessionmaker(engine)  # the key lookup now fails
    try:
        async with live.ws("ncrm_00000000_unknown") as ws:
            code, reason = await closed_with(ws)
    finally:
        await engine.dispose()
    assert (code, reason) == (TRY_AGAIN_LATER, "database busy or unreachable; retry")
    warnings = [m for m in server_logs.messages if m.startswith("database unavailable on")]
    assert len(warnings) == 1
    assert warnings[0].startswith("database unavailable on WEBSOCKET /agent-usage/ws: ")
    assert_no_crash(server_logs)


async def test_unexpected_database_error_on_an_open_stream_closes_with_internal_error(
    start_live: StartLive,
    make_key: MakeKey,
    monkeypatch: pytest.MonkeyPatch,
    server_logs: pytest.LogCaptureFixture,
) -> None:
    async def failing_stream(*args: object) -> None:
        raise ProgrammingError("SELECT 1", None, Exception("a bug, not an outage"))

    live = await start_live()
    monkeypatch.setattr(realtime_router, "serve_connection", failing_stream)
    async with live.ws(await make_key("read")) as ws:  # accepted, then the stream fails
        code, reason = await closed_with(ws)
    assert (code, reason) == (INTERNAL_ERROR, "unexpected server error")
    [record] = [r for r in server_logs.records if r.name == "nexus_crm.errors"]
    assert record.getMessage() == "unhandled error on WEBSOCKET /agent-usage/ws"
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ProgrammingError)
    assert_no_crash(server_logs)
