"""Churn settings, read from the environment when a score is computed."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ChurnConfig(BaseSettings):
    """``CHURN_*`` variables (see docs/analytics.md, "Churn probability")."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    horizon_days: int = Field(30, ge=7, le=180, validation_alias="CHURN_HORIZON_DAYS")
    label_days: int = Field(14, ge=7, le=90, validation_alias="CHURN_LABEL_DAYS")
    alert_threshold: float = Field(0.85, gt=0, lt=1, validation_alias="CHURN_ALERT_THRESHOLD")
    alert_hysteresis: float = Field(0.15, ge=0, lt=1, validation_alias="CHURN_ALERT_HYSTERESIS")
    min_positives: int = Field(10, ge=2, validation_alias="CHURN_MIN_POSITIVES")
    cache_seconds: float = Field(900.0, ge=0, validation_alias="CHURN_CACHE_SECONDS")
