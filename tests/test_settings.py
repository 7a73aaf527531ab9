"""Settings: the seed's variable names, URL spellings, fail-fast in production."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from nexus_crm.settings import DEV_WEBHOOK_SECRET, Settings, normalize_database_url
from tests.support import OLD_SECRET, TEST_SECRET


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///./data/x.db", "sqlite+aiosqlite:///./data/x.db"),
        ("sqlite+aiosqlite:////abs/x.db", "sqlite+aiosqlite:////abs/x.db"),
        ("postgresql://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        (
            "postgres://u:p@db.supabase.co:5432/postgres",
            "postgresql+asyncpg://u:p@db.supabase.co:5432/postgres",
        ),
    ],
)
def test_database_url_spellings(given: str, expected: str) -> None:
    assert normalize_database_url(given) == expected
    assert Settings(DATABASE_URL=given).database_url == expected


def test_defaults_are_an_embedded_sqlite_file_in_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "GENESIS_WEBHOOK_SECRET", "NEXUS_CRM_TIMEZONE", "NEXUS_CRM_ENV"):
        monkeypatch.delenv(name, raising=False)
    s = Settings(_env_file=None)
    assert s.database_url == "sqlite+aiosqlite:///./data/nexus_crm.db"
    assert s.timezone == "UTC"
    assert s.webhook_secrets == [DEV_WEBHOOK_SECRET]


def test_environment_variables_of_the_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENESIS_WEBHOOK_SECRET", f" {TEST_SECRET} , {OLD_SECRET} ")
    monkeypatch.setenv("NEXUS_CRM_BASE_URL", "http://localhost:8001")
    monkeypatch.setenv("NEXUS_CRM_TIMEZONE", "America/Mexico_City")
    s = Settings(_env_file=None)
    assert s.webhook_secrets == [TEST_SECRET, OLD_SECRET]
    assert len(s.webhook_keys) == 2
    assert s.nexus_crm_base_url == "http://localhost:8001"
    assert str(s.tz) == "America/Mexico_City"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"NEXUS_CRM_ENV": "production"}, "GENESIS_WEBHOOK_SECRET"),
        (
            {"NEXUS_CRM_ENV": "production", "GENESIS_WEBHOOK_SECRET": DEV_WEBHOOK_SECRET},
            "GENESIS_WEBHOOK_SECRET",
        ),
        ({"GENESIS_WEBHOOK_SECRET": "shared_secret_with_genesis"}, "whsec_"),
        ({"GENESIS_WEBHOOK_SECRET": " , "}, "GENESIS_WEBHOOK_SECRET"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"NEXUS_CRM_TIMEZONE": "Mars/Olympus"}, "NEXUS_CRM_TIMEZONE"),
    ],
)
def test_bad_configuration_fails_with_what_to_set(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], needle: str
) -> None:
    monkeypatch.delenv("GENESIS_WEBHOOK_SECRET", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ValidationError) as err:
        Settings(_env_file=None)
    assert needle in str(err.value)


def test_production_with_a_real_secret_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXUS_CRM_ENV", "production")
    monkeypatch.setenv("GENESIS_WEBHOOK_SECRET", TEST_SECRET)
    assert Settings(_env_file=None).environment == "production"
