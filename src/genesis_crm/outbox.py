"""The durable outbox: a SQLite file (WAL) where every event waits until NexusCRM has it.

An item is committed here before ``track_*`` returns and deleted only after a 2xx. Items the
server refuses go to ``dead_letter`` with its error, for inspection and ``retry-dead``. One
process owns an outbox at a time (an exclusive lock on ``<path>.lock``).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genesis_crm.errors import OutboxFullError, OutboxLockedError

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,               -- 'event' | 'subscription'
    payload TEXT NOT NULL,            -- the JSON object to send
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    server_errors INTEGER NOT NULL DEFAULT 0  -- 500-type answers (policy.is_server_fault)
);
CREATE INDEX IF NOT EXISTS ix_outbox_due ON outbox (kind, next_attempt_at, seq);
CREATE TABLE IF NOT EXISTS dead_letter (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL,
    failed_at REAL NOT NULL,
    error TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Item:
    """An outbox row."""

    seq: int
    kind: str
    payload: str
    attempts: int
    server_errors: int = 0


class Outbox:
    """A SQLite outbox file; not thread-safe: use it from one thread at a time."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_items: int = 1_000_000,
        durable: bool = True,
        clock: Any = time.time,
    ) -> None:
        self.path = Path(path)
        self.max_items = max_items
        self._clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = _acquire_lock(self.path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a returned track_* call survives a power cut, not only a process crash.
        self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(SCHEMA)
        _migrate(self._db)
        self._pending = self._scalar("SELECT count(*) FROM outbox")

    def _scalar(self, sql: str, args: Sequence[Any] = ()) -> int:
        return int(self._db.execute(sql, args).fetchone()[0] or 0)

    @property
    def pending(self) -> int:
        """Items waiting for delivery (dead letters excluded)."""
        return self._pending

    def _full(self) -> OutboxFullError:
        return OutboxFullError(
            f"outbox {self.path} holds {self._pending} undelivered items (max_outbox_events="
            f"{self.max_items}); NexusCRM has been unreachable for long — the item was not "
            "stored. Check CRM_BASE_URL and the CRM's health, or raise the cap."
        )

    def add(self, kind: str, payload: str) -> int:
        """Commit one item; raise OutboxFullError (storing nothing) at the size cap."""
        result = self.add_many([(kind, payload)])[0]
        if isinstance(result, OutboxFullError):
            raise result
        return result

    def add_many(self, items: Sequence[tuple[str, str]]) -> list[int | OutboxFullError]:
        """Commit items in one transaction (one fsync); those over the cap get an error."""
        results: list[int | OutboxFullError] = []
        now = self._clock()
        with self._transaction():
            for kind, payload in items:
                if self._pending >= self.max_items:
                    results.append(self._full())
                    continue
                cur = self._db.execute(
                    "INSERT INTO outbox (kind, payload, created_at) VALUES (?, ?, ?)",
                    (kind, payload, now),
                )
                self._pending += 1
                results.append(int(cur.lastrowid or 0))
        return results

    def due(self, kind: str, limit: int) -> list[Item]:
        """The oldest items of ``kind`` whose next attempt is due."""
        rows = self._db.execute(
            "SELECT seq, kind, payload, attempts, server_errors FROM outbox WHERE kind = ? AND "
            "next_attempt_at <= ? ORDER BY seq LIMIT ?",
            (kind, self._clock(), limit),
        ).fetchall()
        return [Item(*r) for r in rows]

    def next_due_in(self) -> float | None:
        """Seconds until the next item is due (0 if now), None when empty."""
        row = self._db.execute("SELECT min(next_attempt_at) FROM outbox").fetchone()
        return None if row[0] is None else max(0.0, row[0] - self._clock())

    def delete(self, seqs: Iterable[int]) -> None:
        """Forget delivered items."""
        # One transaction: in autocommit mode each row would be its own commit (and fsync).
        with self._transaction():
            cur = self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])
        self._pending -= cur.rowcount

    def reschedule(
        self, seqs: Iterable[int], delay: float, error: str, server_error: bool = False
    ) -> None:
        """Count a failed attempt (and a server error if it was one); set when to retry."""
        when = self._clock() + delay
        with self._transaction():
            self._db.executemany(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, "
                "last_error = ?, server_errors = server_errors + ? WHERE seq = ?",
                [(when, error, int(server_error), s) for s in seqs],
            )

    def bury(self, errors: dict[int, str]) -> None:
        """Move refused items (seq → server's error) to the dead-letter table."""
        now = self._clock()
        with self._transaction():
            for seq, error in errors.items():
                self._db.execute(
                    "INSERT INTO dead_letter (seq, kind, payload, created_at, attempts, "
                    "failed_at, error) SELECT seq, kind, payload, created_at, attempts + 1, ?, ? "
                    "FROM outbox WHERE seq = ?",
                    (now, error, seq),
                )
                self._pending -= self._db.execute(
                    "DELETE FROM outbox WHERE seq = ?", (seq,)
                ).rowcount

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def status(self) -> dict[str, Any]:
        """Counts and ages for operators."""
        row = self._db.execute(
            "SELECT count(*), min(created_at), max(attempts), "
            "(SELECT last_error FROM outbox WHERE last_error IS NOT NULL ORDER BY seq DESC "
            "LIMIT 1) FROM outbox"
        ).fetchone()
        dead = self._scalar("SELECT count(*) FROM dead_letter")
        return {
            "path": str(self.path),
            "pending": row[0],
            "oldest_created_at": row[1],
            "max_attempts": row[2] or 0,
            "last_error": row[3],
            "dead": dead,
        }

    def dead_letters(self, limit: int = 20) -> list[tuple[int, str, str, str]]:
        """The newest dead letters: (seq, kind, error, payload)."""
        return self._db.execute(
            "SELECT seq, kind, error, payload FROM dead_letter ORDER BY seq DESC LIMIT ?",
            (limit,),
        ).fetchall()

    def retry_dead(self) -> int:
        """Put every dead letter back in the outbox, due now; return how many."""
        with self._transaction():
            n = self._db.execute(
                "INSERT INTO outbox (seq, kind, payload, created_at) "
                "SELECT seq, kind, payload, created_at FROM dead_letter"
            ).rowcount
            self._db.execute("DELETE FROM dead_letter")
        self._pending = self._scalar("SELECT count(*) FROM outbox")
        return n

    def purge_dead(self) -> int:
        """Delete every dead letter; return how many."""
        return self._db.execute("DELETE FROM dead_letter").rowcount

    def close(self) -> None:
        """Close the database and release the process lock."""
        self._db.close()
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        os.close(self._lock)


def _migrate(db: sqlite3.Connection) -> None:
    """Bring an outbox written by an older version up to SCHEMA (items are kept)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(outbox)")}
    if "server_errors" not in columns:
        db.execute("ALTER TABLE outbox ADD COLUMN server_errors INTEGER NOT NULL DEFAULT 0")


def _acquire_lock(path: Path) -> int:
    """An exclusive lock on ``<path>.lock``, held (as a file descriptor) until close()."""
    fd = os.open(f"{path}.lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise OutboxLockedError(
            f"outbox {path} is in use by another process; give each process its own "
            "outbox_path (e.g. add the worker id)"
        ) from None
    return fd
