"""Latency of ``track_agent_usage``: the caller's cost of the durable local outbox write.

Runs GenesisCRM against a real NexusCRM server (a subprocess on a temporary SQLite
database) so that delivery competes with the writes as in production, and also with the
server down (every delivery fails and is rescheduled). Reports p50/p95/p99/max per mode.

    .venv/bin/python bench/track_latency.py [--events 10000] [--concurrency 1,20]
        [--quick] [--json PATH] [--runs N]

``--json PATH`` writes the shared figure schema (bench/README.md): medians of 3 runs, next to
a bare SQLite INSERT + COMMIT with the outbox's pragmas (the fsync floor) in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _common import figure, median, write_json

from genesis_crm import GenesisCRM
from nexus_crm.settings import DEV_WEBHOOK_SECRET

RESULTS = Path(__file__).parent / "results"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{workdir}/crm.db")
    cli = str(Path(sys.executable).parent / "nexus-crm")
    subprocess.run([cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    proc = subprocess.Popen([cli, "serve", "--port", str(port), "--log-level", "warning"], env=env)
    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


async def _caller(client: GenesisCRM, n: int, offset: int, out: list[float]) -> None:
    for i in range(n):
        start = time.perf_counter()
        await client.track_agent_usage(
            user_id=f"u{(offset + i) % 500}",
            agent_id="NEXUS",
            session_id="s",
            tokens_used=150,
            response_time_ms=1200,
            subscription_tier="pro",
        )
        out.append(time.perf_counter() - start)


async def measure(
    base_url: str, outbox: Path, events: int, concurrency: int, durable: bool, flush_s: float = 60
) -> dict[str, Any]:
    """Per-call latency of ``events`` calls spread over ``concurrency`` concurrent callers."""
    latencies: list[float] = []
    client = GenesisCRM(
        base_url=base_url,
        secret=DEV_WEBHOOK_SECRET,
        outbox_path=outbox,
        durable=durable,
        flush_interval=0.2,
    )
    began = time.perf_counter()
    per = events // concurrency
    await asyncio.gather(*(_caller(client, per, k * per, latencies) for k in range(concurrency)))
    elapsed = time.perf_counter() - began
    pending = await client.flush(timeout=flush_s)
    await client.aclose(timeout=0)
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "calls": len(latencies),
        "concurrency": concurrency,
        "durable": durable,
        "p50_ms": q[49] * 1e3,
        "p95_ms": q[94] * 1e3,
        "p99_ms": q[98] * 1e3,
        "max_ms": max(latencies) * 1e3,
        "calls_per_s": len(latencies) / elapsed,
        "undelivered_after_flush": pending,
    }


async def run(events: int, levels: list[int]) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        port = free_port()
        server = start_server(work, port)
        try:
            for c in levels:
                for durable in (True, False):
                    outbox = work / f"outbox-{c}-{durable}.db"
                    row = await measure(f"http://127.0.0.1:{port}", outbox, events, c, durable)
                    rows.append({"mode": "server up", **row})
        finally:
            server.terminate()
            server.wait(10)
        down = f"http://127.0.0.1:{free_port()}"
        for c in levels:
            # Nothing can be delivered to a CRM that is down: no minute-long flush.
            row = await measure(down, work / f"down-{c}.db", events, c, True, flush_s=0)
            rows.append({"mode": "server down", **row})
    return rows


def fsync_floor(path: Path, calls: int) -> list[float]:
    """The baseline: a bare SQLite INSERT + COMMIT per call, the outbox's pragmas (fsync)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE outbox (seq INTEGER PRIMARY KEY, payload TEXT, created_at REAL)")
    body = '{"user_id":"u1","agent_id":"NEXUS","tokens_used":150}'
    out = []
    for _ in range(calls):
        start = time.perf_counter()
        db.execute("INSERT INTO outbox (payload, created_at) VALUES (?, ?)", (body, time.time()))
        out.append(time.perf_counter() - start)
    db.close()
    return out


def _row(rows: list[dict[str, Any]], mode: str, callers: int) -> dict[str, Any] | None:
    return next(
        (r for r in rows if r["mode"] == mode and r["concurrency"] == callers and r["durable"]),
        None,
    )


def track_figures(
    runs: list[list[dict[str, Any]]], floors: list[dict[str, float]]
) -> list[dict[str, Any]]:
    """Shared-schema figures: p50/p99 per mode, next to the bare commit's p50/p99."""
    out = []
    for mode, callers, q in (
        ("server up", 1, "p50"),
        ("server up", 1, "p99"),
        ("server up", 20, "p99"),
        ("server down", 1, "p99"),
    ):
        rows = [r for r in (_row(run, mode, callers) for run in runs) if r]
        if not rows:
            continue
        values = [r[f"{q}_ms"] for r in rows]
        base = (
            f"bare SQLite INSERT + COMMIT (WAL, synchronous=FULL), {q}",
            median([f[q] for f in floors]),
            "ms",
        )
        rate = median([r["calls_per_s"] for r in rows])
        notes = (
            f"{rows[0]['calls']:,} calls; fsync per call; {rate:,.0f} calls/s; the CRM "
            f"{'up (delivery competes)' if mode == 'server up' else 'down'}; ratio = "
            f"bare commit {q} / value"
        )
        out.append(
            figure(
                "track_agent_usage",
                f"{q}, {callers} caller(s), {mode}",
                "sqlite",
                values,
                "ms",
                baseline=base,
                ratio=base[1] / median(values),
                notes=notes,
            )
        )
    return out


def main() -> None:
    """Measure and print a Markdown table; write bench/results/track_latency.json."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=None, help="default 10,000 (quick: 1,000)")
    ap.add_argument("--concurrency", default=None, help="default 1,20 (quick: 1)")
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke check")
    ap.add_argument("--json", default=None, metavar="PATH", help="shared-schema figures")
    ap.add_argument("--runs", type=int, default=None, help="default 1; 3 with --json")
    args = ap.parse_args()
    events = args.events or (1_000 if args.quick else 10_000)
    levels = [int(c) for c in (args.concurrency or ("1" if args.quick else "1,20")).split(",")]
    runs_n = args.runs or (3 if args.json and not args.quick else 1)
    runs, floors = [], []
    for _ in range(runs_n):
        rows = asyncio.run(run(events, levels))
        runs.append(rows)
        with tempfile.TemporaryDirectory() as tmp:
            floor = fsync_floor(Path(tmp) / "floor.db", min(events, 2_000))
        q = statistics.quantiles(floor, n=100, method="inclusive")
        floors.append({"p50": q[49] * 1e3, "p99": q[98] * 1e3})
        print_rows(rows)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "track_latency.json").write_text(json.dumps(rows, indent=2))
    write_json(
        args.json,
        track_figures(runs, floors),
        {"events": events, "concurrency": levels, "runs": runs_n},
        {"results": runs, "bare_commit_ms": floors},
    )


def print_rows(rows: list[dict[str, Any]]) -> None:
    """The Markdown table of one run."""
    print("| mode | callers | fsync per call | p50 ms | p95 ms | p99 ms | max ms | calls/s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['mode']} | {r['concurrency']} | {'yes' if r['durable'] else 'no'} | "
            f"{r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.1f} | "
            f"{r['calls_per_s']:.0f} |"
        )


if __name__ == "__main__":
    main()
