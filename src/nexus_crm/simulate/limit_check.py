"""An independent account of which usage-limit alerts a replay must raise, and when.

Kept beside the replay as a step hook: from the raw events and subscription updates of each
step (never from the server's aggregates or code), it keeps each customer's tokens and
interactions per billing period and its tier (the newest by source timestamp, from updates
and the tier stamped on events), and applies DESIGN §5 to every customer the step touched
(every customer on a daily evaluation): usage % = max(tokens, interactions) ÷ the tier's
monthly limits; at most one open limit alert per customer and period, ``exceeded`` from 95 %,
``approaching`` from 80 %, the other resolved; a new period or a tier change re-judges.
The replay's alerts must equal these raises exactly (customer, type, period, instant).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.kit.time import billing_period, local_day
from nexus_crm.simulate.evaluation import Step

APPROACHING, EXCEEDED = "usage_limit_approaching", "usage_limit_exceeded"
Raise = tuple[str, str, str, datetime]  # (user, type, period start, raised at)


@dataclass
class LimitCheck:
    """Expected limit alerts of a replay, computed from what each step ingested."""

    limits: dict[str, tuple[int, int]]  # tier → (monthly tokens, monthly interactions)
    tz: ZoneInfo
    approaching_pct: float = 80.0
    exceeded_pct: float = 95.0
    used: dict[tuple[str, date], list[int]] = field(default_factory=lambda: defaultdict(_zero))
    tiers: dict[str, tuple[datetime, str]] = field(default_factory=dict)
    open: dict[str, set[tuple[str, date]]] = field(default_factory=lambda: defaultdict(set))
    raises: list[Raise] = field(default_factory=list)

    @classmethod
    def from_truth(cls, truth: dict[str, Any]) -> LimitCheck:
        """The check for a truth file's tiers and time zone, at the default thresholds."""
        limits = {
            t: (int(v["monthly_tokens"]), int(v["monthly_interactions"]))
            for t, v in truth["tier_limits"].items()
            if v.get("monthly_tokens") and v.get("monthly_interactions")
        }
        return cls(limits=limits, tz=ZoneInfo(truth["parameters"]["timezone"]))

    def _tier(self, user: str, at: datetime, tier: str) -> None:
        known = self.tiers.get(user)
        if known is None or at > known[0]:
            self.tiers[user] = (at, tier)

    def observe(self, step: Step) -> set[str]:
        """Take in one step's updates and events; the customers they touched."""
        touched: set[str] = set()
        for u in step.updates:
            self._tier(u.user_id, u.timestamp, u.tier)
            touched.add(u.user_id)
        for e in step.events:
            at, user = datetime.fromisoformat(e["timestamp"]), e["user_id"]
            self._tier(user, at, e["subscription_tier"])
            start = billing_period(local_day(at, self.tz))[0]
            tally = self.used[(user, start)]
            tally[0] += int(e["tokens_used"])
            tally[1] += 1
            touched.add(user)
        return touched

    def wanted(self, user: str, start: date) -> str | bool | None:
        """The limit alert the customer's usage calls for; False when it cannot be judged."""
        limits = self.limits.get(self.tiers[user][1]) if user in self.tiers else None
        if limits is None:
            return False
        tokens, interactions = self.used.get((user, start), (0, 0))
        pct = max(100.0 * tokens / limits[0], 100.0 * interactions / limits[1])
        if pct >= self.exceeded_pct:
            return EXCEEDED
        return APPROACHING if pct >= self.approaching_pct else None

    def judge(self, user: str, now: datetime) -> None:
        """Resolve what no longer holds and raise what is missing, as the rule must."""
        start = billing_period(local_day(now, self.tz))[0]
        wanted = self.wanted(user, start)
        if wanted is False:
            return  # unknown tier or a tier without limits: the rule leaves alerts alone
        held = self.open[user]
        held -= {(t, p) for t, p in held if p != start or t != wanted}
        if isinstance(wanted, str) and (wanted, start) not in held:
            held.add((wanted, start))
            self.raises.append((user, wanted, start.isoformat(), now))

    def apply(self, step: Step) -> None:
        """Take in a step and judge whom it touched (everyone on a daily evaluation)."""
        touched = self.observe(step)
        for user in sorted(self.tiers if step.daily else touched):
            self.judge(user, step.at)

    async def __call__(self, session: AsyncSession, step: Step) -> None:
        """Step hook of ``evaluation.replay`` (the session is not used: nothing is read)."""
        self.apply(step)


def _zero() -> list[int]:
    return [0, 0]
