"""Read-path latency over 1M and 10M events: every insights / customer / dashboard query.

For each size, uses the kept database ``bench_events_<size>`` of bench/import10m.py when it
is complete (its ``bench_marker`` row and event count agree; otherwise builds it, which takes
about a quarter of an hour for 10M), starts a real ``nexus-crm serve`` on it (one process,
DASHBOARD_ENABLED=false, rate limits and background workers off) and times each read route
as a user sees it: one request at a time over a kept-alive connection, ``--warmup``
requests first, then ``--runs`` timed ones (fewer if a query exceeds ``--budget`` seconds;
the notes say how many). The dashboard's own service calls (dashboard/service.py) are timed
in-process on the same database, the way a page refresh runs them (one transaction each).

For each query whose p95 misses the target, the service function behind it is run once
in-process with every SQL statement timed, and the slowest statements are EXPLAIN ANALYZEd:
the share of time in SQL vs Python and the plans go to ``bench/results/queries_explain.json``.

    .venv/bin/python bench/queries.py                      # 1M and 10M (kept databases)
    .venv/bin/python bench/queries.py --sizes 1000000 --runs 50
    .venv/bin/python bench/queries.py --quick --json bench/results/queries.json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from _common import (
    CLI,
    NO_RATE_LIMITS,
    RESULTS,
    figure,
    free_port,
    pct,
    stop,
    wait_healthy,
    write_json,
)
from import10m import build as build_database
from import10m import database_url, drop, ensure_database, history, kept_name, label
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.alerts import service as alerts
from nexus_crm.alerts.schemas import StatusFilter
from nexus_crm.analytics import patterns, upgrades
from nexus_crm.analytics import service as analytics
from nexus_crm.analytics.churn import service as churn
from nexus_crm.business import service as business
from nexus_crm.dashboard import service as dashboard
from nexus_crm.db import create_engine, create_sessionmaker, transaction
from nexus_crm.kit.time import local_day, utcnow
from nexus_crm.settings import Settings
from nexus_crm.tiers import service as tiers
from nexus_crm.wiring import open_sessions

TARGET_MS = 50.0
TARGET = "every dashboard query p95 ≤ 50 ms over 10M events"
EXPLAIN_FILE = RESULTS / "queries_explain.json"
SERVER_ENV = {
    "DASHBOARD_ENABLED": "false",
    "ALERT_EVALUATION_INTERVAL_SECONDS": "0",
    "UPSELL_WORKER_INTERVAL_SECONDS": "0",
    **NO_RATE_LIMITS,
}
Call = Callable[[AsyncSession], Awaitable[Any]]


@dataclass
class Timing:
    """The latencies (ms) of one query on one database size."""

    query: str
    kind: str  # "http" (through the server) or "in-process" (dashboard service call)
    events: int
    samples: list[float] = field(default_factory=list)
    warmup: int = 0
    cold: list[float] = field(default_factory=list)  # the warm-up calls, first one cold
    budget_hit: bool = False

    def p(self, q: float) -> float:
        """The ``q`` quantile of the samples, in ms."""
        return pct(self.samples, q)


@dataclass(frozen=True)
class Customers:
    """Customers to read: the heaviest and the lightest users of the last 30 days."""

    heavy: list[str]
    light: list[str]


async def _pick_customers(url: str, n: int = 3) -> Customers:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT user_id, sum(interactions) AS n FROM agent_usage_daily "
            "WHERE day > current_date - 30 GROUP BY user_id ORDER BY n DESC, user_id"
        )
    finally:
        await conn.close()
    ids = [r["user_id"] for r in rows]
    return Customers(heavy=ids[:n], light=ids[-n:])


def pick_customers(url: str) -> Customers:
    """The 3 heaviest and 3 lightest customers (by interactions in the last 30 days)."""
    return asyncio.run(_pick_customers(url))


def routes(c: Customers) -> dict[str, list[str]]:
    """Each timed route and the paths it cycles through (several customers for one)."""
    api = "/agent-usage"
    return {
        "GET /insights?days=7": [f"{api}/insights?days=7"],
        "GET /insights?days=30": [f"{api}/insights?days=30"],
        "GET /patterns": [f"{api}/patterns"],
        "GET /customers/{id} (heavy users)": [f"{api}/customers/{u}" for u in c.heavy],
        "GET /customers/{id} (light users)": [f"{api}/customers/{u}" for u in c.light],
        "GET /churn-risks": [f"{api}/churn-risks"],
        "GET /upgrade-opportunities": [f"{api}/upgrade-opportunities"],
        "GET /business-metrics": [f"{api}/business-metrics"],
        "GET /alerts": [f"{api}/alerts"],
        "GET /tiers": [f"{api}/tiers"],
    }


def service_calls(c: Customers) -> dict[str, Call]:
    """The service function behind each route, and the dashboard's own calls (in-process)."""
    s = Settings()
    now = utcnow()
    today = local_day(now, s.tz)
    policy = upgrades.UpgradePolicy(threshold_pct=s.upgrade_projection_pct)
    biz = business.BusinessPolicy.from_settings(s)
    churn_cfg = biz.churn
    return {
        "GET /insights?days=7": lambda x: analytics.get_insights(
            x, days=7, today=today, timezone=s.timezone
        ),
        "GET /insights?days=30": lambda x: analytics.get_insights(
            x, days=30, today=today, timezone=s.timezone
        ),
        "GET /patterns": lambda x: patterns.get_patterns(x, days=30, today=today, tz=s.tz),
        "GET /customers/{id} (heavy users)": lambda x: analytics.get_customer_usage(
            x, user_id=c.heavy[0], today=today, tz=s.tz, churn=churn_cfg
        ),
        "GET /customers/{id} (light users)": lambda x: analytics.get_customer_usage(
            x, user_id=c.light[0], today=today, tz=s.tz, churn=churn_cfg
        ),
        "GET /churn-risks": lambda x: churn.list_churn_risks(
            x, as_of=today, tz=s.tz, config=churn_cfg
        ),
        "GET /upgrade-opportunities": lambda x: upgrades.find_upgrade_opportunities(
            x, today=today, policy=policy, limit=50
        ),
        "GET /business-metrics": lambda x: business.get_business_metrics(
            x, days=30, today=today, now=now, tz=s.tz, limit=20, policy=biz
        ),
        "GET /alerts": lambda x: alerts.list_alerts(x, limit=100, now=now),
        "GET /tiers": tiers.list_tiers,
        **dashboard_calls(c, s, now),
    }


