"""Live-stream latency: event acknowledged → WebSocket frame received, with N clients connected.

Starts a real server (``nexus-crm serve``, one process, a temporary SQLite database or
``--database-url``), connects N WebSocket clients (API key in the header), posts single
signed events at ``--rate`` per second and records, for every client and event, when the
``usage`` frame arrived. Reports p50/p99/max from the acknowledgement (the 200 answer) and
from the moment the request was sent, frames missing, and the server's RSS with N connected.

    .venv/bin/python bench/ws_latency.py [--clients 100,1000] [--events 100] [--rate 5]
        [--quick] [--json PATH] [--runs N]

``--json PATH`` writes the shared figure schema (bench/README.md); with it, the figures are
medians of 3 servers in turn (``--runs``). The server runs with the dashboard and the rate
limits off.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from _common import NO_RATE_LIMITS, figure, median, write_json
from websockets.asyncio.client import ClientConnection, connect

from genesis_crm.signing import sign_headers
from nexus_crm.settings import DEV_WEBHOOK_SECRET

RESULTS = Path(__file__).parent / "results"
CLI = str(Path(sys.executable).parent / "nexus-crm")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def prepare(env: dict[str, str]) -> str:
    """Migrate the database; return a new read key."""
    subprocess.run([CLI, "db", "upgrade"], env=env, check=True, capture_output=True)
    out = subprocess.run(
        [CLI, "keys", "create", "bench", "--scope", "read"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([CLI, "serve", "--port", str(port), "--log-level", "warning"], env=env)
    for _ in range(200):
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants, in MB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        status = Path(f"/proc/{p}/status").read_text()
        total += next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
        )
        for task in Path(f"/proc/{p}/task").iterdir():
            todo += [int(c) for c in (task / "children").read_text().split()]
    return total / 1024


async def reader(ws: ClientConnection, arrivals: dict[str, list[float]]) -> None:
    async for raw in ws:
        now = time.perf_counter()
        if isinstance(raw, str) and raw.startswith('{"type":"usage"'):
            for ev in json.loads(raw)["data"]["events"]:
                arrivals[ev["event_id"]].append(now)


async def open_clients(url: str, key: str, n: int, deflate: bool) -> list[ClientConnection]:
    headers = {"Authorization": f"Bearer {key}"}
    clients: list[ClientConnection] = []
    compression = "deflate" if deflate else None
    for start in range(0, n, 50):
        batch = [
            connect(
                url,
                additional_headers=headers,
                max_queue=None,
                open_timeout=30,
                compression=compression,
            )
            for _ in range(start, min(n, start + 50))
        ]
        clients += await asyncio.gather(*batch)
    return clients


async def post(http: httpx.AsyncClient, sent: dict[str, tuple[float, float]]) -> None:
    event_id = str(uuid.uuid4())
    body = json.dumps(
        {
            "event_id": event_id,
            "user_id": f"bench_{len(sent) % 50}",
            "agent_id": "NEXUS",
            "session_id": "s",
            "tokens_used": 150,
            "response_time_ms": 1200,
            "subscription_tier": "pro",
        }
    ).encode()
    headers = sign_headers(DEV_WEBHOOK_SECRET, body)
    t0 = time.perf_counter()
    resp = await http.post("/agent-usage/events", content=body, headers=headers)
    resp.raise_for_status()
    sent[event_id] = (t0, time.perf_counter())


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run(port: int, pid: int, key: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    events, rate = args.events, args.rate
    clients = await open_clients(f"ws://127.0.0.1:{port}/agent-usage/ws", key, n, args.deflate)
    arrivals: dict[str, list[float]] = defaultdict(list)
    readers = [asyncio.create_task(reader(ws, arrivals)) for ws in clients]
    await asyncio.sleep(2)
    rss_connected = rss_mb(pid)
    sent: dict[str, tuple[float, float]] = {}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        for _ in range(events):
            await post(http, sent)
            await asyncio.sleep(1 / rate)
    rss = rss_mb(pid)
    await asyncio.sleep(3)  # stragglers
    for task in readers:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in clients), return_exceptions=True)
    from_ack = [t - sent[e][1] for e, ts in arrivals.items() if e in sent for t in ts]
    from_send = [t - sent[e][0] for e, ts in arrivals.items() if e in sent for t in ts]
    return {
        "clients": n,
        "permessage_deflate": args.deflate,
        "events": events,
        "rate_per_s": rate,
        "frames": len(from_ack),
        "missing_frames": n * events - len(from_ack),
        "ack_to_frame_ms": {
            "p50": pct(from_ack, 0.5),
            "p99": pct(from_ack, 0.99),
            "max": max(from_ack) * 1000,
        },
        "send_to_frame_ms": {
            "p50": pct(from_send, 0.5),
            "p99": pct(from_send, 0.99),
            "max": max(from_send) * 1000,
        },
        "ack_ms_median": statistics.median(a - s for s, a in sent.values()) * 1000,
        "server_rss_connected_mb": round(rss_connected, 1),
        "server_rss_mb": round(rss, 1),
    }


def serve_and_measure(args: argparse.Namespace) -> tuple[str, float, list[dict[str, Any]]]:
    """One server on a fresh database: each client count in turn; (url, idle RSS, results)."""
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        env = dict(
            os.environ,
            DATABASE_URL=url,
            ALERT_EVALUATION_INTERVAL_SECONDS="0",
            GENESIS_WEBHOOK_SECRET=DEV_WEBHOOK_SECRET,
            DASHBOARD_ENABLED="false",
            **NO_RATE_LIMITS,
        )
        key, port = prepare(env), free_port()
        proc = start_server(env, port)
        try:
            idle_rss = rss_mb(proc.pid)
            results = [
                asyncio.run(run(port, proc.pid, key, int(n), args)) for n in args.clients.split(",")
            ]
        finally:
            proc.terminate()
            proc.wait(10)
    return url, idle_rss, results


def main() -> None:
    """Measure each client count (``--runs`` times), print rows, write the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", default=None, help="default 100,1000 (quick: 10,100)")
    parser.add_argument("--events", type=int, default=None, help="default 100 (quick: 20)")
    parser.add_argument("--rate", type=float, default=None, help="default 5/s (quick: 10/s)")
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--no-deflate",
        dest="deflate",
        action="store_false",
        help="clients do not offer permessage-deflate (browsers do)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke check")
    parser.add_argument("--json", default=None, metavar="PATH", help="shared-schema figures")
    parser.add_argument(
        "--runs", type=int, default=None, help="servers in turn (default 1; 3 with --json)"
    )
    args = parser.parse_args()
    args.clients = args.clients or ("10,100" if args.quick else "100,1000")
    args.events = args.events or (20 if args.quick else 100)
    args.rate = args.rate or (10.0 if args.quick else 5.0)
    runs = args.runs or (3 if args.json and not args.quick else 1)
    raise_fd_limit()
    measured = []
    for _ in range(runs):
        url, idle_rss, results = serve_and_measure(args)
        report(url, idle_rss, results)
        measured.append((idle_rss, results))
    inputs = {k: v for k, v in vars(args).items() if k != "json"}
    write_json(
        args.json,
        ws_figures(measured, url.split(":")[0]),
        {**inputs, "runs": runs},
        {"results": [{"idle_rss_mb": i, "runs": r} for i, r in measured]},
    )


