"""The OpenAPI document: webhook bodies, one error shape, bearer or session-cookie auth."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from nexus_crm.errors import ErrorBody
from nexus_crm.security import COOKIE_NAME

PUBLIC_PATHS = ("/healthz", "/readyz", "/metrics")
RATE_LIMITED: Mapping[str, str] = MappingProxyType(
    {"description": "over a rate limit: retry after Retry-After seconds"}
)
UNAUTHORIZED: Mapping[str, str] = MappingProxyType(
    {"description": "missing, invalid, expired or revoked credentials"}
)
FORBIDDEN: Mapping[str, str] = MappingProxyType(
    {"description": "the credential lacks the scope this operation needs"}
)
TOO_LARGE: Mapping[str, str] = MappingProxyType(
    {"description": "the body is larger than the limit (MAX_BODY_BYTES, 1 MiB for API bodies)"}
)


def freeze(value: Any) -> Any:
    """A read-only deep copy of an OpenAPI fragment: dicts become mappings, lists tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """A plain deep copy of a frozen fragment, for ``responses=`` and ``openapi_extra=``.

    FastAPI requires real dicts there, and merges the lists of ``openapi_extra``.
    """
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(v) for v in value]
    return value


class NexusAPI(FastAPI):
    """FastAPI with an OpenAPI document that tells the whole truth about the API."""

    raw_bodies: tuple[type[BaseModel], ...] = ()

    def openapi(self) -> dict[str, Any]:
        """Build the schema once: FastAPI's, plus raw bodies, error body and security."""
        if self.openapi_schema is None:
            schema = get_openapi(
                title=self.title,
                version=self.version,
                description=self.description,
                routes=self.routes,
            )
            components = schema.setdefault("components", {})
            models = components.setdefault("schemas", {})
            documented: tuple[type[BaseModel], ...] = (*self.raw_bodies, ErrorBody)
            for model in documented:
                js = model.model_json_schema(ref_template="#/components/schemas/{model}")
                models.update(js.pop("$defs", {}))
                models[model.__name__] = js
            components["securitySchemes"] = {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an API key (ncrm_…) or a JWT (POST /agent-usage/auth/token)",
                },
                "dashboardSession": {"type": "apiKey", "in": "cookie", "name": COOKIE_NAME},
            }
            schema["security"] = [{"apiKey": []}, {"dashboardSession": []}]
            _use_error_body(schema)
            self.openapi_schema = schema
        return self.openapi_schema


def _document_guards(op: dict[str, Any]) -> None:
    """The answers of the guards in front of every route: auth (401/403) and body size (413)."""
    responses = op.setdefault("responses", {})
    if op.get("security") != []:
        responses.setdefault("401", dict(UNAUTHORIZED))
        responses.setdefault("403", dict(FORBIDDEN))
    if "requestBody" in op:
        responses.setdefault("413", dict(TOO_LARGE))


def _use_error_body(schema: dict[str, Any]) -> None:
    """Document our one error shape instead of FastAPI's default 422 body."""
    models = schema["components"]["schemas"]
    models.pop("HTTPValidationError", None)
    models.pop("ValidationError", None)
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    for path, operations in schema["paths"].items():
        for op in operations.values():
            if path in PUBLIC_PATHS:
                op["security"] = []
            else:  # every other request counts against a rate limit (docs/security.md)
                op.setdefault("responses", {}).setdefault("429", dict(RATE_LIMITED))
            _document_guards(op)
            for status, response in op.get("responses", {}).items():
                if status[0] in "45":
                    response["content"] = {"application/json": {"schema": ref}}