def dashboard_calls(c: Customers, s: Settings, now: datetime) -> dict[str, Call]:
    """What the dashboard pages run on each refresh (dashboard/service.py)."""
    today: date = local_day(now, s.tz)
    return {
        "dashboard Live: get_live_snapshot": lambda x: dashboard.get_live_snapshot(
            x, now=now, settings=s
        ),
        "dashboard poll: change_marker": lambda x: dashboard.change_marker(x, today=today),
        "dashboard Customer: get_customer_view (heavy)": lambda x: dashboard.get_customer_view(
            x, user_id=c.heavy[0], now=now, settings=s
        ),
        "dashboard Customer: get_customer_view (light)": lambda x: dashboard.get_customer_view(
            x, user_id=c.light[0], now=now, settings=s
        ),
        "dashboard Business: get_business_metrics": lambda x: dashboard.get_business_metrics(
            x, now=now, settings=s
        ),
        "dashboard Alerts: list_alerts": lambda x: dashboard.list_alerts(
            x, status=StatusFilter.OPEN, alert_type=None, user_id=None, now=now
        ),
    }


async def timed_loop(
    once: Callable[[], Awaitable[None]], t: Timing, args: argparse.Namespace
) -> None:
    """``warmup`` calls (timed apart: the first is cold), then up to ``runs`` timed ones,
    fewer (at least ``min_runs``) once ``budget`` seconds have passed."""
    started = time.perf_counter()
    for _ in range(args.warmup):
        began = time.perf_counter()
        await once()
        t.cold.append((time.perf_counter() - began) * 1000)
    t.warmup = args.warmup
    while len(t.samples) < args.runs:
        began = time.perf_counter()
        await once()
        t.samples.append((time.perf_counter() - began) * 1000)
        if time.perf_counter() - started > args.budget and len(t.samples) >= args.min_runs:
            t.budget_hit = len(t.samples) < args.runs
            break


