"""Request and response bodies of the token endpoints (``/agent-usage/auth/*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from nexus_crm.kit.text import NO_NUL
from nexus_crm.security.passwords import MAX_PASSWORD_LENGTH


class TokenRequest(BaseModel):
    """A dashboard user's credentials, exchanged for a token pair."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=1, max_length=254, pattern=NO_NUL, examples=["ana@ngx.mx"])
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class RefreshRequest(BaseModel):
    """A refresh token, exchanged (once) for a new token pair."""

    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=4096)


class TokenOut(BaseModel):
    """A short-lived access token (send it as ``Authorization: Bearer``) and its refresh token."""

    access_token: str
    token_type: Literal["bearer"] = Field("bearer", description="send as Authorization: Bearer")
    expires_in: int = Field(description="seconds the access token stays valid")
    refresh_token: str = Field(description="works once, at POST /agent-usage/auth/refresh")
    refresh_expires_in: int = Field(description="seconds the refresh token stays valid")
    scopes: list[str] = Field(description="what the access token grants (the user's role)")
