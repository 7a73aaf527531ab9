"""Daily forecasts with prediction intervals: ETS(A,N,A) with a weekly season, or a fallback.

Pure functions over a daily series (oldest first, complete days, zero-filled); no database.
The method depends on the history's length (docs/business-metrics.md):

- ≥ 21 days: ETS(A,N,A) — additive error, no trend, additive weekly season — from
  statsmodels, fitted by maximum likelihood with heuristic initial states; analytical intervals.
- 14-20 days, or when ETS fails: seasonal naive (the last week repeated), intervals from the
  spread of the week-on-week differences, widening with each week ahead.
- 2-13 days, or a constant history: the mean, intervals from the sample spread.
- < 2 days: no forecast.

Counts never go below zero, so forecasts and interval bounds are clipped at 0. Results are
memoised per series (the same history gives the same forecast).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from numpy.typing import NDArray

SEASON = 7
MIN_DAYS = 2
MIN_SEASONAL_NAIVE_DAYS = 14
MIN_ETS_DAYS = 21
HORIZON_DAYS = 30
HOLDOUT_DAYS = 7
Z80 = 1.2815515655446004  # standard normal quantile 0.90: a central 80 % interval
Z95 = 1.959963984540054  # quantile 0.975: a central 95 % interval
Floats = NDArray[np.float64]
Method = Literal["ets", "seasonal_naive", "mean", "none"]


@dataclass(frozen=True)
class Path:
    """Point forecasts and interval bounds, one value per day ahead."""

    mean: Floats
    lower_80: Floats
    upper_80: Floats
    lower_95: Floats
    upper_95: Floats


@dataclass(frozen=True)
class Backtest:
    """The method refitted without the last HOLDOUT_DAYS days, scored on them."""

    method: Method
    holdout_days: int
    mape_pct: float | None  # None: every held-out day was 0
    smape_pct: float
    coverage_80: float
    coverage_95: float


@dataclass(frozen=True)
class Forecast:
    """A series' forecast (None when there is too little history) and its backtest."""

    method: Method
    note: str
    history_days: int
    path: Path | None
    backtest: Backtest | None


def _band(mean: Floats, sd: Floats) -> Path:
    clip = np.clip
    return Path(
        mean=clip(mean, 0, None),
        lower_80=clip(mean - Z80 * sd, 0, None),
        upper_80=clip(mean + Z80 * sd, 0, None),
        lower_95=clip(mean - Z95 * sd, 0, None),
        upper_95=clip(mean + Z95 * sd, 0, None),
    )


def mean_path(y: Floats, h: int) -> Path:
    """The mean, ± z × sample sd × √(1 + 1/n) (the prediction interval of i.i.d. days)."""
    n = len(y)
    sd = float(np.std(y, ddof=1)) * math.sqrt(1 + 1 / n) if n > 1 else 0.0
    return _band(np.full(h, float(np.mean(y))), np.full(h, sd))


def seasonal_naive_path(y: Floats, h: int) -> Path:
    """The last week repeated; sd of week-on-week differences × √(weeks ahead)."""
    diffs = y[SEASON:] - y[:-SEASON]
    sd = float(np.sqrt(np.mean(diffs**2))) if len(diffs) else 0.0
    ahead = np.arange(h)
    mean = y[len(y) - SEASON + ahead % SEASON]
    return _band(mean.astype(np.float64), sd * np.sqrt(ahead // SEASON + 1.0))


def ets_path(y: Floats, h: int) -> Path:
    """ETS(A,N,A), weekly season, fitted by statsmodels; its analytical intervals."""
    import pandas as pd  # imported on first use: statsmodels takes ~1 s to import
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; the result is checked below
        model = ETSModel(
            pd.Series(y),
            error="add",
            seasonal="add",
            seasonal_periods=SEASON,
            initialization_method="heuristic",
        )
        prediction = model.fit(disp=False).get_prediction(start=len(y), end=len(y) + h - 1)
        f80, f95 = prediction.summary_frame(alpha=0.2), prediction.summary_frame(alpha=0.05)
    cols = [f80["mean"], f80["pi_lower"], f80["pi_upper"], f95["pi_lower"], f95["pi_upper"]]
    values = [np.asarray(c, dtype=np.float64) for c in cols]
    if not all(np.isfinite(v).all() for v in values):
        raise ArithmeticError("ETS produced non-finite values")
    return Path(*(np.clip(v, 0, None) for v in values))


def choose(y: Floats) -> tuple[Method, str]:
    """The method for a history, and why."""
    n = len(y)
    if n < MIN_DAYS:
        return "none", f"{n} day(s) of history; a forecast needs at least {MIN_DAYS}"
    if float(np.ptp(y)) == 0:
        return "mean", f"constant history ({n} days): the constant"
    if n < MIN_SEASONAL_NAIVE_DAYS:
        return "mean", f"{n} days of history (< {MIN_SEASONAL_NAIVE_DAYS}): the mean"
    if n < MIN_ETS_DAYS:
        return "seasonal_naive", f"{n} days of history (< {MIN_ETS_DAYS}): last week repeated"
    return "ets", f"ETS(A,N,A), weekly season, fitted on {n} days"


def predict(y: Floats, h: int) -> tuple[Method, str, Path | None]:
    """(method, note, path) of ``h`` days after ``y``; ETS falls back to seasonal naive."""
    method: Method
    method, note = choose(y)
    if method == "none":
        return method, note, None
    if method == "mean":
        return method, note, mean_path(y, h)
    if method == "ets":
        try:
            return method, note, ets_path(y, h)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
            method, note = "seasonal_naive", f"ETS failed ({exc}); last week repeated"
    return method, note, seasonal_naive_path(y, h)


def smape_pct(actual: Floats, forecast: Floats) -> float:
    """Mean of 200 × |y − ŷ| ÷ (|y| + |ŷ|), a day with y = ŷ = 0 counting 0."""
    denom = np.abs(actual) + np.abs(forecast)
    safe = np.where(denom == 0, 1.0, denom)
    terms = np.where(denom == 0, 0.0, 200 * np.abs(actual - forecast) / safe)
    return float(np.mean(terms))


def mape_pct(actual: Floats, forecast: Floats) -> float | None:
    """Mean of 100 × |y − ŷ| ÷ |y| over days with y ≠ 0 (None if there are none)."""
    nonzero = actual != 0
    if not nonzero.any():
        return None
    return float(np.mean(100 * np.abs(actual - forecast)[nonzero] / np.abs(actual[nonzero])))


def backtest(y: Floats) -> Backtest | None:
    """Refit on all but the last HOLDOUT_DAYS days, score those (None: too short)."""
    train, held = y[:-HOLDOUT_DAYS], y[-HOLDOUT_DAYS:]
    if len(train) < MIN_DAYS:
        return None
    method, _, path = predict(train, HOLDOUT_DAYS)
    if path is None:
        return None

    def inside(lower: Floats, upper: Floats) -> float:
        return float(np.mean((held >= lower - 1e-9) & (held <= upper + 1e-9)))

    return Backtest(
        method=method,
        holdout_days=HOLDOUT_DAYS,
        mape_pct=mape_pct(held, path.mean),
        smape_pct=smape_pct(held, path.mean),
        coverage_80=inside(path.lower_80, path.upper_80),
        coverage_95=inside(path.lower_95, path.upper_95),
    )


@lru_cache(maxsize=1024)
def _forecast(values: tuple[float, ...], horizon: int) -> Forecast:
    y = np.asarray(values, dtype=np.float64)
    method, note, path = predict(y, horizon)
    return Forecast(method, note, len(y), path, backtest(y) if path is not None else None)


def forecast(values: Sequence[float], horizon: int = HORIZON_DAYS) -> Forecast:
    """Forecast ``horizon`` days after a daily series (oldest first), with its backtest."""
    clean = tuple(float(v) if math.isfinite(v) and v > 0 else 0.0 for v in values)
    return _forecast(clean, horizon)
