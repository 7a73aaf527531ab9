"""Trend maths against the standard library, and its edge cases."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexus_crm.kit.trend import half_change_pct, least_squares, pct_change


@given(st.lists(st.integers(0, 10_000), min_size=3, max_size=120))
def test_slope_matches_statistics(ys: list[int]) -> None:
    fit = least_squares(ys)
    assert fit is not None
    expected = statistics.linear_regression(range(len(ys)), ys)
    assert fit.slope == pytest.approx(expected.slope, abs=1e-6)
    assert fit.intercept == pytest.approx(expected.intercept, abs=1e-6)


def test_edge_cases() -> None:
    assert least_squares([]) is None
    assert least_squares([5]) is None
    two = least_squares([1, 3])
    assert two is not None
    assert (two.slope, two.t) == (2.0, None)  # no residual degrees of freedom
    line = least_squares([3, 5, 7, 9])
    assert line is not None
    assert line.t == math.inf
    flat = least_squares([4, 4, 4])
    assert flat is not None
    assert (flat.slope, flat.t) == (0.0, 0.0)
    assert half_change_pct([2, 2, 9, 3, 3]) == 50.0  # the middle day is in neither half
    assert half_change_pct([0, 0, 5, 5]) is None
    assert half_change_pct([7]) is None
    assert pct_change(150, 100) == 50.0
    assert pct_change(1, 0) is None
    assert pct_change(None, 3) is None
