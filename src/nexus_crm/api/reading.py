"""What every read route starts from: the read scope checked, the settings, now and today."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from fastapi import Depends

from nexus_crm.api.deps import AppSettings, ReadKey, Sessions
from nexus_crm.kit.time import local_day, utcnow
from nexus_crm.settings import Settings


@dataclass(frozen=True)
class Reading:
    """A read request: its sessions, the settings, and now with today in the settings' zone."""

    sessions: Sessions
    settings: Settings
    now: datetime
    today: date


async def _reading(_: ReadKey, sessions: Sessions, settings: AppSettings) -> Reading:
    now = utcnow()
    return Reading(sessions=sessions, settings=settings, now=now, today=local_day(now, settings.tz))


# A route parameter, not a query one: OpenAPI shows only the route's own parameters.
Read = Annotated[Reading, Depends(_reading)]
