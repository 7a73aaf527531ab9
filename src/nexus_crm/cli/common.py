"""Helpers shared by CLI commands: settings with readable errors, running async work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from nexus_crm.db import create_engine, transaction
from nexus_crm.errors import NexusError
from nexus_crm.settings import Settings, SettingsError
from nexus_crm.wiring import open_sessions

T = TypeVar("T")


def load_settings() -> Settings:
    """Settings from the environment, or exit 2 with what to fix."""
    try:
        return Settings()
    except (ValidationError, SettingsError) as exc:
        message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        typer.echo(f"configuration error: {message.removeprefix('Value error, ')}", err=True)
        raise typer.Exit(2) from None


def run_in_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one committed transaction; NexusErrors exit 1 with their message."""

    async def _main() -> T:
        engine = create_engine(settings)
        try:
            async with transaction(open_sessions(engine, settings)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(_main())
    except NexusError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