def create_key(env: dict[str, str]) -> str:
    """A new read key in the database."""
    out = subprocess.run(
        [CLI, "keys", "create", "bench-queries", "--scope", "read"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def time_routes(url: str, events: int, c: Customers, args: argparse.Namespace) -> list[Timing]:
    """Every route through a real server, one request at a time."""
    env = {**os.environ, "DATABASE_URL": url, **SERVER_ENV}
    key, port = create_key(env), free_port()
    proc = subprocess.Popen([CLI, "serve", "--port", str(port), "--log-level", "warning"], env=env)
    try:
        wait_healthy(port, proc)
        return asyncio.run(_time_routes(f"http://127.0.0.1:{port}", key, events, c, args))
    finally:
        stop(proc)


async def _time_routes(
    base: str, key: str, events: int, c: Customers, args: argparse.Namespace
) -> list[Timing]:
    out = []
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=600) as http:
        for name, paths in routes(c).items():
            t = Timing(name, "http", events)
            turn = itertools.cycle(paths)

            async def once(turn: Iterator[str] = turn) -> None:
                (await http.get(next(turn))).raise_for_status()

            await timed_loop(once, t, args)
            print(progress(t), file=sys.stderr, flush=True)
            out.append(t)
    return out


def time_dashboard(url: str, events: int, c: Customers, args: argparse.Namespace) -> list[Timing]:
    """The dashboard's service calls, in-process, one transaction each (as a page refresh)."""
    calls = dashboard_calls(c, Settings(DATABASE_URL=url), utcnow())

    async def _run() -> list[Timing]:
        settings = Settings(DATABASE_URL=url)
        engine = create_engine(settings)
        sessions = open_sessions(engine, settings)
        out = []
        try:
            for name, call in calls.items():

                async def once(call: Call = call) -> None:
                    async with transaction(sessions) as session:
                        await call(session)

                t = Timing(name, "in-process", events)
                await timed_loop(once, t, args)
                print(progress(t), file=sys.stderr, flush=True)
                out.append(t)
        finally:
            await engine.dispose()
        return out

    return asyncio.run(_run())


def progress(t: Timing) -> str:
    """A progress line: query, p50/p95/p99, runs."""
    return (
        f"  {label(t.events)} {t.query}: p50 {t.p(0.5):.1f} p95 {t.p(0.95):.1f} "
        f"p99 {t.p(0.99):.1f} ms (n={len(t.samples)})"
    )


async def _profile(url: str, call: Call) -> dict[str, Any]:
    """Run ``call`` once with every statement timed; EXPLAIN ANALYZE the slowest two."""
    engine = create_engine(Settings(DATABASE_URL=url))
    seen: list[dict[str, Any]] = []

    def before(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        seen.append({"sql": statement, "params": params, "started": time.perf_counter()})

    def after(*_a: Any) -> None:
        seen[-1]["ms"] = (time.perf_counter() - seen[-1].pop("started")) * 1000

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    event.listen(engine.sync_engine, "after_cursor_execute", after)
    try:
        began = time.perf_counter()
        async with transaction(create_sessionmaker(engine)) as session:
            await call(session)
        total = (time.perf_counter() - began) * 1000
        event.remove(engine.sync_engine, "before_cursor_execute", before)
        event.remove(engine.sync_engine, "after_cursor_execute", after)
        slowest = sorted(seen, key=lambda s: -s.get("ms", 0))[:2]
        async with engine.connect() as conn:
            for s in slowest:
                plan = await conn.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS) " + s["sql"], s["params"]
                )
                s["plan"] = [r[0] for r in plan]
    finally:
        await engine.dispose()
    sql_ms = sum(s.get("ms", 0) for s in seen)
    return {
        "total_ms": round(total, 1),
        "sql_ms": round(sql_ms, 1),
        "statements": len(seen),
        "slowest": [
            {
                "ms": round(s["ms"], 1),
                "sql": s["sql"],
                "params": repr(s["params"]),
                "plan": s["plan"],
            }
            for s in slowest
        ],
    }


