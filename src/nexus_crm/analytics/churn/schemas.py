"""What the churn API and CLI answer."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class Driver(BaseModel):
    """One feature's push on a customer's churn probability."""

    feature: str = Field(examples=["usage_change_pct"])
    value: float = Field(description="the feature's value for this customer")
    contribution: float = Field(
        description="effect on the score (log-odds for logistic/rule models, probability "
        "points for boosting); positive raises the risk"
    )
    text: str = Field(examples=["usage down 64 % over the last 2 weeks"])


class ChurnScore(BaseModel):
    """A customer's churn probability over the horizon, its top drivers and CLV."""

    user_id: str
    tier: str
    probability: float = Field(description="P(cancels within horizon_days), 0..1")
    drivers: list[Driver] = Field(description="the three largest effects, largest first")
    monthly_price: float = Field(description="the tier's monthly price, USD")
    expected_lifetime_months: float
    clv: float = Field(description="monthly price × expected remaining lifetime, USD")


class ModelInfo(BaseModel):
    """Which model scored, as of when, and how it was chosen."""

    kind: str = Field(examples=["logistic", "boosting", "rules"])
    as_of: date = Field(description="trained on what was known before this day")
    horizon_days: int = Field(description="probabilities are of cancelling within these days")
    label_days: int = Field(14, description="training labels: cancelled within these days")
    training_rows: int
    training_positives: int
    validation_auc: dict[str, float | None] = Field(
        default_factory=dict, description="AUC of each candidate on the latest fold"
    )


class ChurnRisks(BaseModel):
    """Active customers ranked by churn probability."""

    as_of: date
    model: ModelInfo
    count: int = Field(description="active customers scored")
    customers: list[ChurnScore]


class Evaluation(BaseModel):
    """A backtest at ``as_of``: scores from the past, outcomes from the next ``horizon_days``."""

    as_of: date
    horizon_days: int
    model: ModelInfo
    customers: int
    positives: int
    auc: float | None
    top_decile_lift: float | None
    threshold: float
    alerts: int
    precision: float | None
    recall: float | None
