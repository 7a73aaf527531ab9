"""Fixed-bucket histograms: mergeable by addition, quantiles exact to within one bucket."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence


def bucket_index(value: int, bounds: Sequence[int]) -> int:
    """Index of the bucket holding ``value``: bucket i counts (bounds[i-1], bounds[i]]."""
    return bisect_left(bounds, value)


def quantile(
    counts: Sequence[int], bounds: Sequence[int], q: float, max_value: int
) -> float | None:
    """Estimate the ``q`` quantile (0..1) from bucket ``counts``; None when empty.

    The rank's bucket is found exactly; within it the value is interpolated linearly
    between the bucket's bounds (the overflow bucket ends at ``max_value``), and the
    result never exceeds the observed maximum.
    """
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            low = bounds[i - 1] if i > 0 else 0
            high = bounds[i] if i < len(bounds) else max(max_value, low)
            fraction = (rank - seen) / count
            return float(min(low + (high - low) * fraction, max_value))
        seen += count
    return float(max_value)
