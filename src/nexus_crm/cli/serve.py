"""``nexus-crm serve``: run the API server."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from nexus_crm.cli.common import load_settings


def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (the seed's 8001)")] = 8001,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Serve the API. Example: DATABASE_URL=postgresql://… nexus-crm serve --port 8001"""
    load_settings()  # fail fast, with a readable message, on bad configuration
    uvicorn.run(
        "nexus_crm.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )
