"""The truth file: what was planted in a simulated history (docs/simulator.md, the schema
in docs/truth.schema.json)."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from nexus_crm.simulate.generator import Day, subscription_updates
from nexus_crm.simulate.personas import Customer
from nexus_crm.simulate.population import GENERATOR_VERSION, Population
from nexus_crm.simulate.profiles import AGENTS, DAYS_PER_MONTH, monthly_capacity
from nexus_crm.tiers import DEFAULT_TIERS

FORMAT = "nexus-crm-simulation-truth"
VERSION = 1


@dataclass
class Tally:
    """What a pass over the history produced, per customer."""

    events: Counter[str] = field(default_factory=Counter)
    first: dict[str, str] = field(default_factory=dict)
    last: dict[str, str] = field(default_factory=dict)
    subscriptions: int = 0

    def observe(self, day: Day) -> None:
        """Count one day's events and subscription updates."""
        self.subscriptions += len(day.subscriptions)
        for e in day.events:  # ISO strings of one format sort in time order
            user, at = e["user_id"], e["timestamp"]
            self.events[user] += 1
            self.first.setdefault(user, at)
            self.last[user] = max(self.last.get(user, at), at)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _date(pop: Population, day: int | None) -> str | None:
    return None if day is None else pop.timeline.date(day).isoformat()


def usage_fraction(c: Customer, day: int, at: datetime) -> float:
    """Expected monthly-equivalent usage on ``day`` as a share of the tier held at ``at``."""
    capacity = monthly_capacity(c.tier_at(at), c.mean_tokens)
    return round(c.level(day) * DAYS_PER_MONTH / capacity, 4)


def _persona_facts(pop: Population, c: Customer) -> dict[str, Any]:
    return {
        "upgrade_worthy": c.persona == "upgrade_worthy",
        "upgrade_worthy_from": _date(pop, c.worthy_day),
        "upgrade_accepted": c.upgrade_at is not None,
        "upgraded_at": _iso(c.upgrade_at),
        "upgraded_to": c.upgrade_tier,
        "churned": c.cancel_at is not None,
        "decline_start": _date(pop, c.decline_day),
        "cancellation_date": _date(pop, c.cancel_day),
        "cancelled_at": _iso(c.cancel_at),
        "dormant_since": _date(pop, c.stop_day) if c.persona == "dormant" else None,
        "never_started": c.never_started,
        "anomaly_days": [
            {"date": _date(pop, d), "factor": f, "kind": "spike"} for d, f in c.anomalies
        ],
    }


def customer_truth(pop: Population, c: Customer, end: datetime, tally: Tally) -> dict[str, Any]:
    """One customer's entry."""
    subs = [u for u in subscription_updates(c) if u.timestamp < end]
    last_day = pop.timeline.last_full_index(end)
    return {
        "user_id": c.user_id,
        "name": c.name,
        "email": c.email,
        "persona": c.persona,
        "initial_tier": c.tier,
        "final_tier": subs[-1].tier if subs else c.tier,
        "final_status": subs[-1].status if subs else "active",
        "subscribed_at": _iso(c.subscribed_at),
        "baseline_daily_interactions": round(c.base_daily, 3),
        "mean_tokens_per_interaction": c.mean_tokens,
        "usage_fraction_start": usage_fraction(c, c.first_day, pop.timeline.start(c.first_day)),
        "usage_fraction_end": usage_fraction(c, last_day, end),
        "peak_usage_fraction": c.growth.f1 if c.growth else None,
        "peak_usage_from": _date(pop, c.growth.g1) if c.growth else None,
        "agent_mix": {a: round(s, 4) for a, s in c.agents},
        "events": tally.events[c.user_id],
        "first_event_at": tally.first.get(c.user_id),
        "last_event_at": tally.last.get(c.user_id),
        **_persona_facts(pop, c),
        "subscription_events": [
            {"timestamp": _iso(u.timestamp), "tier": u.tier, "status": u.status} for u in subs
        ],
    }


def _agents(pop: Population, end: datetime) -> list[dict[str, Any]]:
    return [
        {
            "agent_id": agent,
            "median_response_time_ms": median,
            "degradations": [
                {"start": _iso(d.start), "end": _iso(d.end), "factor": d.factor}
                for d in pop.degradations
                if d.agent_id == agent and d.start < end
            ],
        }
        for agent, (_, median) in AGENTS.items()
    ]


def _window(pop: Population, end: datetime) -> dict[str, Any]:
    last: date = pop.timeline.date(pop.timeline.last_index(end))
    return {
        "start": _iso(pop.timeline.start(0)),
        "end": _iso(end),
        "first_day": pop.timeline.first_day.isoformat(),
        "last_day": last.isoformat(),
        "days": pop.timeline.last_index(end) + 1,
        "timezone": pop.timeline.tz.key,
    }


def build_truth(pop: Population, end: datetime, tally: Tally) -> dict[str, Any]:
    """The whole truth document of ``pop``'s history up to ``end``."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "parameters": {
            "seed": pop.seed,
            "customers": pop.size,
            "days": pop.days,
            "first_day": pop.timeline.first_day.isoformat(),
            "timezone": pop.timeline.tz.key,
            "run_tag": pop.run_tag,
            "generator_version": GENERATOR_VERSION,
        },
        "window": _window(pop, end),
        "tier_limits": {
            t["tier"]: {
                "rank": t["rank"],
                "monthly_tokens": t["monthly_tokens"],
                "monthly_interactions": t["monthly_interactions"],
            }
            for t in DEFAULT_TIERS
        },
        "totals": {
            "events": sum(tally.events.values()),
            "subscription_updates": tally.subscriptions,
            "personas": dict(Counter(c.persona for c in pop.customers)),
        },
        "agents": _agents(pop, end),
        "customers": [customer_truth(pop, c, end, tally) for c in pop.customers],
    }


def write_truth(path: Path, truth: dict[str, Any]) -> None:
    """Write ``truth`` as JSON, atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(truth, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_truth(path: Path) -> dict[str, Any] | None:
    """A truth file's content, or None when missing or not a truth file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None
