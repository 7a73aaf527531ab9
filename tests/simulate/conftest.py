"""A generated history shared by the simulator tests (generation needs no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from nexus_crm.simulate.population import Population, build_population
from tests.simulate.analysis import Sample

# Ends mid-afternoon, so the last day is partial (as with the default --end now).
END = datetime(2026, 3, 20, 15, 30, tzinfo=UTC)
DAYS = 42


def population(seed: int = 7, size: int = 200, days: int = DAYS, tz: str = "UTC") -> Population:
    """The population ending on ``END``'s day."""
    first = END.date() - timedelta(days=days - 1)
    return build_population(seed=seed, size=size, days=days, first_day=first, tz=ZoneInfo(tz))


@pytest.fixture(scope="session")
def sample() -> Sample:
    """200 customers over 42 days (about 90,000 events)."""
    return Sample.generate(population(), END)
