"""10M-event bulk import: wall time and events/s, next to a raw COPY of the same rows.

Generates the GENESIS history of bench/_history.py (import_events.py's customers and events,
ending now, one customer per 300 events), imports it through the real CLI
(``nexus-crm import events FILE``, default batch of 10,000 events per transaction) into a
new database, checks the totals, and measures the baseline in the same run: the same rows
(parsed from the same file) COPYed into a bare table with no index (PostgreSQL, asyncpg
``copy_records_to_table``) or ``executemany``-inserted in one transaction (SQLite).

The databases are named ``bench_events_<size>`` (``bench_events_1m``, ``bench_events_10m``;
SQLite: ``bench/results/db/bench_events_<size>.db``) and are kept, marked complete (a
``bench_marker`` table: event count, the history's end), for bench/queries.py, which reuses
a complete one whose history ended less than a day ago instead of building it again (10M
takes about a quarter of an hour). ``--no-keep`` (and ``--quick``) uses
``bench_events_<size>_<pid>`` and drops it at the end.

    .venv/bin/python bench/import10m.py                        # 1M then 10M, PostgreSQL
    .venv/bin/python bench/import10m.py --sizes 1000000 --databases postgresql,sqlite
    .venv/bin/python bench/import10m.py --time-limit 900       # stop an import after 15 min
    .venv/bin/python bench/import10m.py --quick --json bench/results/import10m.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from _common import PG_SERVER, RESULTS, figure, write_json
from _history import Window, generate
from import_events import CLI, migrate, totals

DB_DIR = RESULTS / "db"
TARGET_SECONDS_10M = 120.0
COPY_COLUMNS = (
    "event_id",
    "user_id",
    "agent_id",
    "session_id",
    "tokens_used",
    "response_time_ms",
    "subscription_tier",
    "occurred_at",
    "metadata",
)
BARE_TABLE = """CREATE TABLE bare_events (event_id text, user_id text, agent_id text,
    session_id text, tokens_used integer, response_time_ms integer, subscription_tier text,
    occurred_at timestamptz, metadata {json})"""


def label(events: int) -> str:
    """10000000 -> '10m', 1000000 -> '1m', 2000 -> '2k'."""
    for unit, size in (("m", 1_000_000), ("k", 1_000)):
        if events >= size and events % size == 0:
            return f"{events // size}{unit}"
    return str(events)


def database_url(kind: str, name: str) -> str:
    """The URL of database ``name`` on the bench PostgreSQL server, or its SQLite file."""
    if kind == "postgresql":
        return PG_SERVER.rsplit("/", 1)[0] + f"/{name}"
    return f"sqlite:///{DB_DIR / (name + '.db')}"


async def _admin(statement: str) -> None:
    await _execute(PG_SERVER, statement)


def recreate(kind: str, name: str) -> str:
    """An empty database called ``name`` (an existing one is dropped first); its URL."""
    drop(kind, name)
    if kind == "postgresql":
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    else:
        DB_DIR.mkdir(parents=True, exist_ok=True)
    return database_url(kind, name)


def drop(kind: str, name: str) -> None:
    """Drop database ``name`` (PostgreSQL) or delete its file (SQLite), if it exists."""
    if kind == "postgresql":
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DB_DIR / name}.db{suffix}").unlink(missing_ok=True)


def run_import(path: Path, url: str, time_limit: float | None, log: Path) -> dict[str, Any]:
    """``nexus-crm import events FILE --json`` with a time limit; wall time and summary."""
    env = {**os.environ, "DATABASE_URL": url}
    started = time.perf_counter()
    with log.open("w") as err:
        proc = subprocess.Popen(
            [CLI, "import", "events", str(path), "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        try:
            out, _ = proc.communicate(timeout=time_limit)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.communicate(timeout=30)
            return {"wall_seconds": time.perf_counter() - started, "timed_out": True}
    wall = time.perf_counter() - started
    summary = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    return {"wall_seconds": wall, "timed_out": False, "exit": proc.returncode, **summary}


def vacuum_analyze(url: str) -> float:
    """VACUUM ANALYZE (PostgreSQL) or ANALYZE (SQLite), as autovacuum would: the read path
    is then measured with statistics and a visibility map, not while autovacuum runs."""
    started = time.perf_counter()
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute("ANALYZE")
    else:
        asyncio.run(_execute(url, "VACUUM (ANALYZE)"))
    return round(time.perf_counter() - started, 1)


async def _execute(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def committed_events(url: str) -> int:
    """Events stored so far (after a stopped import)."""
    return totals(url)["events"]


def write_marker(url: str, info: dict[str, Any]) -> None:
    """Mark the database complete for bench/queries.py: a one-row ``bench_marker`` table."""
    row = json.dumps(info)
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS bench_marker (info TEXT)")
            conn.execute("DELETE FROM bench_marker")
            conn.execute("INSERT INTO bench_marker VALUES (?)", (row,))
        return

    async def _write() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("CREATE TABLE IF NOT EXISTS bench_marker (info TEXT)")
            await conn.execute("DELETE FROM bench_marker")
            await conn.execute("INSERT INTO bench_marker VALUES ($1)", row)
        finally:
            await conn.close()

    asyncio.run(_write())


def read_marker(url: str) -> dict[str, Any] | None:
    """The marker of a complete bench database, or None (missing, incomplete, unreachable)."""
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if not Path(path).exists():
            return None
        try:
            with sqlite3.connect(path) as conn:
                found = conn.execute("SELECT info FROM bench_marker").fetchone()
        except sqlite3.Error:
            return None
        return json.loads(found[0]) if found else None

    async def _read() -> str | None:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval("SELECT info FROM bench_marker")
        finally:
            await conn.close()

    try:
        found = asyncio.run(_read())
    except (OSError, asyncpg.PostgresError):
        return None
    return json.loads(found) if found else None


def parsed_rows(path: Path) -> Any:
    """The file's events as typed rows (what a COPY of the same rows sends)."""
    with path.open("rb") as f:
        for line in f:
            e = orjson.loads(line)
            at = datetime.fromisoformat(e["timestamp"])
            yield (
                e["event_id"],
                e["user_id"],
                e["agent_id"],
                e["session_id"],
                e["tokens_used"],
                e["response_time_ms"],
                e["subscription_tier"],
                at,
                orjson.dumps(e["metadata"]).decode(),
            )


def copy_baseline(kind: str, path: Path) -> float:
    """Seconds to load the file's rows into a bare table: COPY (PostgreSQL) or executemany."""
    name = f"bench_copy_{os.getpid()}"
    url = recreate(kind, name)
    try:
        if kind == "sqlite":
            return _sqlite_bare(url.removeprefix("sqlite:///"), path)
        return asyncio.run(_pg_copy(url, path))
    finally:
        drop(kind, name)


async def _pg_copy(url: str, path: Path) -> float:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(BARE_TABLE.format(json="jsonb"))
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "bare_events", records=parsed_rows(path), columns=COPY_COLUMNS
        )
        return time.perf_counter() - started
    finally:
        await conn.close()


def _sqlite_bare(file: str, path: Path) -> float:
    with sqlite3.connect(file) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(BARE_TABLE.format(json="text"))
        started = time.perf_counter()
        conn.executemany(
            "INSERT INTO bare_events VALUES (?,?,?,?,?,?,?,?,?)",
            ((*r[:7], r[7].isoformat(), r[8]) for r in parsed_rows(path)),
        )
        conn.commit()
        return time.perf_counter() - started


def build(
    kind: str,
    path: Path,
    name: str,
    window: Window,
    time_limit: float | None,
) -> dict[str, Any]:
    """Import ``path`` into a new database ``name``; check it; mark it complete."""
    url = recreate(kind, name)
    migrate(url)
    log = Path(tempfile.gettempdir()) / f"{name}_import.log"
    result = run_import(path, url, time_limit, log)
    events = window.total
    result["database_url"] = url
    if result["timed_out"]:
        result["committed"] = committed_events(url)
        return result
    after = totals(url)
    result["totals"] = after
    result["vacuum_analyze_seconds"] = vacuum_analyze(url)
    result["complete"] = (
        result.get("exit") == 0 and after["events"] == events and after["interactions"] == events
    )
    if result["complete"]:
        write_marker(
            url,
            {
                "events": events,
                "seed": window.seed,
                "end": window.end.isoformat(),
                "import_seconds": round(result["wall_seconds"], 1),
                "vacuum_analyze_seconds": result["vacuum_analyze_seconds"],
                "built": datetime.now(UTC).isoformat(timespec="seconds"),
            },
        )
    return result


def history(events: int, tmp: Path, end: datetime) -> tuple[Path, Window, float]:
    """Generate the history file; return it, its window and the seconds it took."""
    window = Window(events, end)
    path = tmp / f"genesis_{label(events)}.jsonl"
    started = time.perf_counter()
    generate(path, window)
    seconds = time.perf_counter() - started
    print(
        f"generated {events:,} events ({path.stat().st_size / 1e6:,.0f} MB) in {seconds:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    return path, window, seconds


def measure(kind: str, path: Path, window: Window, args: argparse.Namespace) -> dict[str, Any]:
    """Build (import) and the bare-table baseline of one size on one database."""
    events = window.total
    name = kept_name(events) + ("" if args.keep else f"_{os.getpid()}")
    print(f"{kind}: importing {events:,} events into {name}", file=sys.stderr, flush=True)
    built = build(kind, path, name, window, args.time_limit)
    print(f"{kind}: import took {built['wall_seconds']:.1f} s", file=sys.stderr, flush=True)
    baseline = copy_baseline(kind, path)
    print(f"{kind}: bare-table baseline took {baseline:.1f} s", file=sys.stderr, flush=True)
    if not args.keep:
        drop(kind, name)
    return {
        "database": kind,
        "events": events,
        "name": name,
        "import": built,
        "baseline_seconds": baseline,
    }


def rate_of(m: dict[str, Any]) -> float:
    """Events/s of a run (committed events over wall time for a stopped one)."""
    imp = m["import"]
    return (imp["committed"] if imp["timed_out"] else m["events"]) / imp["wall_seconds"]


def import_figures(
    m: dict[str, Any],
    generated: float,
    first: dict[str, Any],
) -> list[dict[str, Any]]:
    """Events/s and wall time of one import, each next to its bare-table baseline."""
    events, imp, base = m["events"], m["import"], m["baseline_seconds"]
    done = imp["committed"] if imp["timed_out"] else events
    wall, rate, base_rate = imp["wall_seconds"], rate_of(m), events / base
    projected = events / rate
    how = "COPY into a bare table" if m["database"] == "postgresql" else "executemany, bare table"
    target = None
    if events >= 10_000_000:
        target = ("10M-event import ≤ 2 minutes", projected <= TARGET_SECONDS_10M)
    stopped = f"STOPPED at the time limit after {done:,} events; " if imp["timed_out"] else ""
    notes = (
        f"{stopped}history generated in {generated:.0f} s (not counted); the baseline "
        "parses the same file (orjson) and loads the same rows, no index; 1 run; wall "
        "time of the CLI process (startup included)"
    )
    if "seconds" in imp:
        notes += f" ({imp['seconds']:.1f} s as the CLI reports it)"
    if first["events"] != events:
        growth = rate / rate_of(first)
        notes += f"; {first['events']:,}→{events:,} events: rate x{growth:.2f}"
    name = f"import {events:,} events"
    runs_rate = [rate]
    figs = [
        figure(
            "import",
            name,
            m["database"],
            runs_rate,
            "events/s",
            baseline=(how, base_rate, "rows/s"),
            ratio=rate / base_rate,
            target=target,
            notes=notes + "; ratio = import / baseline rate",
        )
    ]
    wall_name = f"{name}: wall time" + (" (projected from the rate)" if imp["timed_out"] else "")
    seconds = projected if imp["timed_out"] else wall
    figs.append(
        figure(
            "import",
            wall_name,
            m["database"],
            [seconds],
            "s",
            baseline=(how, base, "s"),
            ratio=base / projected,
            target=target,
            notes="ratio = baseline / import time",
        )
    )
    return figs


def kept_name(events: int) -> str:
    """The known name of the kept database of ``events`` events."""
    return f"bench_events_{label(events)}"


def fresh(marker: dict[str, Any]) -> bool:
    """Whether a kept history ended less than a day ago (the read windows end today)."""
    end = datetime.fromisoformat(marker["end"])
    return datetime.now(UTC) - end < timedelta(days=1)


def ensure_database(kind: str, events: int) -> tuple[str, dict[str, Any]]:
    """A complete kept database of ``events`` events (built now if missing); URL and marker."""
    url = database_url(kind, kept_name(events))
    marker = read_marker(url)
    complete = marker and marker.get("events") == events and fresh(marker)
    if complete and committed_events(url) == events:
        return url, marker
    print(f"{kind}: building {kept_name(events)} ({events:,} events)", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="nexus-import10m-") as tmp:
        path, window, _ = history(events, Path(tmp), datetime.now(UTC))
        built = build(kind, path, kept_name(events), window, None)
    if not built.get("complete"):
        raise SystemExit(f"could not build {kept_name(events)}: {built}")
    return url, read_marker(url) or {}


def parse_args() -> argparse.Namespace:
    """Command line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000000,10000000", help="events, comma-separated")
    ap.add_argument("--databases", default="postgresql", help="postgresql and/or sqlite")
    ap.add_argument(
        "--no-keep",
        dest="keep",
        action="store_false",
        help="drop the databases at the end (default: keep bench_events_<size>, marked "
        "complete, for bench/queries.py; --quick never keeps)",
    )
    ap.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="stop an import after this many seconds and project from its rate",
    )
    ap.add_argument("--quick", action="store_true", help="2,000 events: a smoke check")
    ap.add_argument("--json", default=None, help="write the figures here")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.keep = "2000", False
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.databases = args.databases.split(",")
    return args


def all_figures(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The figures of every run; each size next to the smallest of its database (growth)."""
    figures = []
    for m in runs:
        same = [r for r in runs if r["database"] == m["database"]]
        figures += import_figures(m, m["generate_seconds"], min(same, key=lambda r: r["events"]))
    return figures


def main() -> None:
    """Generate each size, import it into each database, baseline, report."""
    args = parse_args()
    end = datetime.now(UTC)
    runs: list[dict[str, Any]] = []
    inputs = {
        "sizes": args.sizes,
        "databases": args.databases,
        "keep": args.keep,
        "time_limit": args.time_limit,
        "history_end": end.isoformat(),
    }
    with tempfile.TemporaryDirectory(prefix="nexus-import10m-") as tmp:
        for events in args.sizes:
            path, window, generated = history(events, Path(tmp), end)
            for kind in args.databases:
                runs.append({**measure(kind, path, window, args), "generate_seconds": generated})
                print(json.dumps(all_figures(runs)[-2:], default=str), flush=True)
                write_json(args.json, all_figures(runs), inputs, extra={"imports": runs})
            path.unlink()
    failed = [
        r["name"] for r in runs if not r["import"]["timed_out"] and not r["import"].get("complete")
    ]
    if failed:
        raise SystemExit(f"incomplete import: {', '.join(failed)}")


if __name__ == "__main__":
    main()
