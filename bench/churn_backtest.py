"""Churn model on simulated history: backtests at several dates and a daily alert replay.

    .venv/bin/python bench/churn_backtest.py --seed 7 --customers 300 --days 90

Loads the population into a fresh SQLite file (in-process ingest), then
- ``evaluate`` at each --as-of day index (model trained only on what was known then):
  AUC, top-decile lift, precision/recall at the threshold over the next --horizon days;
- a replay of the daily churn_risk rule: each day from day 14, the customers at or above
  the threshold; per customer, a churner counts as detected when flagged on or before its
  cancellation day, anyone else flagged is a false alarm.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus_crm.analytics.churn.config import ChurnConfig
from nexus_crm.analytics.churn.service import evaluate_churn, scored
from nexus_crm.cli.db import migrate
from nexus_crm.db import create_engine
from nexus_crm.settings import Settings
from nexus_crm.simulate.load import load_history
from nexus_crm.simulate.population import Population, build_population
from nexus_crm.wiring import open_sessions

UTC_TZ = ZoneInfo("UTC")


async def main(args: argparse.Namespace) -> None:
    path = Path(args.db or tempfile.mkdtemp()) / "churn.db"
    settings = Settings(DATABASE_URL=f"sqlite+aiosqlite:///{path}")
    end = datetime.fromisoformat(args.end).replace(tzinfo=UTC)
    first = end.date() - timedelta(days=args.days)
    pop = build_population(
        seed=args.seed, size=args.customers, days=args.days, first_day=first, tz=UTC_TZ
    )
    engine = create_engine(settings)
    sessions = open_sessions(engine, settings)
    if not path.exists() or args.reload:
        path.unlink(missing_ok=True)
        await migrate(settings)
        t0 = time.perf_counter()
        n = await load_history(sessions, settings, pop, end)
        print(f"loaded {n} events in {time.perf_counter() - t0:.1f} s")
    churners = {c.user_id: c for c in pop.customers if c.cancel_day is not None}
    print(
        f"seed {args.seed}: {len(pop.customers)} customers, {len(churners)} churners, "
        f"first day {first}"
    )
    for idx in args.as_of:
        async with sessions() as s:
            t0 = time.perf_counter()
            ev = await evaluate_churn(
                s,
                as_of=first + timedelta(days=idx),
                horizon=args.horizon,
                tz=UTC_TZ,
                threshold=args.threshold,
                config=ChurnConfig(),
            )
            dt = time.perf_counter() - t0
        print(describe(idx, ev, dt))
    if args.replay:
        await replay(sessions, pop, first, args)
    await engine.dispose()


def _r(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def describe(idx: int, ev: Any, dt: float) -> str:
    m = ev.model
    return (
        f"as-of day {idx} ({ev.as_of}) {m.kind} rows={m.training_rows} "
        f"pos={m.training_positives} val={m.validation_auc} | customers={ev.customers} "
        f"positives={ev.positives} auc={_r(ev.auc)} lift={_r(ev.top_decile_lift, 2)} "
        f"alerts={ev.alerts} precision={_r(ev.precision)} recall={_r(ev.recall)} ({dt:.1f} s)"
    )


async def replay(
    sessions: async_sessionmaker[AsyncSession],
    pop: Population,
    first: date,
    args: argparse.Namespace,
) -> None:
    """Daily scores from day 14; per customer the highest probability it was given while
    active (churners: up to their cancellation day); then precision/recall per threshold."""
    cfg = ChurnConfig(CHURN_HORIZON_DAYS=args.horizon, CHURN_CACHE_SECONDS=0)
    peak: dict[str, tuple[float, int, str]] = {}
    kinds: dict[str, int] = {}
    for d in range(14, args.days):
        async with sessions() as s:
            result = await scored(s, as_of=first + timedelta(days=d), tz=UTC_TZ, config=cfg)
        kinds[result.info.kind] = kinds.get(result.info.kind, 0) + 1
        for sc in result.scores:
            if sc.probability > peak.get(sc.user_id, (-1.0, 0, ""))[0]:
                peak[sc.user_id] = (sc.probability, d, result.info.kind)
    churners = [c for c in pop.customers if c.cancel_day is not None]
    print(f"replay days 14..{args.days - 1}, models used {kinds}")
    for cut in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95):
        tp = sum(peak.get(c.user_id, (0.0, 0, ""))[0] >= cut for c in churners)
        fps = [
            (c.user_id, c.persona, *peak[c.user_id])
            for c in pop.customers
            if c.cancel_day is None and peak.get(c.user_id, (0.0, 0, ""))[0] >= cut
        ]
        print(
            f"  threshold {cut}: churners flagged {tp}/{len(churners)} "
            f"recall {tp / len(churners):.3f}, "
            f"false alarms {len(fps)}, precision {tp / max(1, tp + len(fps)):.3f}"
        )
        if cut == args.threshold:
            for fp in fps:
                print("    false alarm", fp)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--end", default="2026-03-01", help="history ends (UTC midnight)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--customers", type=int, default=300)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--horizon", type=int, default=30)
    p.add_argument("--threshold", type=float, default=0.9)
    p.add_argument("--as-of", type=int, nargs="*", default=[50, 58, 65])
    p.add_argument("--db", help="directory of the SQLite file (kept for re-runs)")
    p.add_argument("--reload", action="store_true")
    p.add_argument("--replay", action="store_true")
    asyncio.run(main(p.parse_args()))
