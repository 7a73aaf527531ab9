"""Trend maths on evenly spaced series: least-squares slope, its t statistic, % changes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Fit:
    """A least-squares line ``y = intercept + slope × x`` over x = 0, 1, …, n-1."""

    slope: float
    intercept: float
    t: float | None  # slope ÷ its standard error; None when n < 3; ±inf on an exact line


def least_squares(ys: Sequence[float]) -> Fit | None:
    """Fit a line to ``ys`` at x = 0..n-1 (None for fewer than 2 points)."""
    n = len(ys)
    if n < 2:
        return None
    x_mean, y_mean = (n - 1) / 2, sum(ys) / n
    sxx = n * (n * n - 1) / 12  # Σ (x - x̄)² for x = 0..n-1
    sxy = sum((x - x_mean) * (y - y_mean) for x, y in enumerate(ys))
    slope = sxy / sxx
    intercept = y_mean - slope * x_mean
    return Fit(slope, intercept, _t_statistic(ys, slope, intercept, sxx))


def _t_statistic(ys: Sequence[float], slope: float, intercept: float, sxx: float) -> float | None:
    n = len(ys)
    if n < 3:
        return None
    ssr = sum((y - intercept - slope * x) ** 2 for x, y in enumerate(ys))
    # Sums of integers leave float dust on an exact line: treat a negligible residual as zero.
    if ssr <= 1e-12 * max(1.0, sum(y * y for y in ys)):
        return 0.0 if slope == 0 else math.copysign(math.inf, slope)
    return slope / math.sqrt(ssr / (n - 2) / sxx)


def half_change_pct(ys: Sequence[float]) -> float | None:
    """% change of the last ⌊n/2⌋ values' sum over the first ⌊n/2⌋ (None if that is 0)."""
    half = len(ys) // 2
    first, second = sum(ys[:half]), sum(ys[len(ys) - half :])
    if half == 0 or first == 0:
        return None
    return 100.0 * (second - first) / first


def pct_change(current: float | None, previous: float | None) -> float | None:
    """``(current - previous) ÷ previous`` in %, None when either is missing or previous is 0."""
    if current is None or previous is None or previous == 0:
        return None
    return 100.0 * (current - previous) / previous
