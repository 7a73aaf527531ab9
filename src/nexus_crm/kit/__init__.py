"""Domain-free helpers: ids, time, column types and dialect-specific SQL."""