def _target(clients: int) -> tuple[str, float] | None:
    if clients <= 100:
        return "p99 ≤ 300 ms (100 clients)", 300.0
    if clients >= 1000:
        return "p99 ≤ 1 s (1,000 clients)", 1000.0
    return None


def ws_figures(
    measured: list[tuple[float, list[dict[str, Any]]]], database: str
) -> list[dict[str, Any]]:
    """Shared-schema figures: send→frame p50/p99 per client count, RSS at the largest."""
    out = []
    for i, first in enumerate(measured[0][1]):
        rows = [results[i] for _idle, results in measured]
        n = first["clients"]
        p50 = [r["send_to_frame_ms"]["p50"] for r in rows]
        p99 = [r["send_to_frame_ms"]["p99"] for r in rows]
        ack99 = [round(r["ack_to_frame_ms"]["p99"], 1) for r in rows]
        notes = (
            f"from the POST being sent (ingest + commit + fan-out) to the frame; ack→frame "
            f"p99 per run {ack99} ms; missing frames {[r['missing_frames'] for r in rows]}; "
            f"{first['events']} events at {first['rate_per_s']}/s; permessage-deflate "
            f"{first['permessage_deflate']}; dashboard and rate limits off"
        )
        target = _target(n)
        out.append(
            figure("websocket", f"event → frame p50, {n} clients", database, p50, "ms", notes=notes)
        )
        out.append(
            figure(
                "websocket",
                f"event → frame p99, {n} clients",
                database,
                p99,
                "ms",
                target=None if target is None else (target[0], median(p99) <= target[1]),
                notes=notes,
            )
        )
    idle = [m[0] for m in measured]
    n = measured[0][1][-1]["clients"]
    rss = [max(r[-1]["server_rss_connected_mb"], r[-1]["server_rss_mb"]) for _i, r in measured]
    out.append(
        figure(
            "websocket",
            f"server RSS, {n} clients connected",
            database,
            rss,
            "MB",
            baseline=("idle server, no client", median(idle), "MB"),
            ratio=median(rss) / median(idle),
            target=("≤ 256 MB with 1,000 connections", median(rss) <= 256) if n >= 1000 else None,
            notes="the larger of RSS once connected and after the events; one "
            "process (uvicorn, one worker), dashboard off",
        )
    )
    return out


def report(url: str, idle_rss: float, results: list[dict[str, Any]]) -> None:
    RESULTS.mkdir(exist_ok=True)
    out = {
        "database": url.split(":")[0],
        "idle_rss_mb": round(idle_rss, 1),
        "runs": results,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path = RESULTS / f"ws_latency_{int(time.time())}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"idle server RSS {idle_rss:.1f} MB; full result: {path}")
    for r in results:
        a, s = r["ack_to_frame_ms"], r["send_to_frame_ms"]
        print(
            f"| {r['clients']} clients | ack→frame p50 {a['p50']:.1f} p99 {a['p99']:.1f} "
            f"max {a['max']:.1f} ms | send→frame p50 {s['p50']:.1f} p99 {s['p99']:.1f} ms | "
            f"missing {r['missing_frames']} | RSS connected {r['server_rss_connected_mb']} MB, "
            f"after traffic {r['server_rss_mb']} MB |"
        )


if __name__ == "__main__":
    main()
