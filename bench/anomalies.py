"""Anomaly detection against the simulator's planted spike days (docs/analytics.md, "Anomalies").

Generates a population in process (no server), aggregates it into the daily customer ×
agent counts the server keeps, runs the detector over every day and prints, per method,
the recall of planted spike days, false spike customer-days per 100 customer-days, drops
(reported apart: the truth plants no drop) and anomalies of the agents' global series.

    .venv/bin/python bench/anomalies.py --seed 101 --seed 202 --customers 300 --days 90
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from nexus_crm.analytics.anomaly_engine import METHODS, AnomalyConfig, detect_days, global_series
from nexus_crm.simulate.population import build_population
from nexus_crm.simulate.scoring import daily_counts, first_uses, score_anomalies


def run(seed: int, customers: int, days: int, cfg: AnomalyConfig) -> None:
    """Score every method on one seed."""
    pop = build_population(
        seed=seed, size=customers, days=days, first_day=date(2026, 1, 5), tz=ZoneInfo("UTC")
    )
    counts = daily_counts(pop, pop.timeline.start(days))
    firsts = first_uses(counts)
    totals, total_firsts = global_series(counts, firsts)
    series, all_firsts = {**counts, **totals}, {**firsts, **total_firsts}
    window = [pop.timeline.date(0) + timedelta(days=i) for i in range(days)]
    for method in METHODS:
        started = time.perf_counter()
        found = detect_days(series, all_firsts, window, replace(cfg, method=method))
        spent = time.perf_counter() - started
        flags = [(a.user_id, a.day, a.direction) for a in found if a.user_id is not None]
        s = score_anomalies(pop, counts, flags, window)
        print(
            f"seed {seed} {method:6}: recall {s.found}/{s.planted} = {s.recall:.3f}, "
            f"false spikes {s.false_spikes} = {s.false_per_100:.3f}/100 customer-days "
            f"({dict(s.false_by_persona)}), drops {s.drops} = {s.drops_per_100:.3f}/100, "
            f"global anomalies {sum(a.user_id is None for a in found)}, "
            f"{s.customer_days} customer-days, {spent:.1f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, action="append", default=[])
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--threshold", type=float, default=AnomalyConfig.z_threshold)
    parser.add_argument("--min-history", type=int, default=AnomalyConfig.min_history_days)
    parser.add_argument("--min-excess", type=float, default=AnomalyConfig.min_excess)
    args = parser.parse_args()
    cfg = AnomalyConfig(
        z_threshold=args.threshold, min_history_days=args.min_history, min_excess=args.min_excess
    )
    for seed in args.seed or [101, 202]:
        run(seed, args.customers, args.days, cfg)


if __name__ == "__main__":
    main()