def profile(url: str, call: Call) -> dict[str, Any]:
    """Where one call of a service function spends its time (SQL vs Python) and the plans."""
    return asyncio.run(_profile(url, call))


def diagnosis(p: dict[str, Any]) -> str:
    """A short note from a profile: SQL share, statements, the slowest one's plan summary."""
    share = 100 * p["sql_ms"] / p["total_ms"] if p["total_ms"] else 0
    note = (
        f"in-process call {p['total_ms']:.0f} ms, SQL {p['sql_ms']:.0f} ms ({share:.0f} %) "
        f"in {p['statements']} statements"
    )
    if p["slowest"]:
        top = p["slowest"][0]
        nodes = [ln.strip().removeprefix("->").strip().split("  (")[0] for ln in top["plan"]]
        scans = sorted({n for n in nodes if "Scan" in n})
        text = " ".join(top["sql"].split())[:90]
        note += f"; slowest {top['ms']:.0f} ms: {text}… plan: {', '.join(scans)[:160]}"
    return note


def query_figures(
    timings: list[Timing], first: dict[str, Timing], notes: dict[str, str]
) -> list[dict[str, Any]]:
    """One figure per query and size: value p95 (ms); at the larger size, vs the smaller."""
    out = []
    for t in timings:
        p50, p95, p99 = t.p(0.5), t.p(0.95), t.p(0.99)
        base = first.get(t.query)
        growth = base is not None and base.events != t.events
        text = (
            TARGET if t.events >= 10_000_000 else f"p95 ≤ 50 ms (10M target, at {label(t.events)})"
        )
        how = "HTTP via nexus-crm serve" if t.kind == "http" else "in-process service call"
        note = (
            f"p50 {p50:.1f}, p95 {p95:.1f}, p99 {p99:.1f} ms over n={len(t.samples)} after "
            f"{t.warmup} warm-up ({how}{'; budget reached' if t.budget_hit else ''}); "
            f"first (cold) call {t.cold[0] if t.cold else 0:.0f} ms; value = p95"
        )
        if growth:
            note += f"; ratio = p95 at {label(t.events)} / p95 at {label(base.events)} (growth)"
        if t.query in notes:
            note += "; " + notes[t.query]
        fig = figure(
            "queries",
            f"{t.query} p95",
            "postgresql",
            [p95],
            "ms",
            baseline=(f"p95 at {label(base.events)} events", base.p(0.95), "ms")
            if growth
            else None,
            ratio=p95 / base.p(0.95) if growth and base.p(0.95) else None,
            target=(text, p95 <= TARGET_MS),
            notes=note,
        )
        fig.update(
            {
                "events": t.events,
                "p50": round(p50, 2),
                "p95": round(p95, 2),
                "p99": round(p99, 2),
                "n": len(t.samples),
                "cold_ms": round(t.cold[0], 2) if t.cold else None,
            }
        )
        out.append(fig)
    return out


