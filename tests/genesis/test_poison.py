"""One poisoned event must not hold its batch hostage; an outage must not dead-letter anything.

A real NexusCRM process (SQLite and PostgreSQL) behind ``poisonproxy.py``, which answers 500
for every batch holding ``NaN`` — what an unfixed server does on PostgreSQL. The poisoned
event is written into the outbox directly, as an old client version (without the call-time
check) did. Counts are read from the database and from the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from genesis_crm import GenesisCRM
from genesis_crm.events import build_event
from genesis_crm.outbox import Outbox
from tests.genesis.producer import event_fields
from tests.genesis.test_faults import stored
from tests.processes import free_port, running_server, terminate
from tests.support import TEST_SECRET

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
POISON_AT = 137


@contextlib.contextmanager
def poison_proxy(upstream: str, out: Path) -> Iterator[str]:
    """``poisonproxy.py`` in front of ``upstream``; yields its base URL once it answers."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "tests.genesis.poisonproxy",
        "--listen-port",
        str(port),
        "--upstream",
        upstream,
    ]
    url = f"http://127.0.0.1:{port}"
    with out.open("ab") as sink:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 15
        while not _answers(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the poison proxy did not start:\n{out.read_text()}")
            time.sleep(0.05)
        yield url
    finally:
        terminate(proc, timeout=5)


def _answers(url: str) -> bool:
    with contextlib.suppress(httpx.TransportError):
        return httpx.get(f"{url}/__counts", timeout=2).status_code == 200
    return False


def counts(url: str) -> dict[str, int]:
    """The proxy's counts."""
    return dict(httpx.get(f"{url}/__counts", timeout=5).json())


def inject(path: Path, n: int, poison_at: int | None) -> tuple[list[str], str | None]:
    """Write ``n`` events straight into the outbox; the one at ``poison_at`` holds NaN."""
    now = datetime.now(UTC)
    good: list[str] = []
    bad: str | None = None
    payloads: list[tuple[str, str]] = []
    for i in range(n):
        ev = build_event(**event_fields(i), timestamp=None, metadata={"i": i}, now=now)
        if i == poison_at:
            ev["metadata"] = {"score": float("nan")}  # what an old client let through
            bad = ev["event_id"]
        else:
            good.append(ev["event_id"])
        payloads.append(("event", json.dumps(ev)))  # json.dumps writes NaN: no check here
    outbox = Outbox(path)
    outbox.add_many(payloads)
    outbox.close()
    return good, bad


def client(url: str, path: Path) -> GenesisCRM:
    """A client on ``path`` with fast retries (the defaults wait up to a minute)."""
    return GenesisCRM(
        base_url=url,
        secret=TEST_SECRET,
        outbox_path=path,
        flush_interval=0.05,
        backoff_base=0.01,
        backoff_cap=0.1,
    )


def dead_letters(path: Path) -> list[tuple[str, str]]:
    """(error, payload) of each dead letter, read beside the owning client (WAL)."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT error, payload FROM dead_letter").fetchall()


async def test_one_poisoned_event_is_dead_lettered_and_its_499_batchmates_delivered(
    db_url: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = tmp_path / "outbox.db"
    good, bad = inject(path, 500, POISON_AT)
    with (
        running_server(db_url) as server,
        poison_proxy(server.base_url, tmp_path / "proxy.out") as url,
    ):
        crm = client(url, path)
        pending = await crm.flush(timeout=60)
        await crm.aclose(timeout=0)
        seen = counts(url)
        db = await stored(sessions)

    assert pending == 0, seen
    assert db.count == db.distinct == 499
    assert db.rows.keys() == set(good)
    [(error, payload)] = dead_letters(path)
    assert json.loads(payload)["event_id"] == bad
    assert "HTTP 500" in error
    assert seen["poisoned"] >= 3, seen  # it was retried before being isolated
    assert (seen["accepted"], seen["duplicates"]) == (499, 0), seen


async def wait_for(url: str, key: str, n: int) -> None:
    """Wait (up to a minute) until the proxy has counted ``n`` of ``key``."""
    deadline = time.monotonic() + 60
    while counts(url)[key] < n:
        assert time.monotonic() < deadline, counts(url)
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("outage", "answers"),
    [({"status": 500, "retry_after": None}, 40), ({"status": 503, "retry_after": 1}, 4)],
    ids=["every-request-500", "503-retry-after"],
)
async def test_an_outage_dead_letters_nothing_and_loses_nothing(
    db_url: str,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    outage: dict[str, Any],
    answers: int,
) -> None:
    path = tmp_path / "outbox.db"
    good, _ = inject(path, 120, None)
    with (
        running_server(db_url) as server,
        poison_proxy(server.base_url, tmp_path / "proxy.out") as url,
    ):
        httpx.post(f"{url}/__outage", json=outage, timeout=5)
        crm = client(url, path)
        await crm.start()
        await wait_for(url, "outage", answers)
        assert dead_letters(path) == []
        httpx.post(f"{url}/__outage", json={"status": None, "retry_after": None}, timeout=5)
        pending = await crm.flush(timeout=60)
        await crm.aclose(timeout=0)
        seen = counts(url)
        db = await stored(sessions)

    assert pending == 0, seen
    assert dead_letters(path) == []
    assert db.rows.keys() == set(good)
    assert (seen["accepted"], seen["duplicates"]) == (120, 0), seen
