"""Ingest: the one write path for usage events and subscription updates from GENESIS."""
