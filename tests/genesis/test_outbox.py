"""The SQLite outbox: durable, capped, one owner, dead letters repairable."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from genesis_crm import OutboxFullError, OutboxLockedError
from genesis_crm.outbox import Outbox


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_items_are_due_in_order_and_deleted_after_delivery(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db")
    seqs = [ob.add("event", f'{{"n": {i}}}') for i in range(5)]
    ob.add("subscription", "{}")
    assert ob.pending == 6
    assert [i.seq for i in ob.due("event", 3)] == seqs[:3]
    ob.delete(seqs[:3])
    assert ob.pending == 3
    assert [i.payload for i in ob.due("event", 10)] == ['{"n": 3}', '{"n": 4}']
    ob.close()


def test_items_survive_reopening(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db")
    ob.add("event", "{}")
    ob.close()
    again = Outbox(tmp_path / "o.db")
    assert again.pending == 1
    again.close()


def test_rescheduled_items_wait_their_turn(tmp_path: Path) -> None:
    clock = Clock()
    ob = Outbox(tmp_path / "o.db", clock=clock)
    seq = ob.add("event", "{}")
    ob.reschedule([seq], 30, "HTTP 503")
    assert ob.due("event", 10) == []
    assert ob.next_due_in() == 30
    clock.now += 31
    [item] = ob.due("event", 10)
    assert item.attempts == 1
    assert ob.status()["last_error"] == "HTTP 503"
    ob.close()


def test_server_errors_are_counted_apart_from_other_failures(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db")
    seq = ob.add("event", "{}")
    ob.reschedule([seq], 0, "HTTP 500", True)
    ob.reschedule([seq], 0, "no answer from NexusCRM")
    [item] = ob.due("event", 10)
    assert (item.attempts, item.server_errors) == (2, 1)
    ob.close()


def test_an_outbox_of_an_older_version_opens_with_its_items(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.executescript(
            "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, "
            "payload TEXT NOT NULL, created_at REAL NOT NULL, attempts INTEGER NOT NULL "
            "DEFAULT 0, next_attempt_at REAL NOT NULL DEFAULT 0, last_error TEXT);"
            "INSERT INTO outbox (kind, payload, created_at, attempts) VALUES ('event', '{}', 1, 4);"
        )
    ob = Outbox(path)
    [item] = ob.due("event", 10)
    assert (item.payload, item.attempts, item.server_errors) == ("{}", 4, 0)
    ob.close()


def test_cap_raises_and_stores_nothing(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db", max_items=3)
    for _ in range(3):
        ob.add("event", "{}")
    with pytest.raises(OutboxFullError, match="max_outbox_events=3"):
        ob.add("event", "{}")
    assert ob.pending == 3
    assert ob.status()["pending"] == 3
    ob.close()


def test_dead_letters_keep_the_error_and_can_be_retried_or_purged(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db")
    a, b, c = (ob.add("event", f'{{"n": {i}}}') for i in range(3))
    ob.bury({a: "tokens_used: negative", c: "unknown tier"})
    assert (ob.pending, ob.status()["dead"]) == (1, 2)
    assert {(s, e) for s, _, e, _ in ob.dead_letters()} == {
        (a, "tokens_used: negative"),
        (c, "unknown tier"),
    }
    assert ob.retry_dead() == 2
    assert (ob.pending, ob.status()["dead"]) == (3, 0)
    assert [i.seq for i in ob.due("event", 10)] == [a, b, c]
    ob.bury({b: "x"})
    assert ob.purge_dead() == 1
    assert ob.status()["dead"] == 0
    ob.close()


def test_one_process_owns_an_outbox(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    ob = Outbox(path)
    with pytest.raises(OutboxLockedError):
        Outbox(path)
    code = f"from genesis_crm.outbox import Outbox; Outbox({str(path)!r})"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert other.returncode != 0
    assert "OutboxLockedError" in other.stderr
    ob.close()
    Outbox(path).close()  # released on close


def test_group_commit_stores_up_to_the_cap_and_refuses_the_rest(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db", max_items=4)
    ob.add("event", "{}")
    results = ob.add_many([("event", f'{{"n": {i}}}') for i in range(5)])
    stored = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, OutboxFullError)]
    assert (len(stored), len(refused)) == (3, 2)
    assert results[:3] == stored  # the first ones in, in order
    assert ob.pending == 4
    ob.close()
