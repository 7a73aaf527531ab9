"""Score the alerts of a replay against the simulator's truth (docs/analytics.md, "Measured
quality").

Customer-level scoring, as docs/simulator.md suggests: a detector *flags* a customer when
it raised an alert about it; precision = flagged customers that deserved it ÷ flagged
customers, recall = customers that deserved it and were flagged in time ÷ those that
deserved it. Each scorer returns a ``Score`` with the figures, the target of the issue and
whether it is met.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.models import UsageAlert
from nexus_crm.simulate.limit_check import Raise
from nexus_crm.simulate.population import Population
from nexus_crm.simulate.scoring import DailyCounts, score_anomalies

DETECTION_LIMIT = timedelta(hours=1)


@dataclass(frozen=True)
class Flag:
    """One alert of the replay: about whom, when it was open, what it says."""

    alert_type: str
    user_id: str | None
    agent_id: str | None
    period_key: str
    raised_at: datetime
    closed_at: datetime | None
    data: dict[str, Any]


@dataclass
class Score:
    """One detector's figures against the truth, and its target."""

    detector: str
    precision: float | None
    recall: float | None
    target: str
    met: bool
    figures: dict[str, Any] = field(default_factory=dict)


async def load_flags(session: AsyncSession) -> list[Flag]:
    """Every alert the replay raised, oldest first."""
    a = UsageAlert
    rows = await session.execute(select(a).order_by(a.created_at, a.id))
    return [
        Flag(
            x.alert_type,
            x.user_id,
            x.agent_id,
            x.period_key,
            x.created_at,
            x.resolved_at or x.dismissed_at,
            dict(x.data),
        )
        for x in rows.scalars()
    ]


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 3) if den else None


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _open_during(f: Flag, start: datetime, end: datetime | None) -> bool:
    """Whether the alert was open at some instant of ``[start, end)``."""
    closed = f.closed_at or datetime.max.replace(tzinfo=f.raised_at.tzinfo)
    return f.raised_at < (end or closed) and closed > start


def _by_user(flags: Iterable[Flag], alert_type: str) -> dict[str, list[Flag]]:
    out: dict[str, list[Flag]] = defaultdict(list)
    for f in flags:
        if f.alert_type == alert_type and f.user_id is not None:
            out[f.user_id].append(f)
    return out


def score_churn(truth: dict[str, Any], flags: Sequence[Flag], end: datetime) -> Score:
    """A churner counts when a churn_risk alert about it was raised before it cancelled.

    Recall is over the churners that cancelled before ``end``; a customer flagged before a
    cancellation that falls after ``end`` is a right flag, not a false alarm.
    """
    by_user = _by_user(flags, "churn_risk")
    cancels = {
        c["user_id"]: _when(c["cancelled_at"]) or end for c in truth["customers"] if c["churned"]
    }
    hits = {u for u, at in cancels.items() if any(f.raised_at <= at for f in by_user.get(u, []))}
    due = {u for u, at in cancels.items() if at < end}
    precision, recall = _ratio(len(hits), len(by_user)), _ratio(len(hits & due), len(due))
    return Score(
        "churn_risk",
        precision,
        recall,
        "precision ≥ 0.9 and recall ≥ 0.8",
        (precision or 0) >= 0.9 and (recall or 0) >= 0.8,
        {
            "churners_cancelled": len(due),
            "flagged": len(by_user),
            "true_positives": len(hits),
            "false_alarms": sorted(set(by_user) - set(cancels)),
            "missed": sorted(due - hits),
        },
    )


def _worthy(c: dict[str, Any], tz: tzinfo | None) -> tuple[datetime, datetime | None]:
    """The instants between which a customer deserved an upgrade alert (local days)."""
    start = datetime.combine(date.fromisoformat(c["upgrade_worthy_from"]), time(), tzinfo=tz)
    return start, _when(c["upgraded_at"])


