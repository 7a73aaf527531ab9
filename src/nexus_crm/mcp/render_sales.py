"""Markdown for people: alerts, churn risks, business metrics and upsell sequences."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from nexus_crm.mcp.render import Json, num, pct, table

SEVERITY_ORDER = MappingProxyType({"critical": 0, "warning": 1, "info": 2})
PAST = MappingProxyType(
    {
        "acknowledge": "acknowledged",
        "resolve": "resolved",
        "dismiss": "dismissed",
        "snooze": "snoozed",
    }
)
SOURCES = MappingProxyType(
    {"upgrade_alerts": "upgrade alerts", "upsell_sequences": "upsell sequences"}
)


def _alert_line(a: Json) -> str:
    who = a.get("user_id") or a.get("agent_id") or a["subject"]
    snoozed = f", snoozed until {a['snoozed_until']}" if a.get("snoozed_until") else ""
    return (
        f"- **{a['severity']}** `{a['alert_type']}` — {who}: {a['title']}. {a['message']} "
        f"(status {a['status']}{snoozed}; since {a['created_at'][:16]}; id `{a['id']}`)"
    )


def alerts(data: Json) -> str:
    """``GET /alerts``: open alerts, most severe first, each with its id for actions."""
    items = sorted(data["alerts"], key=lambda a: SEVERITY_ORDER.get(a["severity"], 3))
    if not items:
        return "## Open alerts\n\nNo open alerts: no customer is near a limit or at risk now."
    counts: dict[str, int] = {}
    for a in items:
        counts[a["alert_type"]] = counts.get(a["alert_type"], 0) + 1
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    return "\n\n".join(
        [
            f"## Open alerts ({data['count']})",
            summary,
            "\n".join(_alert_line(a) for a in items),
        ]
    )


def alert_action(data: Json, action: str) -> str:
    """An alert after a lifecycle action."""
    last = data["history"][-1] if data.get("history") else None
    note = f"\n\nNote: {last['note']}" if last and last.get("note") else ""
    done = PAST.get(action, action)
    head = f"Alert `{data['id']}` {done}; its status is now **{data['status']}**."
    return f"{head}\n\n{_alert_line(data)}{note}"


def churn_risks(data: Json) -> str:
    """``GET /churn-risks``: customers by churn probability with drivers and CLV."""
    rows = (
        [
            c["user_id"],
            c["tier"],
            pct(c["probability"] * 100),
            f"${num(c['clv'])}",
            "; ".join(d["text"] for d in c["drivers"][:2]),
        ]
        for c in data["customers"]
    )
    model = data["model"]
    return "\n\n".join(
        [
            f"## Churn risk — next {model['horizon_days']} days (as of {data['as_of']})",
            f"{data['count']} active customers scored by the `{model['kind']}` model; the "
            f"{len(data['customers'])} most at risk:",
            table(["Customer", "Tier", "Churn probability", "CLV", "Main drivers"], rows),
        ]
    )


def _conversion(data: Json) -> str:
    return table(
        ["Tier", "Attempts", "Started", "Converted", "Pending", "Rate"],
        (
            [
                c["tier_name"],
                SOURCES.get(c["source"], c["source"]),
                num(c["started"]),
                num(c["converted"]),
                num(c["pending"]),
                pct(c["rate"] * 100) if c["rate"] is not None else "—",
            ]
            for c in data["conversion"]
        ),
    )


def _forecasts(data: Json) -> str:
    return table(
        ["Agent", "Method", "Next 7 days", "Next 30 days"],
        (
            [
                f["agent_id"],
                f["interactions"]["method"],
                num(f["interactions"]["next_7_days"]),
                num(f["interactions"]["next_30_days"]),
            ]
            for f in data["forecasts"]
        ),
    )


def _value(data: Json) -> str:
    rev, value, churn = (
        data["revenue_opportunity"],
        data["customer_value"],
        data["churn_distribution"],
    )
    mean = pct(churn["mean"] * 100) if churn["mean"] is not None else "—"
    return (
        f"Revenue opportunity: **{rev['currency']} {rev['expected_revenue_monthly']}/month "
        f"expected** (of {rev['total_revenue_delta_monthly']}/month if every open upgrade "
        f"converted). Customer lifetime value: ${num(value['total_clv'])} over "
        f"{num(value['customers'])} active customers. Mean churn probability {mean}."
    )


def business(data: Json) -> str:
    """``GET /business-metrics``: conversion, revenue opportunity, agents, CLV, forecasts."""
    agents = table(
        ["Agent", "Interactions", "Share", "Avg ms", "p95 ms"],
        (
            [
                a["agent_id"],
                num(a["interactions"]),
                pct(a["interactions_share"] * 100),
                num(a["avg_response_time_ms"]),
                num(a["p95_response_time_ms"]),
            ]
            for a in data["agents"]
        ),
    )
    active = table(
        ["Tier", "Active 7 days", "Active 30 days"],
        ([t["tier"], num(t["last_7_days"]), num(t["last_30_days"])] for t in data["active_users"]),
    )
    return "\n\n".join(
        [
            f"## Business metrics (as of {data['as_of']}, last {data['window']['days']} days)",
            _value(data),
            "### Conversion per tier",
            _conversion(data),
            "### Agent performance",
            agents,
            "### Active users per tier",
            active,
            "### Interaction forecast",
            _forecasts(data),
        ]
    )


def _step(position: int, step: Json) -> str:
    sent = f", sent {str(step['sent_at'])[:16]}" if step.get("sent_at") else ""
    return (
        f"{position}. {step.get('kind', 'step')} by {step.get('channel', '?')} — due "
        f"{str(step.get('due_at'))[:16]}, {step.get('status', '?')}{sent}"
    )


def sequence(data: Json) -> str:
    """``POST /upsell-sequences``: the sequence started, or the one already running."""
    seq: dict[str, Any] = data["sequence"]
    head = (
        "Upsell sequence started"
        if data.get("created")
        else "An upsell sequence was already active for this customer (nothing new started)"
    )
    steps = "\n".join(_step(i, s) for i, s in enumerate(seq.get("steps") or [], 1))
    return "\n\n".join(
        [
            f"## {head}",
            f"Customer **{seq['user_id']}**: {seq['current_tier']} → **{seq['recommended_tier']}**"
            f" · status {seq['status']} · id `{seq['id']}`",
            f"Reason: {seq['reason']}",
            "### Steps (NGX_Closer.Agent)",
            steps or "_no steps_",
        ]
    )