def parse_args() -> argparse.Namespace:
    """Command line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000000,10000000", help="events, comma-separated")
    ap.add_argument("--runs", type=int, default=30, help="timed requests per query")
    ap.add_argument("--warmup", type=int, default=3, help="untimed requests first")
    ap.add_argument(
        "--budget",
        type=float,
        default=45.0,
        help="seconds per query; stop early (at least --min-runs) past it",
    )
    ap.add_argument("--min-runs", type=int, default=5)
    ap.add_argument(
        "--no-explain",
        dest="explain",
        action="store_false",
        help="do not profile and EXPLAIN the queries that miss the target",
    )
    ap.add_argument("--quick", action="store_true", help="2,000 events, 5 runs: a smoke check")
    ap.add_argument("--json", default=None, help="write the figures here")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.runs, args.warmup, args.budget = "2000", 5, 1, 5.0
        args.min_runs = 3
    args.sizes = [int(s) for s in args.sizes.split(",")]
    return args


def quick_database(events: int) -> tuple[str, str]:
    """A fresh throw-away database of ``events`` events (for --quick); its URL and name."""
    name = f"{kept_name(events)}_{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="nexus-queries-") as tmp:
        path, window, _ = history(events, Path(tmp), utcnow())
        built = build_database("postgresql", path, name, window, None)
    if not built.get("complete"):
        raise SystemExit(f"could not build {name}")
    return database_url("postgresql", name), name


def measure_size(events: int, args: argparse.Namespace) -> tuple[list[Timing], dict[str, Any]]:
    """Every query on one database size; profiles of the misses."""
    name = None
    if args.quick:
        url, name = quick_database(events)
        marker: dict[str, Any] = {"events": events}
    else:
        url, marker = ensure_database("postgresql", events)
    try:
        c = pick_customers(url)
        print(f"{label(events)}: {url} heavy {c.heavy} light {c.light}", file=sys.stderr)
        timings = time_routes(url, events, c, args) + time_dashboard(url, events, c, args)
        profiles = {}
        if args.explain:
            calls = service_calls(c)
            for t in timings:
                if t.p(0.95) > TARGET_MS and t.query in calls:
                    profiles[t.query] = profile(url, calls[t.query])
        return timings, {
            "database": url,
            "marker": marker,
            "customers": c.__dict__,
            "profiles": profiles,
        }
    finally:
        if name:
            drop("postgresql", name)


def save(
    args: argparse.Namespace,
    figures: list[dict[str, Any]],
    timings: list[Timing],
    details: dict[str, Any],
) -> None:
    """Write the figures (``--json``) and the explain file (samples, profiles, plans)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    samples = {
        f"{label(t.events)} {t.query}": {
            "warmup": [round(s, 2) for s in t.cold],
            "timed": [round(s, 2) for s in t.samples],
        }
        for t in timings
    }
    EXPLAIN_FILE.write_text(
        json.dumps({"sizes": details, "samples_ms": samples}, indent=2, default=str) + "\n"
    )
    inputs = {
        "sizes": args.sizes,
        "runs": args.runs,
        "warmup": args.warmup,
        "budget_seconds": args.budget,
        "server_env": SERVER_ENV,
        "explain_file": str(EXPLAIN_FILE),
    }
    write_json(args.json, figures, inputs)


def main() -> None:
    """Measure each size (smallest first); write the figures and the explain file."""
    args = parse_args()
    all_timings: list[Timing] = []
    details: dict[str, Any] = {}
    figures: list[dict[str, Any]] = []
    first: dict[str, Timing] = {}
    for events in sorted(args.sizes):
        timings, info = measure_size(events, args)
        details[label(events)] = info
        notes = {q: diagnosis(p) for q, p in info["profiles"].items()}
        figures += query_figures(timings, first, notes)
        for t in timings:
            first.setdefault(t.query, t)
        all_timings += timings
        save(args, figures, all_timings, details)
    print("| size | query | p50 ms | p95 ms | p99 ms | n | first call ms | p95 ≤ 50 ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for f in figures:
        met = "yes" if f["target"]["met"] else "**no**"
        print(
            f"| {label(f['events'])} | {f['name'].removesuffix(' p95')} | {f['p50']} | "
            f"{f['p95']} | {f['p99']} | {f['n']} | {f['cold_ms']} | {met} |"
        )


if __name__ == "__main__":
    main()
