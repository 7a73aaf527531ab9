"""Churn settings: the ``CHURN_*`` fields of the one ``Settings``, as the churn code reads them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from nexus_crm.settings import Settings


class ChurnConfig(BaseModel):
    """``CHURN_*`` settings (see docs/analytics.md, "Churn probability"); defaults as shipped.

    Built from the process's ``Settings`` (``from_settings``); the aliases let a caller
    write ``ChurnConfig(CHURN_CACHE_SECONDS=0)`` as in the environment.
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    horizon_days: int = Field(30, ge=7, le=180, alias="CHURN_HORIZON_DAYS")
    label_days: int = Field(14, ge=7, le=90, alias="CHURN_LABEL_DAYS")
    alert_threshold: float = Field(0.85, gt=0, lt=1, alias="CHURN_ALERT_THRESHOLD")
    alert_hysteresis: float = Field(0.15, ge=0, lt=1, alias="CHURN_ALERT_HYSTERESIS")
    min_positives: int = Field(10, ge=2, alias="CHURN_MIN_POSITIVES")
    cache_seconds: float = Field(900.0, ge=0, alias="CHURN_CACHE_SECONDS")

    @classmethod
    def from_settings(cls, settings: Settings) -> ChurnConfig:
        """The churn settings of ``settings`` (its ``churn_*`` fields)."""
        return cls(**settings.section("churn", cls.model_fields))
