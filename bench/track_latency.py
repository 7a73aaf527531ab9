"""Latency of ``track_agent_usage``: the caller's cost of the durable local outbox write.

Runs GenesisCRM against a real NexusCRM server (a subprocess on a temporary SQLite
database) so that delivery competes with the writes as in production, and also with the
server down (every delivery fails and is rescheduled). Reports p50/p95/p99/max per mode.

    .venv/bin/python bench/track_latency.py [--events 10000] [--concurrency 1,20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

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
    proc = subprocess.Popen([cli, "serve", "--port", str(port), "--log-level", "warning"],
                            env=env)  # fmt: skip
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
        await client.track_agent_usage(user_id=f"u{(offset + i) % 500}", agent_id="NEXUS",
                                       session_id="s", tokens_used=150, response_time_ms=1200,
                                       subscription_tier="pro")  # fmt: skip
        out.append(time.perf_counter() - start)


async def measure(base_url: str, outbox: Path, events: int, concurrency: int,
                  durable: bool) -> dict[str, Any]:  # fmt: skip
    """Per-call latency of ``events`` calls spread over ``concurrency`` concurrent callers."""
    latencies: list[float] = []
    client = GenesisCRM(base_url=base_url, secret=DEV_WEBHOOK_SECRET, outbox_path=outbox,
                        durable=durable, flush_interval=0.2)  # fmt: skip
    began = time.perf_counter()
    per = events // concurrency
    await asyncio.gather(*(_caller(client, per, k * per, latencies) for k in range(concurrency)))
    elapsed = time.perf_counter() - began
    pending = await client.flush(timeout=60)
    await client.aclose(timeout=0)
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"calls": len(latencies), "concurrency": concurrency, "durable": durable,
            "p50_ms": q[49] * 1e3, "p95_ms": q[94] * 1e3, "p99_ms": q[98] * 1e3,
            "max_ms": max(latencies) * 1e3, "calls_per_s": len(latencies) / elapsed,
            "undelivered_after_flush": pending}  # fmt: skip


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
            row = await measure(down, work / f"down-{c}.db", events, c, True)
            rows.append({"mode": "server down", **row})
    return rows


def main() -> None:
    """Measure and print a Markdown table; write bench/results/track_latency.json."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--concurrency", default="1,20")
    args = ap.parse_args()
    rows = asyncio.run(run(args.events, [int(c) for c in args.concurrency.split(",")]))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "track_latency.json").write_text(json.dumps(rows, indent=2))
    print("| mode | callers | fsync per call | p50 ms | p95 ms | p99 ms | max ms | calls/s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['mode']} | {r['concurrency']} | {'yes' if r['durable'] else 'no'} | "
              f"{r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.1f} | "
              f"{r['calls_per_s']:.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
