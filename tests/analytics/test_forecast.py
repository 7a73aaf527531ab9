"""Daily forecasts: weekly pattern recovered, intervals, fallbacks, odd data, backtest, speed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nexus_crm.analytics import forecast as fc

WEEK = (120.0, 130.0, 125.0, 110.0, 90.0, 40.0, 30.0)


def weekly(days: int, noise: float = 0.0, seed: int = 1) -> list[float]:
    rng = np.random.default_rng(seed)
    return [WEEK[i % 7] * (1 + noise * float(rng.standard_normal())) for i in range(days)]


def test_a_pure_weekly_pattern_is_recovered() -> None:
    f = fc.forecast(weekly(84))
    assert f.method == "ets"
    assert f.path is not None
    expected = [WEEK[(84 + i) % 7] for i in range(30)]
    assert np.allclose(f.path.mean, expected, atol=0.5)


def test_noisy_weekly_intervals_hold_the_future_and_nest() -> None:
    history = weekly(98, noise=0.05)
    f = fc.forecast(history[:84])
    assert f.method == "ets"
    assert f.path is not None
    held = np.array(history[84:])
    p = f.path
    # The 95 % interval is wider than the 80 % one and both contain the point forecast.
    assert (p.upper_95 - p.lower_95 > p.upper_80 - p.lower_80).all()
    for lower, upper in ((p.lower_95, p.lower_80), (p.lower_80, p.mean), (p.mean, p.upper_80)):
        assert (lower <= upper).all()
    assert (p.upper_80 <= p.upper_95).all()
    inside_95 = (held >= p.lower_95[:14]) & (held <= p.upper_95[:14])
    assert inside_95.mean() >= 12 / 14
    # The point forecast keeps the weekday shape: Tuesdays well above Sundays.
    tuesday, sunday = (1 - 84) % 7, (6 - 84) % 7
    assert p.mean[tuesday] > 3 * p.mean[sunday]


def test_intervals_widen_with_the_horizon() -> None:
    f = fc.forecast(weekly(60, noise=0.1))
    assert f.path is not None
    width = f.path.upper_95 - f.path.lower_95
    assert width[28] > width[0]


@pytest.mark.parametrize(
    ("values", "method"),
    [
        ([], "none"),
        ([5.0], "none"),
        ([0.0] * 90, "mean"),
        ([7.0] * 40, "mean"),
        ([3.0, 9.0], "mean"),
        (weekly(10, noise=0.1), "mean"),
        (weekly(16, noise=0.1), "seasonal_naive"),
        (weekly(21, noise=0.1), "ets"),
        ([0.0] * 89 + [500.0], "ets"),
        ([0.0] * 30 + [1.0], "ets"),
        ([math.nan, -4.0, math.inf, 2.0], "mean"),
    ],
)
def test_odd_data_never_raises(values: list[float], method: str) -> None:
    f = fc.forecast(values)
    assert f.method == method
    assert f.history_days == len(values)
    if method == "none":
        assert f.path is None
        assert f.backtest is None
        assert "at least 2" in f.note
        return
    assert f.path is not None
    for arr in (f.path.mean, f.path.lower_80, f.path.upper_80, f.path.lower_95):
        assert len(arr) == fc.HORIZON_DAYS
        assert np.isfinite(arr).all()
        assert (arr >= 0).all()


def test_constant_and_zero_histories_forecast_the_constant_exactly() -> None:
    for level in (0.0, 7.0):
        f = fc.forecast([level] * 40)
        assert f.path is not None
        assert np.allclose(f.path.mean, level)
        assert np.allclose(f.path.upper_95, level)
        assert f.backtest is not None
        assert f.backtest.smape_pct == 0
        assert f.backtest.coverage_95 == 1.0
    zeros = fc.forecast([0.0] * 40).backtest
    assert zeros is not None
    assert zeros.mape_pct is None  # no day with use: MAPE is undefined


def test_mean_fallback_matches_the_iid_prediction_interval() -> None:
    values = [10.0, 14.0, 12.0, 8.0]
    f = fc.forecast(values)
    assert f.path is not None
    sd = float(np.std(values, ddof=1)) * math.sqrt(1 + 1 / 4)
    assert f.path.mean[0] == pytest.approx(11.0)
    assert f.path.upper_80[0] == pytest.approx(11.0 + 1.2815515655446004 * sd)
    assert f.path.upper_95[0] == pytest.approx(11.0 + 1.959963984540054 * sd)


def test_seasonal_naive_repeats_the_last_week() -> None:
    values = weekly(17, noise=0.05)
    f = fc.forecast(values)
    assert f.method == "seasonal_naive"
    assert f.path is not None
    assert np.allclose(f.path.mean[:7], values[-7:])
    assert np.allclose(f.path.mean[7:14], values[-7:])


def test_error_measures() -> None:
    actual = np.array([100.0, 0.0, 50.0, 0.0])
    predicted = np.array([90.0, 0.0, 60.0, 10.0])
    # MAPE over y ≠ 0: (10/100 + 10/50) / 2 = 15 %.
    assert fc.mape_pct(actual, predicted) == pytest.approx(15.0)
    # sMAPE: 200 × (10/190 + 0 + 10/110 + 10/10) / 4.
    assert fc.smape_pct(actual, predicted) == pytest.approx(50 * (10 / 190 + 10 / 110 + 1))
    assert fc.mape_pct(np.zeros(3), np.ones(3)) is None


def test_backtest_holds_out_the_last_week() -> None:
    values = weekly(70, noise=0.05, seed=3)
    b = fc.backtest(np.array(values))
    assert b is not None
    assert b.method == "ets"
    assert b.holdout_days == 7
    path = fc.predict(np.array(values[:-7]), 7)[2]
    assert path is not None
    assert b.smape_pct == pytest.approx(fc.smape_pct(np.array(values[-7:]), path.mean))
    assert b.smape_pct < 10
    assert b.coverage_95 >= b.coverage_80
    assert fc.backtest(np.array(values[:8])) is None  # one training day is not enough


def test_all_agents_with_90_days_are_forecast_once_then_cached() -> None:
    # How fast is a figure of bench/ (the Business page and GET /business-metrics, which
    # forecast every agent), not a CPU-time limit here: two workers on two cores failed it.
    fc._forecast.cache_clear()
    series = [weekly(90, noise=0.08, seed=s) for s in range(16)]  # 8 agents × 2 metrics
    first = [fc.forecast(s) for s in series]
    assert fc._forecast.cache_info().misses == 16
    again = [fc.forecast(s) for s in series]
    info = fc._forecast.cache_info()
    assert (info.hits, info.misses) == (16, 16)  # the second pass computes nothing
    assert again == first
