"""Text every supported database can store."""

from __future__ import annotations

# PostgreSQL's text type cannot hold NUL (SQLite can): free text fields refuse it with a
# 422 naming the field instead of a database error (a 500) on PostgreSQL only.
NO_NUL = r"^[^\x00]*$"
