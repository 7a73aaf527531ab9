"""The anomaly detector's arithmetic: a day of a daily series against its trailing baseline.

Pure functions over daily interaction counts, shared by the service
(``nexus_crm.analytics.anomalies``), the measurement on simulated data
(``bench/anomalies.py``) and mirrored operation for operation by the SQL function
``detect_usage_anomalies()`` in ``database/agent_usage_schema.sql``, so that both give the
same rows to the last bit (see docs/analytics.md, "Anomalies").

Definitions, for a series (customer × agent, or an agent over all customers) and a day D:

- **baseline**: the days D−B … D−1 (B = ``baseline_days``) on or after the series' first
  use, zero-filled (a day without use counts 0); n = their number. Judged only if
  n ≥ ``min_history_days``.
- **plain z** = (x − mean) ÷ max(std, 1), std the population standard deviation.
- **robust z** = (x − median) ÷ max(spread, √median, 1): spread = 1.4826 · MAD (a normal
  σ), or 1.2533 × the mean absolute deviation about the median when the MAD is 0 (more
  than half the days equal); floored by a Poisson-like √median so that small counts
  (1 → 4) are not anomalies.
- **flagged** when |z| ≥ ``z_threshold`` and |x − centre| ≥ ``min_excess`` interactions
  (centre: mean for plain, median for robust), for the configured ``method``
  (``plain``, ``robust`` or ``both``; agents' global series use ``global_method``); a
  **spike** above the centre, a **drop** below.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from nexus_crm.settings import Settings

Method = Literal["plain", "robust", "both"]
METHODS: tuple[Method, ...] = ("plain", "robust", "both")
ROBUST_SCALE = 1.4826  # MAD × 1.4826 estimates σ of a normal distribution
# When more than half the days are equal the MAD is 0; then the mean absolute deviation
# (about the median) × 1.2533 estimates σ instead (Iglewicz & Hoaglin's modified z-score).
MEAN_AD_SCALE = 1.2533
# A series: (user_id, agent_id); user_id None is the agent's global series (all customers).
SeriesKey = tuple[str | None, str]
Series = Mapping[date, int]


@dataclass(frozen=True)
class AnomalyConfig:
    """Thresholds of the detector (ANOMALY_* settings)."""

    baseline_days: int = 28
    min_history_days: int = 7
    z_threshold: float = 3.0
    min_excess: float = 5.0
    method: Method = "robust"
    global_method: Method = "both"
    lookback_days: int = 3  # complete days the scheduled rule (re)examines, yesterday first

    @classmethod
    def from_settings(cls, settings: Settings) -> AnomalyConfig:
        """The detector configured by the ANOMALY_* settings (its ``anomaly_*`` fields)."""
        return cls(**settings.section("anomaly", (f.name for f in fields(cls))))

    def method_for(self, key: SeriesKey) -> Method:
        """Customer × agent series use ``method``; agents' global series ``global_method``."""
        return self.method if key[0] is not None else self.global_method


@dataclass(frozen=True)
class Baseline:
    """Statistics of a series' trailing baseline (zero-filled)."""

    days: int
    mean: float
    std: float
    median: float
    mad: float
    mean_ad: float  # mean absolute deviation about the median

    @property
    def spread(self) -> float:
        """σ estimated robustly: 1.4826 · MAD, or 1.2533 · mean |x − median| when MAD = 0."""
        return ROBUST_SCALE * self.mad if self.mad > 0 else MEAN_AD_SCALE * self.mean_ad

    @property
    def robust_scale(self) -> float:
        """The robust z's denominator: max(spread, √median, 1)."""
        return max(self.spread, math.sqrt(self.median), 1.0)


@dataclass(frozen=True)
class Anomaly:
    """A flagged day of a series, with the figures that flagged it."""

    user_id: str | None
    agent_id: str
    day: date
    observed: int
    baseline: Baseline
    z: float
    robust_z: float
    direction: Literal["spike", "drop"]
    method: Method

    @property
    def score(self) -> float:
        """The z the method judged by (for ``both``, the smaller in magnitude)."""
        if self.method == "plain":
            return self.z
        if self.method == "robust":
            return self.robust_z
        return min(self.z, self.robust_z, key=abs)


