"""Markdown for people: usage insights, patterns and one customer's usage.

Each renderer takes the REST API's JSON answer (a dict) and returns Markdown; the same JSON
goes out as the tool's structured content, so nothing here needs to be exhaustive.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

Json = dict[str, Any]


def num(value: Any) -> str:
    """``12,345`` for numbers, ``—`` for null."""
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def pct(value: Any, *, signed: bool = False) -> str:
    """``12.3 %`` (``+12.3 %`` when signed), ``—`` for null."""
    if value is None:
        return "—"
    return f"{float(value):+.1f} %" if signed else f"{float(value):.1f} %"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table; ``_none_`` when there are no rows."""
    lines = [f"| {' | '.join(str(c) for c in row)} |" for row in rows]
    if not lines:
        return "_none_"
    head = f"| {' | '.join(headers)} |\n|{'---|' * len(headers)}"
    return "\n".join([head, *lines])


def _window(window: Json) -> str:
    return f"{window['start']} → {window['end']}, {window['timezone']}"


def _totals(totals: Json) -> str:
    return (
        f"**{num(totals['interactions'])} interactions** · {num(totals['tokens'])} tokens · "
        f"{num(totals['active_users'])} active users · avg {num(totals['avg_response_time_ms'])}"
        f" ms · p95 {num(totals['p95_response_time_ms'])} ms"
    )


def _change(change: Json) -> str:
    return (
        f"interactions {pct(change['interactions_pct'], signed=True)}, tokens "
        f"{pct(change['tokens_pct'], signed=True)}, active users "
        f"{pct(change['active_users_pct'], signed=True)}, avg response time "
        f"{pct(change['avg_response_time_pct'], signed=True)}"
    )


def insights(data: Json) -> str:
    """``GET /insights``: totals, changes, per agent and per tier."""
    days = data["window"]["days"]
    agents = table(
        ["Agent", "Interactions", "Tokens", "Users", "Avg ms", "p95 ms"],
        (
            [
                a["agent_id"],
                num(a["interactions"]),
                num(a["tokens"]),
                num(a["users"]),
                num(a["avg_response_time_ms"]),
                num(a["p95_response_time_ms"]),
            ]
            for a in data["agents"]
        ),
    )
    tiers = table(
        ["Tier", "Users", "Interactions", "Tokens"],
        (
            [t["tier"], num(t["users"]), num(t["interactions"]), num(t["tokens"])]
            for t in data["tiers"]
        ),
    )
    return "\n\n".join(
        [
            f"## Agent usage — last {days} day(s) ({_window(data['window'])})",
            _totals(data["totals"]),
            f"Against the {days} day(s) before: {_change(data['change'])}.",
            f"Week over week (last 7 complete days): {_change(data['week_over_week']['change'])}.",
            "### By agent",
            agents,
            "### By tier",
            tiers,
        ]
    )


def _trend(t: Json) -> str:
    return (
        f"{t['trend']} ({pct(t['change_pct'], signed=True)} second half vs first, "
        f"{num(t['daily_mean'])}/day)"
    )


def _cohort(name: str, cohort: Json, limit: int = 5) -> str:
    names = ", ".join(
        f"{c['user_id']} ({c['tier']}, {pct(c['change_pct'], signed=True)})"
        for c in cohort["customers"][:limit]
    )
    return f"- **{name}**: {cohort['count']}" + (f" — {names}" if names else "")


def _seasonality(seasonality: Json) -> str:
    weekdays, hours = seasonality["weekday"], seasonality["hour_of_day"]
    if not weekdays:
        return "No use in the window."
    busiest = max(weekdays, key=lambda w: w["mean_interactions"])
    quietest = min(weekdays, key=lambda w: w["mean_interactions"])
    peak = max(hours, key=lambda h: h["mean_interactions"]) if hours else None
    text = f"Busiest weekday {busiest['name']} (index {busiest['index']}), quietest "
    text += f"{quietest['name']} (index {quietest['index']})"
    return text + (f"; peak hour {peak['hour']:02d}:00." if peak else ".")


def patterns(data: Json) -> str:
    """``GET /patterns``: overall trend, agents, cohorts, seasonality, top by % of limit."""
    agents = table(
        ["Agent", "Trend", "Change", "Per day"],
        (
            [a["agent_id"], a["trend"], pct(a["change_pct"], signed=True), num(a["daily_mean"])]
            for a in data["agents"]
        ),
    )
    top = table(
        ["Customer", "Tier", "% of limit"],
        (
            [c["user_id"], c["tier"], pct(c["usage_percentage"])]
            for c in data["top_customers"]["by_limit_pct"]
        ),
    )
    cohorts = data["customers"]
    return "\n\n".join(
        [
            f"## Usage patterns — {data['window']['days']} complete days "
            f"({_window(data['window'])})",
            f"Overall: {_trend(data['overall'])}.",
            "### Agents",
            agents,
            "### Customer cohorts",
            "\n".join(
                _cohort(n, cohorts[n]) for n in ("growing", "declining", "dormant", "stable")
            ),
            "### Seasonality",
            _seasonality(data["seasonality"]),
            "### Closest to their limit this period",
            top,
        ]
    )


def _churn(churn: Json | None) -> str:
    if churn is None:
        return "Churn: not scored (the customer was not active at the start of today)."
    drivers = "; ".join(d["text"] for d in churn["drivers"]) or "no strong driver"
    return (
        f"Churn probability (30 days): **{pct(churn['probability'] * 100)}** — {drivers}. "
        f"CLV ${num(churn['clv'])} (${num(churn['monthly_price'])}/month × "
        f"{num(churn['expected_lifetime_months'])} months)."
    )


def customer(data: Json) -> str:
    """``GET /customers/{id}``: tier, period usage against limits, agents, days, churn."""
    u = data["usage"]
    agents = table(
        ["Agent", "Interactions", "Tokens"],
        ([a["agent_id"], num(a["interactions"]), num(a["tokens"])] for a in data["agents"]),
    )
    days = table(
        ["Day", "Interactions", "Tokens"],
        ([d["day"], num(d["interactions"]), num(d["tokens"])] for d in data["daily"][-7:]),
    )
    who = " · ".join(x for x in (data.get("name"), data.get("email")) if x)
    return "\n\n".join(
        [
            f"## Customer {data['user_id']}" + (f" ({who})" if who else ""),
            f"Tier **{data['tier']}**, subscription {data['status']}.",
            f"Billing period {u['period_start']} → {u['period_end']}: "
            f"**{pct(u['usage_percentage'])} of the limit** — "
            f"tokens {num(u['tokens_used'])} / {num(u['token_limit'])} "
            f"({pct(u['tokens_percentage'])}), interactions {num(u['interactions_used'])} / "
            f"{num(u['interaction_limit'])} ({pct(u['interactions_percentage'])}).",
            "### Agents this period",
            agents,
            "### Last 7 days",
            days,
            _churn(data.get("churn")),
        ]
    )