def score_upgrades(truth: dict[str, Any], flags: Sequence[Flag], first: datetime) -> Score:
    """A worthy customer counts when an upgrade alert about it was open while it was worthy."""
    by_user = _by_user(flags, "upgrade_opportunity")
    worthy = {
        c["user_id"]: _worthy(c, first.tzinfo)
        for c in truth["customers"]
        if c["upgrade_worthy"] and c["upgrade_worthy_from"]
    }
    hits = {
        u for u, (s, e) in worthy.items() if any(_open_during(f, s, e) for f in by_user.get(u, []))
    }
    precision, recall = _ratio(len(hits), len(by_user)), _ratio(len(hits), len(worthy))
    return Score(
        "upgrade_opportunity",
        precision,
        recall,
        "precision ≥ 0.9 and recall ≥ 0.8",
        (precision or 0) >= 0.9 and (recall or 0) >= 0.8,
        {
            "worthy": len(worthy),
            "flagged": len(by_user),
            "true_positives": len(hits),
            "false_alarms": sorted(set(by_user) - set(worthy)),
            "missed": sorted(set(worthy) - hits),
        },
    )


def score_anomaly_alerts(
    pop: Population, counts: DailyCounts, flags: Sequence[Flag], days: Sequence[date]
) -> Score:
    """Planted spike days against anomaly_detected alerts about customers (one per day)."""
    found = [
        (f.user_id, date.fromisoformat(f.period_key), a["direction"])
        for f in flags
        if f.alert_type == "anomaly_detected" and f.user_id is not None
        for a in f.data.get("agents", [])
    ]
    s = score_anomalies(pop, counts, found, days)
    false_rate = round(s.false_per_100, 3)
    return Score(
        "anomaly_detected",
        None,
        round(s.recall, 3),
        "recall of planted days ≥ 0.9, ≤ 1 false anomaly per 100 customer-days",
        s.recall >= 0.9 and s.false_per_100 <= 1.0,
        {
            "planted": s.planted,
            "found": s.found,
            "false_spike_days": s.false_spikes,
            "false_per_100_customer_days": false_rate,
            "drop_days": s.drops,
            "customer_days": s.customer_days,
            "false_by_persona": dict(s.false_by_persona),
        },
    )


def _window_result(
    w: dict[str, Any], agent: str, raised: Sequence[Flag], end: datetime
) -> dict[str, Any]:
    start, stop = _when(w["start"]), _when(w["end"]) or end
    assert start is not None
    hits = [f for f in raised if f.agent_id == agent and start <= f.raised_at <= stop]
    delay = (hits[0].raised_at - start) if hits else None
    return {
        "agent": agent,
        "start": w["start"],
        "end": w["end"],
        "alerts": len(hits),
        "delay_minutes": None if delay is None else round(delay.total_seconds() / 60, 1),
        "within_limit": delay is not None and delay <= DETECTION_LIMIT,
    }


def score_degradation(truth: dict[str, Any], flags: Sequence[Flag], end: datetime) -> Score:
    """Each planted window must raise an alert within an hour of its onset."""
    raised = [f for f in flags if f.alert_type == "performance_degradation"]
    windows = [
        _window_result(w, a["agent_id"], raised, end)
        for a in truth["agents"]
        for w in a["degradations"]
    ]
    in_window = {
        id(f)
        for a in truth["agents"]
        for w in a["degradations"]
        for f in raised
        if f.agent_id == a["agent_id"]
        and _open_during(f, _when(w["start"]) or end, _when(w["end"]))
    }
    detected = sum(w["within_limit"] for w in windows)
    recall = _ratio(detected, len(windows))
    return Score(
        "performance_degradation",
        _ratio(len(in_window), len(raised)),
        recall,
        "every planted window detected within 1 hour of onset",
        detected == len(windows),
        {"windows": windows, "alerts": len(raised), "false_alerts": len(raised) - len(in_window)},
    )


def score_limits(expected: Sequence[Raise], flags: Sequence[Flag]) -> Score:
    """Limit alerts must be exactly those the independent account expects, at the same instant."""
    kinds = ("usage_limit_approaching", "usage_limit_exceeded")
    actual = {
        (f.user_id or "", f.alert_type, f.period_key, f.raised_at)
        for f in flags
        if f.alert_type in kinds
    }
    wanted = set(expected)
    hits = actual & wanted
    return Score(
        "usage_limit (approaching, exceeded)",
        _ratio(len(hits), len(actual)),
        _ratio(len(hits), len(wanted)),
        "exactly the expected alerts",
        actual == wanted,
        {
            "expected": len(wanted),
            "raised": len(actual),
            "unexpected": [_show(r) for r in sorted(actual - wanted)][:10],
            "missing": [_show(r) for r in sorted(wanted - actual)][:10],
        },
    )


def _show(r: Raise) -> str:
    return f"{r[0]} {r[1]} period {r[2]} at {r[3].isoformat()}"
