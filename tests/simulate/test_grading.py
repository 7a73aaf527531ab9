"""The scorers of `nexus-crm evaluate` and the independent account of limit alerts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from nexus_crm.simulate import grading
from nexus_crm.simulate.evaluation import Step
from nexus_crm.simulate.generator import SubscriptionUpdate
from nexus_crm.simulate.grading import Flag
from nexus_crm.simulate.limit_check import APPROACHING, EXCEEDED, LimitCheck

T0 = datetime(2025, 11, 1, tzinfo=UTC)
END = datetime(2025, 12, 1, tzinfo=UTC)


def flag(kind: str, user: str | None, at: datetime, **kw: Any) -> Flag:
    return Flag(
        alert_type=kind,
        user_id=user,
        agent_id=kw.get("agent"),
        period_key=kw.get("period", ""),
        raised_at=at,
        closed_at=kw.get("closed"),
        data=kw.get("data", {}),
    )


def customer(user: str, **facts: Any) -> dict[str, Any]:
    base = {
        "user_id": user,
        "churned": False,
        "cancelled_at": None,
        "upgrade_worthy": False,
        "upgrade_worthy_from": None,
        "upgraded_at": None,
    }
    return {**base, **facts}


def test_churn_counts_flags_before_the_cancellation() -> None:
    day = timedelta(days=1)
    truth = {
        "customers": [
            customer("a", churned=True, cancelled_at=(T0 + 10 * day).isoformat()),
            customer("b", churned=True, cancelled_at=(T0 + 10 * day).isoformat()),
            customer("c", churned=True, cancelled_at=(T0 + 20 * day).isoformat()),
            customer("late", churned=True, cancelled_at=(END + 5 * day).isoformat()),
            customer("steady"),
        ]
    }
    flags = [
        flag("churn_risk", "a", T0 + 3 * day),  # in time
        flag("churn_risk", "b", T0 + 11 * day),  # after it cancelled: too late
        flag("churn_risk", "late", T0 + 25 * day),  # cancels after the end: right, not due
        flag("churn_risk", "steady", T0 + 2 * day),  # false alarm
        flag("upgrade_opportunity", "c", T0),  # not a churn alert, not scored
    ]
    s = grading.score_churn(truth, flags, END)
    # flagged a, b, late, steady; right: a, late → 2/4; due a, b, c → found a → 1/3
    assert (s.precision, s.recall, s.met) == (0.5, 0.333, False)
    assert s.figures["false_alarms"] == ["steady"]
    assert s.figures["missed"] == ["b", "c"]


def test_upgrade_alert_open_while_worthy_counts() -> None:
    truth = {
        "customers": [
            customer("early", upgrade_worthy=True, upgrade_worthy_from="2025-11-10"),
            customer("closed", upgrade_worthy=True, upgrade_worthy_from="2025-11-10"),
            customer(
                "took",
                upgrade_worthy=True,
                upgrade_worthy_from="2025-11-10",
                upgraded_at=datetime(2025, 11, 12, tzinfo=UTC).isoformat(),
            ),
            customer("other"),
        ]
    }
    flags = [
        flag("upgrade_opportunity", "early", datetime(2025, 11, 8, tzinfo=UTC)),  # still open
        flag(
            "upgrade_opportunity",
            "closed",
            datetime(2025, 11, 8, tzinfo=UTC),
            closed=datetime(2025, 11, 9, tzinfo=UTC),
        ),
        flag("upgrade_opportunity", "took", datetime(2025, 11, 13, tzinfo=UTC)),  # after
        flag("upgrade_opportunity", "other", datetime(2025, 11, 13, tzinfo=UTC)),
    ]
    s = grading.score_upgrades(truth, flags, T0)
    assert (s.precision, s.recall) == (0.25, 0.333)
    assert s.figures["missed"] == ["closed", "took"]
    assert s.figures["false_alarms"] == ["other"]


def test_degradation_window_needs_an_alert_within_the_hour() -> None:
    onset = datetime(2025, 11, 5, 10, tzinfo=UTC)
    truth = {
        "agents": [
            {"agent_id": "NEXUS", "degradations": [{"start": onset.isoformat(), "end": None}]},
            {
                "agent_id": "SAGE",
                "degradations": [
                    {"start": onset.isoformat(), "end": (onset + timedelta(hours=5)).isoformat()}
                ],
            },
        ]
    }
    flags = [
        flag("performance_degradation", None, onset + timedelta(minutes=20), agent="NEXUS"),
        flag("performance_degradation", None, onset + timedelta(minutes=70), agent="SAGE"),
        flag(
            "performance_degradation",
            None,
            onset - timedelta(days=2),
            agent="SAGE",
            closed=onset - timedelta(days=2) + timedelta(hours=1),
        ),
    ]
    s = grading.score_degradation(truth, flags, END)
    assert [w["delay_minutes"] for w in s.figures["windows"]] == [20.0, 70.0]
    assert (s.recall, s.precision, s.met) == (0.5, 0.667, False)
    assert s.figures["false_alerts"] == 1


def test_limits_must_match_exactly() -> None:
    at = datetime(2025, 11, 3, 10, tzinfo=UTC)
    expected = [("u", APPROACHING, "2025-11-01", at)]
    same = [flag(APPROACHING, "u", at, period="2025-11-01")]
    late = [flag(APPROACHING, "u", at + timedelta(minutes=5), period="2025-11-01")]
    assert grading.score_limits(expected, same).met
    s = grading.score_limits(expected, late)
    assert (s.met, s.precision, s.recall) == (False, 0.0, 0.0)
    assert len(s.figures["missing"]) == len(s.figures["unexpected"]) == 1


def step(
    at: datetime, events: list[dict[str, Any]], updates: tuple[SubscriptionUpdate, ...] = ()
) -> Step:
    return Step(at=at, events=events, updates=updates, daily=False)


def use(user: str, at: datetime, tokens: int, tier: str = "essential") -> dict[str, Any]:
    return {
        "user_id": user,
        "timestamp": at.isoformat(),
        "tokens_used": tokens,
        "subscription_tier": tier,
    }


def test_limit_account_of_crossings_upgrades_and_new_periods() -> None:
    check = LimitCheck(limits={"essential": (1000, 100), "pro": (10_000, 1000)}, tz=UTC)
    t = datetime(2025, 11, 20, 9, tzinfo=UTC)
    five = timedelta(minutes=5)
    check.apply(step(t, [use("u", t - five, 790)]))
    check.apply(step(t + five, [use("u", t, 10)]))
    check.apply(step(t + 2 * five, [use("u", t + five, 150)]))
    up = SubscriptionUpdate("u", "pro", "active", "u@x", "U", t + 2 * five)
    check.apply(step(t + 3 * five, [], (up,)))
    dec = datetime(2025, 12, 1, 0, 1, tzinfo=UTC)
    check.apply(step(dec + five, [use("u", dec, 9_000, "pro")]))
    assert check.raises == [
        ("u", APPROACHING, "2025-11-01", t + five),  # 800 of 1,000 tokens: 80 %
        ("u", EXCEEDED, "2025-11-01", t + 2 * five),  # 950: 95 %
        ("u", APPROACHING, "2025-12-01", dec + five),  # new period on pro: 9,000 of 10,000
    ]
    assert check.open["u"] == {(APPROACHING, date(2025, 12, 1))}
