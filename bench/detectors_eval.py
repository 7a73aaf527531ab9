"""Score the upgrade and degradation detectors on a simulated history (docs/analytics.md).

The history of a population is replayed in simulated time, in steps of ``--step`` minutes
(default 5, the scheduler interval): at each step the events and subscription updates
stamped before it are ingested (as the webhook would, received at that instant), then the
degradation rule runs and its findings are applied; once a day at ``--upgrade-hour`` UTC
the upgrade service lists opportunities. The result is scored against the truth.

    .venv/bin/python bench/detectors_eval.py --seed 7 --customers 300 --days 90
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from nexus_crm.alerts.flows import apply_findings
from nexus_crm.alerts.rules import AlertPolicy, RuleContext, degradation_rule
from nexus_crm.analytics.upgrades import UpgradePolicy, find_upgrade_opportunities
from nexus_crm.cli.db import migrate
from nexus_crm.db import create_engine, transaction
from nexus_crm.ingest.service import ingest_payload, record_subscription
from nexus_crm.settings import Settings
from nexus_crm.simulate.generator import history
from nexus_crm.simulate.population import Population, build_population
from nexus_crm.wiring import open_sessions


@dataclass
class Observed:
    """What the detectors did during the replay."""

    flags: dict[str, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    # agent, at, severity, why (reasons and the window's interactions)
    raised: list[tuple[str, datetime, str, str]] = field(default_factory=list)
    resolved: list[tuple[str, datetime]] = field(default_factory=list)


def _ts(e: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(e["timestamp"])


async def replay(
    pop: Population, end: datetime, url: str, step: timedelta, upgrade_hour: int, threshold: float
) -> Observed:
    """Ingest the history step by step, evaluating the detectors as the scheduler would."""
    settings = Settings(DATABASE_URL=url)
    await migrate(settings)
    sessions = open_sessions(create_engine(settings), settings)
    days = list(history(pop, end))
    events = sorted((e for d in days for e in d.events), key=_ts)
    updates = sorted((u for d in days for u in d.subscriptions), key=lambda u: u.timestamp)
    policy, seen = AlertPolicy(upgrade=UpgradePolicy(threshold_pct=threshold)), Observed()
    t, ei, ui, n = pop.timeline.start(0) + step, 0, 0, 0
    while t <= end:
        batch: list[dict[str, Any]] = []
        while ei < len(events) and _ts(events[ei]) < t:
            batch.append(events[ei])
            ei += 1
        due = []
        while ui < len(updates) and updates[ui].timestamp < t:
            due.append(updates[ui])
            ui += 1
        async with transaction(sessions) as s:
            for u in due:
                await record_subscription(s, payload=u.payload(), settings=settings, received_at=t)
            for i in range(0, len(batch), 5000):
                await ingest_payload(
                    s,
                    payload={"events": batch[i : i + 5000]},
                    webhook_id=f"eval-{n}-{i}",
                    settings=settings,
                    received_at=t,
                )
            changes = await apply_findings(
                s, findings=await degradation_rule(s, RuleContext(now=t, policy=policy)), now=t
            )
            if t.hour == upgrade_hour and t.minute == 0:
                for o in await find_upgrade_opportunities(s, today=t.date(), policy=policy.upgrade):
                    seen.flags[o.user_id].append(t)
        seen.raised += [
            (
                a.agent_id or "",
                t,
                a.severity,
                f"{a.data['reasons']} n={a.data['window']['interactions']}",
            )
            for a in changes.raised
        ]
        seen.resolved += [(a.agent_id or "", t) for a in changes.resolved]
        t, n = t + step, n + 1
    return seen


def score_upgrades(pop: Population, seen: Observed) -> dict[str, Any]:
    """Customer-level precision/recall (a flag while upgrade-worthy is a true positive)."""
    first = pop.timeline.date(0)
    tp, early, fp, fn = [], [], [], []
    for c in pop.customers:
        flags = seen.flags.get(c.user_id, [])
        if c.persona != "upgrade_worthy" or c.worthy_day is None:
            if flags:
                fp.append((c.user_id, c.persona, flags[0].date().isoformat()))
            continue
        worthy = first + timedelta(days=c.worthy_day)
        ok = [f for f in flags if f.date() >= worthy and (c.upgrade_at is None or f < c.upgrade_at)]
        if ok:
            tp.append((c.user_id, (ok[0].date() - worthy).days))
        else:
            fn.append((c.user_id, worthy.isoformat(), c.upgrade_at and c.upgrade_at.isoformat()))
        if any(f.date() < worthy for f in flags):
            early.append(c.user_id)
    positives = sum(1 for c in pop.customers if c.persona == "upgrade_worthy")
    flagged = len(tp) + len(fp) + sum(1 for u, *_ in fn if seen.flags.get(u))
    return {
        "positives": positives,
        "flagged_customers": flagged,
        "true_positives": len(tp),
        "false_positives": fp,
        "missed": fn,
        "flagged_before_worthy": early,
        "precision": round(len(tp) / flagged, 3) if flagged else None,
        "recall": round(len(tp) / positives, 3) if positives else None,
        "days_from_worthy_to_first_flag": sorted(d for _, d in tp),
    }


def score_degradation(pop: Population, seen: Observed, end: datetime) -> dict[str, Any]:
    """Per truth window: detection delay, resolution delay; raised alerts outside windows."""
    windows, matched = [], set()
    for d in pop.degradations:
        hits = [r for r in seen.raised if r[0] == d.agent_id and d.start <= r[1] <= (d.end or end)]
        first_hit = min(hits, key=lambda r: r[1]) if hits else None
        matched.update(hits)
        res = [r for a, r in seen.resolved if a == d.agent_id and d.end and r >= d.end]
        windows.append(
            {
                "agent": d.agent_id,
                "start": d.start.isoformat(),
                "end": d.end.isoformat() if d.end else None,
                "delay_minutes": (first_hit[1] - d.start).total_seconds() / 60
                if first_hit
                else None,
                "alerts_in_window": len(hits),
                "resolved_minutes_after_end": (min(res) - d.end).total_seconds() / 60
                if res and d.end
                else None,
            }
        )
    false = [(a, t.isoformat(), s, w) for a, t, s, w in seen.raised if (a, t, s, w) not in matched]
    return {"windows": windows, "false_alerts": false}


async def main() -> None:
    """Replay one seed and print the scores as JSON."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--customers", type=int, default=300)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--end", default="2025-12-01")
    p.add_argument("--step", type=int, default=5, help="minutes between evaluations")
    p.add_argument("--upgrade-hour", type=int, default=12)
    p.add_argument("--threshold", type=float, default=UpgradePolicy().threshold_pct)
    p.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
    a = p.parse_args()
    end = datetime.combine(date.fromisoformat(a.end), datetime.min.time(), tzinfo=UTC)
    first = end.date() - timedelta(days=a.days)
    pop = build_population(
        seed=a.seed, size=a.customers, days=a.days, first_day=first, tz=ZoneInfo("UTC")
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        url = a.db or f"sqlite+aiosqlite:///{Path(tmp) / 'eval.db'}"
        seen = await replay(pop, end, url, timedelta(minutes=a.step), a.upgrade_hour, a.threshold)
    out = {
        "seed": a.seed,
        "threshold_pct": a.threshold,
        "customers": a.customers,
        "days": a.days,
        "step_minutes": a.step,
        "seconds": round(time.monotonic() - started, 1),
        "upgrades": score_upgrades(pop, seen),
        "degradation": score_degradation(pop, seen, end),
    }
    print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    asyncio.run(main())
