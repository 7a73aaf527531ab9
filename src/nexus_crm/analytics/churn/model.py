"""Churn scorers: regularised logistic regression, gradient boosting, or documented rules.

``select_scorer`` picks by a time-based backtest: both learners are fitted on the older
snapshots and compared by AUC on the latest one; the winner is refitted on all of them.
With fewer than ``min_positives`` cancellations among the labels, the rule score is used.
Everything is deterministic (fixed ``random_state``, no sampling).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from nexus_crm.analytics.churn.features import FEATURES, Matrix

BOOSTING_MARGIN = 0.02  # AUC points boosting must gain over logistic regression to be chosen
COLUMN = MappingProxyType({name: i for i, name in enumerate(FEATURES)})
# Rule score: logit = INTERCEPT + Σ weight × term, each term in 0..1 (see docs/analytics.md).
RULE_INTERCEPT = -4.0
RULE_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "usage_change_pct": 3.0,  # share of use lost, last 2 weeks vs the 2 before
        "recent_week_ratio": 1.0,  # shortfall of the last week against the 3 before
        "active_day_volume_ratio": 2.0,  # thinner days: use per active day down in the last week
        "usage_slope_t": 1.5,  # a significant downward slope (t ≤ −5 counts fully)
        "active_day_ratio": 1.0,  # share of the last 4 weeks' days without use
        "days_since_last_use": -4.0,  # an outright stop (idle 10+ days) is dormancy, not decline
    }
)


@dataclass(frozen=True)
class TrainingSet:
    """Snapshot rows with labels; ``fold`` 0 is the latest snapshot, 1 the one before, …"""

    x: Matrix
    y: NDArray[np.int64]
    fold: NDArray[np.int64]

    @property
    def positives(self) -> int:
        """Rows of customers who cancelled within the horizon."""
        return int(self.y.sum())


class Scorer(Protocol):
    """A fitted churn model."""

    kind: str
    aucs: dict[str, float | None]

    def probabilities(self, x: Matrix) -> NDArray[np.float64]: ...

    def contributions(self, x: Matrix) -> Matrix: ...


def rule_terms(x: Matrix) -> Matrix:
    """Each rule term (0..1) per row, in FEATURES columns (0 where the rules ignore one)."""
    c = COLUMN
    terms = np.zeros_like(x)
    terms[:, c["usage_change_pct"]] = np.clip(-x[:, c["usage_change_pct"]] / 100, 0, 1)
    terms[:, c["recent_week_ratio"]] = np.clip(1 - x[:, c["recent_week_ratio"]], 0, 1)
    thin = x[:, c["active_day_volume_ratio"]]
    terms[:, c["active_day_volume_ratio"]] = np.clip(1 - thin, 0, 1)
    terms[:, c["usage_slope_t"]] = np.clip(-x[:, c["usage_slope_t"]] / 5, 0, 1)
    terms[:, c["active_day_ratio"]] = np.clip(1 - x[:, c["active_day_ratio"]], 0, 1)
    terms[:, c["days_since_last_use"]] = np.clip((x[:, c["days_since_last_use"]] - 3) / 7, 0, 1)
    return terms


def _weights() -> NDArray[np.float64]:
    return np.array([RULE_WEIGHTS.get(f, 0.0) for f in FEATURES])


@dataclass
class RuleScorer:
    """The documented rule score, used when history holds too few cancellations."""

    kind: str = "rules"
    aucs: dict[str, float | None] = field(default_factory=dict)

    def contributions(self, x: Matrix) -> Matrix:
        """Log-odds added by each feature's term."""
        return rule_terms(x) * _weights()

    def probabilities(self, x: Matrix) -> NDArray[np.float64]:
        """Logistic of the intercept plus the weighted terms."""
        z = RULE_INTERCEPT + self.contributions(x).sum(axis=1)
        return np.asarray(1 / (1 + np.exp(-z)), dtype=np.float64)


