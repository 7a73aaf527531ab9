"""API-key scopes and what each one grants."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Scope(StrEnum):
    """A permission an API key can hold."""

    INGEST = "ingest"  # send usage through the API (bulk tools); grants nothing else
    READ = "read"  # read usage, customers, tiers, alerts
    WRITE = "write"  # change alerts and sequences; implies read
    ADMIN = "admin"  # tier limits, keys, audit; implies everything


_IMPLIED: Mapping[Scope, frozenset[Scope]] = MappingProxyType(
    {
        Scope.INGEST: frozenset({Scope.INGEST}),
        Scope.READ: frozenset({Scope.READ}),
        Scope.WRITE: frozenset({Scope.WRITE, Scope.READ}),
        Scope.ADMIN: frozenset(Scope),
    }
)


def grants(held: list[str] | set[str], needed: Scope) -> bool:
    """Whether a key holding ``held`` scopes may act with ``needed``."""
    return any(needed in _IMPLIED[Scope(s)] for s in held if s in Scope.__members__.values())
