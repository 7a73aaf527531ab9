"""Ingest over HTTP: signed batches, single signed events, and duplicate replays.

Each run makes a fresh database (a SQLite file; a new PostgreSQL database), migrates it and
starts a real ``nexus-crm serve`` (one worker, rate limits and background workers off).

(a) batch: a realistic GENESIS history (bench/import_events.py's generator) in signed
    batches posted by a few concurrent connections to ``POST /agent-usage/events``; each
    answer comes after its commit (dedupe on event_id, daily/hourly aggregates, customers,
    tier tracking, usage-limit alerts). events/s = events counted in the database at the end
    / wall time. Baseline, same run and database server: the same rows, already converted,
    written by one connection in the same batches (one transaction each) into a bare table of
    the same columns with only a primary key: COPY (asyncpg ``copy_records_to_table``) on
    PostgreSQL, ``executemany`` on SQLite (same pragmas as the app: WAL, synchronous=FULL).
(c) replay: the same batches again (new signatures): events/s of pure duplicates.
(b) single: one event per request; req/s at saturation (closed loop, C connections) and
    p50/p99 at a fixed 1,000 req/s (open loop: latency from each request's due time).
    Baseline: bench/bare_app.py (parses the body, nothing else) under the same uvicorn
    settings. The generator (bench/_loadgen.py) shares the 2 cores: its CPU share is noted.

    .venv/bin/python bench/ingest.py [--quick] [--json PATH] [--runs 3] [--databases sqlite]
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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import _loadgen as lg
import httpx
import uvloop
from _common import (
    CLI,
    NO_RATE_LIMITS,
    cpu_seconds,
    free_port,
    fresh_postgres,
    raise_fd_limit,
    stop,
    wait_healthy,
    write_json,
)
from _ingest_figures import figures
from _raw_baseline import raw_baseline
from import_events import generate

from nexus_crm.settings import DEV_WEBHOOK_SECRET

HERE = Path(__file__).parent
# Saturation: as many connections as the server admits at once (INGEST_MAX_IN_PROGRESS, 128):
# concurrent single events share a commit, so fewer connections under-load it (32: ~1,000
# req/s, 128: ~1,700 on the reference machine); more would be refused by design.
SIZES = {  # batch phase: events, batch, clients; single events: seconds of each phase
    "full": {
        "events": 100_000,
        "batch": 5_000,
        "clients": 4,
        "warmup": 300,
        "serial_s": 3.0,
        "sat_s": 8.0,
        "connections": 128,
        "fixed_s": 10.0,
        "drain_s": 10.0,
        "over_s": 5.0,
        "runs": 3,
    },
    "quick": {
        "events": 6_000,
        "batch": 2_000,
        "clients": 2,
        "warmup": 50,
        "serial_s": 0.5,
        "sat_s": 1.0,
        "connections": 128,
        "fixed_s": 0.5,
        "drain_s": 1.5,
        "over_s": 1.0,
        "runs": 1,
    },
}
SAT_CAP = 12_000  # pre-signed requests per second of saturation (above the bare ceiling)
RATE = 1_000.0
# 2x saturation: more senders than the server's bound (INGEST_MAX_IN_PROGRESS, 128), as many
# GENESIS instances would be; each request is due at its time whatever the others wait.
OVER_FACTOR, OVER_CONNECTIONS = 2.0, 512


def run_async(coro: Any) -> Any:
    """Run ``coro`` on uvloop (as the server does): the generator's CPU cost is lower."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def server_env(url: str) -> dict[str, str]:
    """The server's environment: the database, rate limits and background workers off."""
    return dict(
        os.environ,
        DATABASE_URL=url,
        DASHBOARD_ENABLED="false",
        GENESIS_WEBHOOK_SECRET=DEV_WEBHOOK_SECRET,
        ALERT_EVALUATION_INTERVAL_SECONDS="0",
        UPSELL_WORKER_INTERVAL_SECONDS="0",
        **NO_RATE_LIMITS,
    )


def start_app(url: str) -> tuple[subprocess.Popen[bytes], int]:
    """Migrate ``url`` and start ``nexus-crm serve`` on it; return the process and port."""
    env, port = server_env(url), free_port()
    subprocess.run([CLI, "db", "upgrade"], env=env, check=True, capture_output=True)
    proc = subprocess.Popen([CLI, "serve", "--port", str(port), "--log-level", "warning"], env=env)
    wait_healthy(port, proc)
    return proc, port


def start_bare() -> tuple[subprocess.Popen[bytes], int]:
    """Start bench/bare_app.py under uvicorn (one worker, as ``nexus-crm serve``)."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "bare_app:app",
        "--app-dir",
        str(HERE),
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(cmd)
    wait_healthy(port, proc)
    return proc, port


@contextmanager
def database(db: str, tmp: Path, run: int) -> Iterator[str]:
    """A fresh, empty database URL for one run."""
    if db == "postgresql":
        with fresh_postgres(f"ingest_{run}") as url:
            yield url
        return
    path = tmp / f"app-{run}.db"
    yield f"sqlite:///{path}"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def count_events(url: str) -> int:
    """Rows of agent_usage_events, asked of the database itself."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return int(conn.execute("SELECT count(*) FROM agent_usage_events").fetchone()[0])

    async def _count() -> int:
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM agent_usage_events"))
        finally:
            await conn.close()

    return int(asyncio.run(_count()))


def make_events(n: int, tmp: Path) -> list[bytes]:
    """``n`` events of a realistic history, one compact JSON document each."""
    path = tmp / f"events-{n}.jsonl"
    generate(path, n)
    return path.read_bytes().splitlines()


def batch_bodies(lines: Sequence[bytes], size: int) -> list[bytes]:
    """``{"events": [...]}`` bodies of ``size`` events."""
    return [
        b'{"events":[' + b",".join(lines[i : i + size]) + b"]}" for i in range(0, len(lines), size)
    ]


async def post_batches(port: int, bodies: Sequence[bytes], clients: int) -> dict[str, Any]:
    """Post every body once over ``clients`` connections; wall time and what was answered."""
    requests = [lg.build_request(port, b) for b in bodies]  # signed before the clock starts
    out = await lg.saturate(port, requests, clients, seconds=3600, keep_bodies=True)
    answers = [json.loads(b) for b in out.bodies]
    return {
        "seconds": out.seconds,
        "requests": out.sent,
        "errors": out.errors,
        "accepted": sum(a.get("accepted", 0) for a in answers),
        "duplicates": sum(a.get("duplicates", 0) for a in answers),
    }


async def closed_loop(
    port: int, pid: int, requests: list[bytes], connections: int, seconds: float
) -> dict[str, Any]:
    """A closed-loop phase with the server's CPU: share of a core, and ms per answer."""
    cpu = cpu_seconds(pid)
    out = await lg.saturate(port, requests, connections, seconds)
    used = cpu_seconds(pid) - cpu
    return {
        **out.summary(),
        "server_cpu_share": round(used / out.seconds, 2),
        "server_cpu_ms_per_request": used / max(1, out.ok) * 1e3,
        "exhausted": out.sent >= len(requests),
    }


async def overload(port: int, sat_rate: float, size: dict[str, Any], base: int) -> dict[str, Any]:
    """Open loop at OVER_FACTOR x the measured saturation; then: is the server still up?"""
    rate = OVER_FACTOR * sat_rate
    reqs = lg.single_requests(port, int(rate * size["over_s"]), base)
    out = await lg.fixed_rate(
        port, reqs, rate, connections=OVER_CONNECTIONS, drain_s=size["drain_s"]
    )
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        alive = (await http.get("/readyz")).status_code == 200
    return {
        "rate": rate,
        "connections": OVER_CONNECTIONS,
        "alive_after": alive,
        **out.summary(),
        "refused_n": len(out.refused),
    }


async def single_phase(
    port: int, pid: int, size: dict[str, Any], run: int, over: bool = False
) -> dict[str, Any]:
    """Warm-up; one connection (service time); saturation; RATE req/s (open loop); 2x load."""
    base = run * 10_000_000
    warm = await lg.saturate(port, lg.single_requests(port, size["warmup"], base), 8, seconds=5)
    serial = await closed_loop(
        port, pid, lg.single_requests(port, 2_000, base + 500_000), 1, size["serial_s"]
    )
    pool = lg.single_requests(port, int(SAT_CAP * size["sat_s"]), base + 1_000_000)
    sat = await closed_loop(port, pid, pool, size["connections"], size["sat_s"])
    fixed_reqs = lg.single_requests(port, int(RATE * size["fixed_s"]), base + 5_000_000)
    fixed = await lg.fixed_rate(port, fixed_reqs, RATE, drain_s=size["drain_s"])
    result = {
        "warmup_ok": warm.ok,
        "serial": serial,
        "saturation": sat,
        "fixed_rate": {"rate": RATE, **fixed.summary()},
    }
    if over:
        result["overload"] = await overload(port, sat["ok_per_s"], size, base + 8_000_000)
    oks = (warm.ok, serial["ok"], sat["ok"], fixed.ok, result.get("overload", {}).get("ok", 0))
    return {**result, "answered_ok": sum(oks)}


def app_run(
    db: str, run: int, tmp: Path, lines: Sequence[bytes], size: dict[str, Any]
) -> dict[str, Any]:
    """One run on ``db``: batches, replay and single events on one server; then the baseline."""
    bodies = batch_bodies(lines, size["batch"])
    with database(db, tmp, run) as url:
        proc, port = start_app(url)
        try:
            cpu = cpu_seconds(proc.pid)
            batch = run_async(post_batches(port, bodies, size["clients"]))
            batch["server_cpu_share"] = (cpu_seconds(proc.pid) - cpu) / batch["seconds"]
            batch["stored"] = count_events(url)
            replay = run_async(post_batches(port, bodies, size["clients"]))
            replay["stored"] = count_events(url)
            single = run_async(single_phase(port, proc.pid, size, run, over=True))
            single["stored"] = count_events(url) - replay["stored"]
        finally:
            stop(proc)
        raw = raw_baseline(db, url, tmp, lines, size["batch"])
    return {
        "database": db,
        "events": len(lines),
        "batch": batch,
        "replay": replay,
        "single": single,
        "raw_rows_per_s": raw,
    }


def bare_run(run: int, size: dict[str, Any]) -> dict[str, Any]:
    """One run of the single-event phases against bench/bare_app.py."""
    proc, port = start_bare()
    try:
        return {"database": None, "single": run_async(single_phase(port, proc.pid, size, run))}
    finally:
        stop(proc)


def measure(size: dict[str, Any], databases: list[str], runs: int) -> list[dict[str, Any]]:
    """All runs, interleaved (sqlite, postgresql, bare; again) so drift spreads evenly."""
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="nexus-ingest-") as tmp:
        lines = make_events(size["events"], Path(tmp))
        for run in range(runs):
            for db in databases:
                results.append(app_run(db, run, Path(tmp), lines, size))
                print(f"run {run} {db}: {summary_line(results[-1])}", flush=True)
            results.append(bare_run(run, size))
            print(f"run {run} bare: {summary_line(results[-1])}", flush=True)
    return results


def summary_line(r: dict[str, Any]) -> str:
    """A progress line: the run's headline figures."""
    s, f = r["single"]["saturation"], r["single"]["fixed_rate"]
    head = ""
    if "batch" in r:
        b, p = r["batch"], r["replay"]
        head = (
            f"batch {b['stored'] / b['seconds']:,.0f} ev/s (stored {b['stored']:,}), "
            f"raw {r['raw_rows_per_s']:,.0f} rows/s, replay "
            f"{p['duplicates'] / p['seconds']:,.0f} dup/s; "
        )
    return (
        head + f"single {s['ok_per_s']:,.0f} req/s (gen cpu {s['generator_cpu_share']}, "
        f"server cpu {s['server_cpu_share']}), at {RATE:.0f}/s p50 {f.get('p50_ms', 0):.2f} "
        f"p99 {f.get('p99_ms', 0):.2f} ms, errors {s['errors'] or f['errors'] or 'none'}"
    )


def main() -> None:
    """Measure, print, and write the figures (``--json``)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, one run (< 30 s)")
    ap.add_argument("--json", default=None, metavar="PATH")
    ap.add_argument("--runs", type=int, default=None, help="runs per figure (default 3; quick 1)")
    ap.add_argument("--databases", default="sqlite,postgresql")
    ap.add_argument("--events", type=int, default=None, help="events per batch run")
    args = ap.parse_args()
    size = dict(SIZES["quick" if args.quick else "full"])
    size["events"] = args.events or size["events"]
    runs = args.runs or size["runs"]
    raise_fd_limit()
    results = measure(size, args.databases.split(","), runs)
    write_json(
        args.json,
        figures(results, size, RATE),
        {**size, "runs": runs, "rate": RATE},
        {"results": results},
    )


if __name__ == "__main__":
    main()