@dataclass
class LogisticScorer:
    """L2-regularised logistic regression on standardised features (NaN → median)."""

    pipeline: Any
    kind: str = "logistic"
    aucs: dict[str, float | None] = field(default_factory=dict)

    def probabilities(self, x: Matrix) -> NDArray[np.float64]:
        """P(cancel within the horizon)."""
        return np.asarray(self.pipeline.predict_proba(x)[:, 1], dtype=np.float64)

    def contributions(self, x: Matrix) -> Matrix:
        """coef × standardised value: each feature's log-odds against an average customer."""
        imputer, scaler, lr = self.pipeline.steps[0][1], self.pipeline.steps[1][1], lr_of(self)
        z = scaler.transform(imputer.transform(x))
        return np.asarray(z * lr.coef_[0], dtype=np.float64)


def lr_of(scorer: LogisticScorer) -> Any:
    """The fitted LogisticRegression inside the pipeline."""
    return scorer.pipeline.steps[-1][1]


@dataclass
class BoostingScorer:
    """Histogram gradient boosting (shallow trees, L2-regularised, no early stopping)."""

    model: Any
    medians: NDArray[np.float64]
    kind: str = "boosting"
    aucs: dict[str, float | None] = field(default_factory=dict)

    def probabilities(self, x: Matrix) -> NDArray[np.float64]:
        """P(cancel within the horizon)."""
        return np.asarray(self.model.predict_proba(x)[:, 1], dtype=np.float64)

    def contributions(self, x: Matrix) -> Matrix:
        """Probability minus that with the feature set to the training median (approximation)."""
        base = self.probabilities(x)
        out = np.zeros_like(x)
        for j in range(x.shape[1]):
            moved = x.copy()
            moved[:, j] = self.medians[j]
            out[:, j] = base - self.probabilities(moved)
        return out


def fit_logistic(x: Matrix, y: NDArray[np.int64]) -> LogisticScorer:
    """Fit the logistic candidate."""
    # scikit-learn is imported on first use: ~100 MB a server process needs only once a
    # model is trained (docs/performance.md, RSS with 1,000 WebSocket clients).
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(C=0.5, max_iter=2000),
    )
    return LogisticScorer(pipe.fit(x, y))


def fit_boosting(x: Matrix, y: NDArray[np.int64]) -> BoostingScorer:
    """Fit the boosting candidate."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(
        max_depth=3,
        max_iter=150,
        learning_rate=0.05,
        l2_regularization=1.0,
        min_samples_leaf=10,
        early_stopping=False,
        random_state=0,
    )
    medians = np.array(
        [float(np.median(c[~np.isnan(c)])) if (~np.isnan(c)).any() else 0.0 for c in x.T]
    )
    return BoostingScorer(model.fit(x, y), medians)


FITTERS: Mapping[str, Callable[[Matrix, NDArray[np.int64]], Scorer]] = MappingProxyType(
    {
        "logistic": fit_logistic,
        "boosting": fit_boosting,
    }
)


def auc(y: NDArray[np.int64], p: NDArray[np.float64]) -> float | None:
    """ROC AUC, or None when only one class is present."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if 0 < int(y.sum()) < len(y) else None


def backtest(ts: TrainingSet) -> dict[str, float | None]:
    """AUC of each candidate fitted on the older folds, scored on the latest fold."""
    old, new = ts.fold > 0, ts.fold == 0
    if int(ts.y[old].sum()) < 3 or auc(ts.y[new], np.zeros(int(new.sum()))) is None:
        return dict.fromkeys(FITTERS)
    return {
        name: auc(ts.y[new], fit(ts.x[old], ts.y[old]).probabilities(ts.x[new]))
        for name, fit in FITTERS.items()
    }


def select_scorer(ts: TrainingSet, min_positives: int) -> Scorer:
    """The candidate with the better backtest AUC, refitted on all rows.

    Boosting must beat logistic regression by BOOSTING_MARGIN: with a few dozen positive
    rows a near-tie says nothing, and the linear model is the steadier of the two.
    """
    if ts.positives < min_positives or ts.positives == len(ts.y):
        return RuleScorer()
    aucs = backtest(ts)
    boost, logit = aucs["boosting"], aucs["logistic"]
    better = boost is not None and boost >= (logit or 0.0) + BOOSTING_MARGIN
    best = "boosting" if better else "logistic"
    scorer: Scorer = FITTERS[best](ts.x, ts.y)
    scorer.aucs = aucs
    return scorer
