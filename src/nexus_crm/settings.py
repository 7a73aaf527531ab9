"""Settings read from the environment (the seed's variable names); no instance at import."""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse as parse_rate_limit
from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Development default, published in the README: anyone can sign with it, so production
# refuses to start with it.
DEV_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"nexus-crm-development-secret!").decode()
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/nexus_crm.db"
# Development default of SESSION_SECRET, published too: production refuses it.
DEV_SESSION_SECRET = base64.b64encode(b"nexus-crm-development-session-signing-key").decode()


class SettingsError(ValueError):
    """Configuration that the server must not start with."""


def normalize_database_url(url: str) -> str:
    """Map the accepted URL spellings onto the async drivers we use."""
    # libpq's ?sslmode= (as in Supabase's docs) is asyncpg's ?ssl=, same values; asyncpg
    # would reject sslmode as an unknown argument.
    url = re.sub(r"([?&])sslmode=", r"\1ssl=", url.strip())
    for prefix, replacement in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgresql+psycopg2://", "postgresql+asyncpg://"),
        ("sqlite:///", "sqlite+aiosqlite:///"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(prefix):
            return replacement + url[len(prefix) :]
    if url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        return url
    raise SettingsError(
        f"DATABASE_URL {url.split('://')[0]}://… is not supported; use sqlite:///path.db "
        "or postgresql://user:pass@host:5432/db"
    )


def decode_webhook_secret(secret: str) -> bytes:
    """Return the key bytes of a Standard Webhooks ``whsec_<base64>`` secret."""
    if not secret.startswith("whsec_"):
        raise SettingsError(
            "GENESIS_WEBHOOK_SECRET entries must look like whsec_<base64>; "
            "generate one with `nexus-crm keys webhook-secret`"
        )
    try:
        key = base64.b64decode(secret[len("whsec_") :], validate=True)
    except binascii.Error as exc:
        raise SettingsError("GENESIS_WEBHOOK_SECRET: the part after whsec_ is not base64") from exc
    if len(key) < 24:
        raise SettingsError("GENESIS_WEBHOOK_SECRET: a secret needs at least 24 random bytes")
    return key


class Settings(BaseSettings):
    """Server configuration; every field can be set by the environment variable of its name."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    environment: Literal["development", "production"] = Field(
        "development", validation_alias="NEXUS_CRM_ENV"
    )
    database_url: str = Field(DEFAULT_DATABASE_URL, validation_alias="DATABASE_URL")
    genesis_webhook_secret: str = Field(
        DEV_WEBHOOK_SECRET, validation_alias="GENESIS_WEBHOOK_SECRET"
    )
    nexus_crm_base_url: str = Field("http://127.0.0.1:8001", validation_alias="NEXUS_CRM_BASE_URL")
    # The key `nexus-crm mcp` sends to the REST API (its scopes are what Claude may do).
    nexus_crm_api_key: str | None = Field(None, validation_alias="NEXUS_CRM_API_KEY")
    timezone: str = Field("UTC", validation_alias="NEXUS_CRM_TIMEZONE")
    webhook_tolerance_seconds: int = Field(300, ge=1, validation_alias="WEBHOOK_TOLERANCE_SECONDS")
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024, validation_alias="MAX_BODY_BYTES")
    max_batch_events: int = Field(10_000, ge=1, validation_alias="MAX_BATCH_EVENTS")
    max_future_seconds: int = Field(300, ge=0, validation_alias="MAX_FUTURE_SECONDS")
    db_pool_size: int = Field(10, ge=1, validation_alias="DB_POOL_SIZE")
    # Webhook requests one process works on at once; the next is answered 503 at once (0: off).
    ingest_max_in_progress: int = Field(128, ge=0, validation_alias="INGEST_MAX_IN_PROGRESS")
    # Dashboard (docs/dashboard.md): NiceGUI keeps process-global state, so one process
    # mounts it at most once; SESSION_SECRET signs the login cookie.
    dashboard_enabled: bool = Field(True, validation_alias="DASHBOARD_ENABLED")
    session_secret: str = Field(DEV_SESSION_SECRET, validation_alias="SESSION_SECRET")
    session_max_age_seconds: int = Field(
        12 * 3600, ge=60, le=90 * 86400, validation_alias="SESSION_MAX_AGE_SECONDS"
    )
    session_cookie_secure: Literal["auto", "always", "never"] = Field(
        "auto", validation_alias="SESSION_COOKIE_SECURE"
    )
    login_max_failures: int = Field(5, ge=1, validation_alias="LOGIN_MAX_FAILURES")
    login_failure_window_seconds: float = Field(
        900.0, gt=0, validation_alias="LOGIN_FAILURE_WINDOW_SECONDS"
    )
    locale: Literal["en", "es"] = Field("en", validation_alias="LOCALE")
    alert_limit_approaching_pct: float = Field(
        80.0, gt=0, le=10_000, validation_alias="ALERT_LIMIT_APPROACHING_PCT"
    )
    alert_limit_exceeded_pct: float = Field(
        95.0, gt=0, le=10_000, validation_alias="ALERT_LIMIT_EXCEEDED_PCT"
    )
    alert_evaluation_interval_seconds: float = Field(
        300.0, ge=0, validation_alias="ALERT_EVALUATION_INTERVAL_SECONDS"
    )
    upgrade_projection_pct: float = Field(
        90.0, gt=0, le=10_000, validation_alias="UPGRADE_PROJECTION_PCT"
    )
    degradation_slo_p95_ms: float = Field(5000.0, gt=0, validation_alias="DEGRADATION_SLO_P95_MS")
    degradation_p95_factor: float = Field(2.0, gt=1, validation_alias="DEGRADATION_P95_FACTOR")
    degradation_mean_factor: float = Field(1.5, gt=1, validation_alias="DEGRADATION_MEAN_FACTOR")

    anomaly_baseline_days: int = Field(28, ge=1, le=366, validation_alias="ANOMALY_BASELINE_DAYS")
    anomaly_min_history_days: int = Field(
        7, ge=1, le=366, validation_alias="ANOMALY_MIN_HISTORY_DAYS"
    )
    anomaly_z_threshold: float = Field(3.0, gt=0, validation_alias="ANOMALY_Z_THRESHOLD")
    anomaly_min_excess: float = Field(5.0, ge=0, validation_alias="ANOMALY_MIN_EXCESS")
    anomaly_method: Literal["plain", "robust", "both"] = Field(
        "robust", validation_alias="ANOMALY_METHOD"
    )
    anomaly_global_method: Literal["plain", "robust", "both"] = Field(
        "both", validation_alias="ANOMALY_GLOBAL_METHOD"
    )
    anomaly_lookback_days: int = Field(3, ge=1, le=90, validation_alias="ANOMALY_LOOKBACK_DAYS")
    # Churn probability (docs/analytics.md, "Churn probability"; analytics/churn/config.py).
    churn_horizon_days: int = Field(30, ge=7, le=180, validation_alias="CHURN_HORIZON_DAYS")
    churn_label_days: int = Field(14, ge=7, le=90, validation_alias="CHURN_LABEL_DAYS")
    churn_alert_threshold: float = Field(0.85, gt=0, lt=1, validation_alias="CHURN_ALERT_THRESHOLD")
    churn_alert_hysteresis: float = Field(
        0.15, ge=0, lt=1, validation_alias="CHURN_ALERT_HYSTERESIS"
    )
    churn_min_positives: int = Field(10, ge=2, validation_alias="CHURN_MIN_POSITIVES")
    churn_cache_seconds: float = Field(900.0, ge=0, validation_alias="CHURN_CACHE_SECONDS")

    event_bus: Literal["memory", "postgres", "redis"] = Field(
        "memory", validation_alias="EVENT_BUS"
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", validation_alias="REDIS_URL")
    ws_heartbeat_seconds: float = Field(15.0, gt=0, validation_alias="WS_HEARTBEAT_SECONDS")
    ws_max_lifetime_seconds: float = Field(3600.0, gt=0, validation_alias="WS_MAX_LIFETIME_SECONDS")
    ws_send_queue: int = Field(1000, ge=1, validation_alias="WS_SEND_QUEUE")
    ws_send_timeout_seconds: float = Field(10.0, gt=0, validation_alias="WS_SEND_TIMEOUT_SECONDS")
    ws_metrics_interval_seconds: float = Field(
        1.0, ge=0.5, validation_alias="WS_METRICS_INTERVAL_SECONDS"
    )
    ws_max_usage_batch: int = Field(500, ge=1, validation_alias="WS_MAX_USAGE_BATCH")
    # Business metrics (docs/business-metrics.md): how long after an upgrade alert a tier
    # change counts as its conversion, and the rate assumed for a tier with no outcome yet.
    conversion_follow_up_days: int = Field(
        30, ge=1, le=366, validation_alias="CONVERSION_FOLLOW_UP_DAYS"
    )
    conversion_prior_rate: float = Field(0.2, ge=0, le=1, validation_alias="CONVERSION_PRIOR_RATE")
    # Upsell sequences and auto-upsell (docs/upsell.md).
    upsell_worker_interval_seconds: float = Field(
        30.0, ge=0, validation_alias="UPSELL_WORKER_INTERVAL_SECONDS"
    )
    upsell_channel: Literal["email", "webhook"] = Field("email", validation_alias="UPSELL_CHANNEL")
    upsell_step_days: str = Field("0,3,7", validation_alias="UPSELL_STEP_DAYS")
    upsell_max_attempts: int = Field(5, ge=1, le=50, validation_alias="UPSELL_MAX_ATTEMPTS")
    upsell_retry_base_seconds: float = Field(
        60.0, gt=0, validation_alias="UPSELL_RETRY_BASE_SECONDS"
    )
    upsell_sending_timeout_seconds: float = Field(
        900.0, gt=0, validation_alias="UPSELL_SENDING_TIMEOUT_SECONDS"
    )
    upsell_templates_dir: str | None = Field(None, validation_alias="UPSELL_TEMPLATES_DIR")
    upsell_webhook_url: str | None = Field(None, validation_alias="UPSELL_WEBHOOK_URL")
    upsell_webhook_secret: str | None = Field(None, validation_alias="UPSELL_WEBHOOK_SECRET")
    smtp_host: str = Field("localhost", validation_alias="SMTP_HOST")
    smtp_port: int = Field(587, ge=1, le=65535, validation_alias="SMTP_PORT")
    smtp_username: str | None = Field(None, validation_alias="SMTP_USERNAME")
    smtp_password: str | None = Field(None, validation_alias="SMTP_PASSWORD")
    smtp_starttls: bool = Field(True, validation_alias="SMTP_STARTTLS")
    smtp_from: str = Field("NGX <no-reply@ngx.local>", validation_alias="SMTP_FROM")
    smtp_timeout_seconds: float = Field(30.0, gt=0, validation_alias="SMTP_TIMEOUT_SECONDS")
    auto_upsell_enabled: bool = Field(False, validation_alias="AUTO_UPSELL_ENABLED")
    auto_upsell_min_confidence: float = Field(
        0.8, ge=0, le=1, validation_alias="AUTO_UPSELL_MIN_CONFIDENCE"
    )
    auto_upsell_daily_cap: int = Field(20, ge=0, validation_alias="AUTO_UPSELL_DAILY_CAP")

    # Security (docs/security.md). JWTs for users' scripts: signed with JWT_SECRET, or when
    # unset with a key derived from SESSION_SECRET.
    jwt_secret: str | None = Field(None, min_length=32, validation_alias="JWT_SECRET")
    jwt_access_ttl_seconds: int = Field(
        900, ge=30, le=86400, validation_alias="JWT_ACCESS_TTL_SECONDS"
    )
    jwt_refresh_ttl_seconds: int = Field(
        7 * 86400, ge=60, le=90 * 86400, validation_alias="JWT_REFRESH_TTL_SECONDS"
    )
    # Rate limits ("<count>/<second|minute|hour|day>", the `limits` notation; empty = off).
    rate_limit_backend: Literal["memory", "redis"] = Field(
        "memory", validation_alias="RATE_LIMIT_BACKEND"
    )
    rate_limit_per_key: str = Field("6000/minute", validation_alias="RATE_LIMIT_PER_KEY")
    rate_limit_per_user: str = Field("1200/minute", validation_alias="RATE_LIMIT_PER_USER")
    rate_limit_per_ip: str = Field("12000/minute", validation_alias="RATE_LIMIT_PER_IP")
    rate_limit_webhook: str = Field("1200000/minute", validation_alias="RATE_LIMIT_WEBHOOK")
    max_json_depth: int = Field(32, ge=2, le=1000, validation_alias="MAX_JSON_DEPTH")
    max_event_bytes: int = Field(64 * 1024, ge=1024, validation_alias="MAX_EVENT_BYTES")
    # Privacy (docs/security.md): raw events older than this many days are deleted (their
    # aggregates stay); 0 keeps them forever.
    raw_event_retention_days: int = Field(0, ge=0, validation_alias="RAW_EVENT_RETENTION_DAYS")
    # Keys the hashes that remember erased customers: set it once, never rotate it (a new
    # key forgets every erasure). Unset: derived from SESSION_SECRET, as before it existed.
    privacy_hash_key: SecretStr | None = Field(
        None, min_length=32, validation_alias="PRIVACY_HASH_KEY"
    )
    # TLS is served when both are set (`nexus-crm serve --ssl-certfile … --ssl-keyfile …`);
    # HSTS is sent on HTTPS requests.
    hsts_max_age_seconds: int = Field(31_536_000, ge=0, validation_alias="HSTS_MAX_AGE_SECONDS")

    @field_validator("database_url")
    @classmethod
    def _normalize_url(cls, value: str) -> str:
        return normalize_database_url(value)

    @field_validator(
        "rate_limit_per_key", "rate_limit_per_user", "rate_limit_per_ip", "rate_limit_webhook"
    )
    @classmethod
    def _check_rate_limit(cls, value: str, info: ValidationInfo) -> str:
        try:
            if value.strip():
                parse_rate_limit(value)
        except ValueError:
            name = (info.field_name or "").upper()
            raise SettingsError(
                f"{name}={value!r} is not a rate limit such as '600/minute' or '10/2 seconds' "
                "(empty turns the limit off)"
            ) from None
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(f"NEXUS_CRM_TIMEZONE {value!r} is not an IANA time zone") from exc
        return value

    @model_validator(mode="after")
    def _check_secrets(self) -> Settings:
        for secret in self.webhook_secrets:
            decode_webhook_secret(secret)
        if not self.webhook_secrets:
            raise SettingsError("GENESIS_WEBHOOK_SECRET is empty; set at least one whsec_ secret")
        if self.environment == "production" and DEV_WEBHOOK_SECRET in self.webhook_secrets:
            raise SettingsError(
                "NEXUS_CRM_ENV=production but GENESIS_WEBHOOK_SECRET is missing or is the "
                "development default; set GENESIS_WEBHOOK_SECRET to the secret shared with "
                "GENESIS (generate one with `nexus-crm keys webhook-secret`)"
            )
        return self

    @model_validator(mode="after")
    def _check_alert_thresholds(self) -> Settings:
        if self.alert_limit_approaching_pct >= self.alert_limit_exceeded_pct:
            raise SettingsError(
                "ALERT_LIMIT_APPROACHING_PCT must be below ALERT_LIMIT_EXCEEDED_PCT "
                f"({self.alert_limit_approaching_pct} >= {self.alert_limit_exceeded_pct})"
            )
        return self

    @model_validator(mode="after")
    def _check_session_secret(self) -> Settings:
        if len(self.session_secret) < 32:
            raise SettingsError("SESSION_SECRET needs at least 32 characters")
        production = self.environment == "production" and self.dashboard_enabled
        if production and self.session_secret == DEV_SESSION_SECRET:
            raise SettingsError(
                "NEXUS_CRM_ENV=production with the dashboard on, but SESSION_SECRET is missing "
                "or is the development default; set it to a long random value "
                "(`openssl rand -base64 48`) or set DASHBOARD_ENABLED=false"
            )
        return self

    @model_validator(mode="after")
    def _warn_privacy_hash_key(self) -> Settings:
        if self.environment == "production" and self.privacy_hash_key is None:
            logging.getLogger(__name__).warning(
                "PRIVACY_HASH_KEY is not set: erased customers are remembered under a key "
                "derived from SESSION_SECRET, and rotating it forgets every erasure; set "
                "PRIVACY_HASH_KEY once (`openssl rand -base64 48`) and never rotate it"
            )
        return self

    @model_validator(mode="after")
    def _check_upsell(self) -> Settings:
        days = self.step_days
        if len(days) != 3 or days != sorted(days) or days[0] < 0:
            raise SettingsError("UPSELL_STEP_DAYS must be three increasing days, e.g. 0,3,7")
        if self.upsell_channel == "webhook":
            if not (self.upsell_webhook_url and self.upsell_webhook_secret):
                raise SettingsError(
                    "UPSELL_CHANNEL=webhook needs UPSELL_WEBHOOK_URL and UPSELL_WEBHOOK_SECRET"
                )
            decode_webhook_secret(self.upsell_webhook_secret)
        return self

    @property
    def step_days(self) -> list[int]:
        """Days after the start at which the three upsell steps are due (UPSELL_STEP_DAYS)."""
        try:
            return [int(d) for d in self.upsell_step_days.split(",")]
        except ValueError:
            raise SettingsError("UPSELL_STEP_DAYS must be integers, e.g. 0,3,7") from None

    @property
    def webhook_secrets(self) -> list[str]:
        """The configured signing secrets, newest first (comma-separated for rotation)."""
        return [s.strip() for s in self.genesis_webhook_secret.split(",") if s.strip()]

    @cached_property
    def webhook_keys(self) -> list[bytes]:
        """Decoded HMAC keys of :attr:`webhook_secrets`."""
        return [decode_webhook_secret(s) for s in self.webhook_secrets]

    @cached_property
    def tz(self) -> ZoneInfo:
        """The time zone that days and billing periods are counted in."""
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    def section(self, prefix: str, names: Iterable[str]) -> dict[str, Any]:
        """The settings ``<prefix>_<name>`` keyed by ``name``: one component's configuration."""
        return {name: getattr(self, f"{prefix}_{name}") for name in names}

    def sqlite_path(self) -> Path | None:
        """The SQLite file path, or None for PostgreSQL or an in-memory database."""
        if not self.is_sqlite:
            return None
        path = self.database_url.split(":///", 1)[-1]
        return None if path in ("", ":memory:") else Path(path)
