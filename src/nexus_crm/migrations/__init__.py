"""Alembic migrations (async env), run on SQLite and PostgreSQL."""