def median(values: Sequence[float]) -> float:
    """The median; for an even count the mean of the middle two (as percentile_cont(0.5))."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[mid])
    low, high = float(ordered[mid - 1]), float(ordered[mid])
    return low + (high - low) * 0.5


def baseline_of(values: Sequence[int]) -> Baseline:
    """Mean, population std, median and MAD of the baseline counts (same operations as SQL)."""
    n, total, squares = len(values), sum(values), sum(v * v for v in values)
    centre = median(values)
    deviations = [abs(v - centre) for v in values]
    return Baseline(
        days=n,
        mean=total / n,
        std=math.sqrt(n * squares - total * total) / n,
        median=centre,
        mad=median(deviations),
        mean_ad=sum(deviations) / n,  # multiples of 0.5: exact in any order, as in SQL
    )


def judge(
    key: SeriesKey, day: date, observed: int, base: Baseline, cfg: AnomalyConfig
) -> Anomaly | None:
    """The anomaly of ``observed`` against ``base``, or None if the method does not flag it."""
    x = float(observed)
    z = (x - base.mean) / max(base.std, 1.0)
    robust_z = (x - base.median) / base.robust_scale
    plain_ok = abs(z) >= cfg.z_threshold and abs(x - base.mean) >= cfg.min_excess
    robust_ok = abs(robust_z) >= cfg.z_threshold and abs(x - base.median) >= cfg.min_excess
    method = cfg.method_for(key)
    flagged = {"plain": plain_ok, "robust": robust_ok, "both": plain_ok and robust_ok}
    if not flagged[method]:
        return None
    centre = base.mean if method == "plain" else base.median
    direction: Literal["spike", "drop"] = "spike" if x > centre else "drop"
    return Anomaly(key[0], key[1], day, observed, base, z, robust_z, direction, method)


def baseline_values(series: Series, first_use: date, day: date, cfg: AnomalyConfig) -> list[int]:
    """The zero-filled counts of D−B … D−1 on or after the first use (empty if none)."""
    start = max(day - timedelta(days=cfg.baseline_days), first_use)
    return [series.get(start + timedelta(days=i), 0) for i in range((day - start).days)]


def detect_series(
    key: SeriesKey, series: Series, first_use: date, day: date, cfg: AnomalyConfig
) -> Anomaly | None:
    """Judge ``day`` of one series (None: not flagged, or too little history)."""
    values = baseline_values(series, first_use, day, cfg)
    if len(values) < max(1, cfg.min_history_days):
        return None
    return judge(key, day, series.get(day, 0), baseline_of(values), cfg)


def global_series(
    series: Mapping[SeriesKey, Series], first_use: Mapping[SeriesKey, date]
) -> tuple[dict[SeriesKey, dict[date, int]], dict[SeriesKey, date]]:
    """Each agent's series over all customers (user None), with its first use ever.

    The first use is the earliest of every customer's (all of ``first_use``, not only the
    series given), as the SQL function's ``min(day)`` over the agent's rows.
    """
    sums: dict[SeriesKey, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for (user, agent), days in series.items():
        if user is not None:
            for d, count in days.items():
                sums[(None, agent)][d] += count
    firsts: dict[SeriesKey, date] = {}
    for (user, agent), first in first_use.items():
        key: SeriesKey = (None, agent)
        if user is not None:
            firsts[key] = min(firsts.get(key, first), first)
    return {k: dict(v) for k, v in sums.items()}, firsts


def detect_days(
    series: Mapping[SeriesKey, Series],
    first_use: Mapping[SeriesKey, date],
    days: Iterable[date],
    cfg: AnomalyConfig,
) -> list[Anomaly]:
    """Anomalies of every series on each of ``days``, ordered by day, user, agent.

    ``series`` holds at least D−B … D of each day D to judge; ``first_use`` each series'
    first day with use, ever. A series without use in D−B … D is never flagged (its
    baseline and its day are all zero), so it may be left out.
    """
    found: list[Anomaly] = []
    for day in sorted(set(days)):
        for key in sorted(series, key=lambda k: (k[0] or "", k[1])):
            first = first_use.get(key)
            if first is not None and first < day:
                hit = detect_series(key, series[key], first, day, cfg)
                if hit is not None:
                    found.append(hit)
    found.sort(key=lambda a: (a.day, a.user_id is not None, a.user_id or "", a.agent_id))
    return found
