"""Triggers that make ``audit_log`` append-only in the database itself (both dialects).

The migration creates them; the SQL file mirrors the PostgreSQL ones. Only the database
owner can drop a trigger, so neither the API nor a bug in it can edit or delete a row.
"""

from __future__ import annotations

from typing import Final

APPEND_ONLY_MESSAGE: Final = "audit_log is append-only"

POSTGRESQL_CREATE: Final = (
    f"""
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}' USING ERRCODE = 'insufficient_privilege';
END;
$$
""",
    """
CREATE OR REPLACE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()
""",
)
POSTGRESQL_DROP: Final = (
    "DROP TRIGGER IF EXISTS audit_log_no_update ON audit_log",
    "DROP FUNCTION IF EXISTS audit_log_append_only()",
)
SQLITE_CREATE: Final = (
    f"""
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END
""",
    f"""
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END
""",
)
SQLITE_DROP: Final = (
    "DROP TRIGGER IF EXISTS audit_log_no_update",
    "DROP TRIGGER IF EXISTS audit_log_no_delete",
)


def create_statements(dialect: str) -> tuple[str, ...]:
    """The statements that install the append-only triggers on ``dialect``."""
    return POSTGRESQL_CREATE if dialect == "postgresql" else SQLITE_CREATE


def drop_statements(dialect: str) -> tuple[str, ...]:
    """The statements that remove them (migration downgrade, test resets)."""
    return POSTGRESQL_DROP if dialect == "postgresql" else SQLITE_DROP
