"""``nexus-crm db``: database migrations."""

from __future__ import annotations

import asyncio

import typer

from nexus_crm.cli.common import load_settings
from nexus_crm.db import create_engine, upgrade_database
from nexus_crm.ops.service import head_revision
from nexus_crm.settings import Settings

app = typer.Typer(help="Database schema management.", no_args_is_help=True)


async def migrate(settings: Settings) -> None:
    """Apply all migrations to the configured database."""
    engine = create_engine(settings)
    try:
        await upgrade_database(engine)
    finally:
        await engine.dispose()


@app.command("upgrade")
def upgrade() -> None:
    """Migrate the database in DATABASE_URL to the latest schema. Example: nexus-crm db upgrade"""
    settings = load_settings()
    asyncio.run(migrate(settings))
    typer.echo(f"database at revision {head_revision()}")
