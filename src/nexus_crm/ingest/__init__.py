"""Ingest: the one write path for usage events and subscription updates from GENESIS."""

from __future__ import annotations

from nexus_crm.ingest.gate import IngestGate
from nexus_crm.ingest.importer import (
    EVENT_BATCH,
    EVENT_CSV,
    SUBSCRIPTION_CSV,
    ImportCounts,
    ImportHooks,
    Rejection,
    import_events,
    import_subscriptions,
    store_events,
    store_subscriptions,
)
from nexus_crm.ingest.payloads import check_events_payload
from nexus_crm.ingest.readers import CsvSpec, ImportFileError, Record, Source, open_source, records
from nexus_crm.ingest.tiernames import TierNames
from nexus_crm.ingest.writer import EventWriter

__all__ = (
    "EVENT_BATCH",
    "EVENT_CSV",
    "SUBSCRIPTION_CSV",
    "CsvSpec",
    "EventWriter",
    "ImportCounts",
    "ImportFileError",
    "ImportHooks",
    "IngestGate",
    "Record",
    "Rejection",
    "Source",
    "TierNames",
    "check_events_payload",
    "import_events",
    "import_subscriptions",
    "open_source",
    "records",
    "store_events",
    "store_subscriptions",
)
