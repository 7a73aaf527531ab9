"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from nexus_crm import __version__
from nexus_crm.analytics.router import router as analytics_router
from nexus_crm.db import create_engine, create_sessionmaker
from nexus_crm.errors import ErrorBody, install_error_handlers
from nexus_crm.ingest.router import DOCUMENTED_BODIES
from nexus_crm.ingest.router import router as ingest_router
from nexus_crm.ops.metrics import LatencyMiddleware, Metrics
from nexus_crm.ops.router import router as ops_router
from nexus_crm.settings import Settings
from nexus_crm.tiers.router import router as tiers_router


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the lifespan opens the database engine and closes it on shutdown."""
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.engine = engine
        app.state.sessions = create_sessionmaker(engine)
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="NexusCRM agent-usage API",
        version=__version__,
        description="GENESIS usage ingestion, analytics and alerts for the NGX team.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    install_error_handlers(app)
    app.add_middleware(LatencyMiddleware, metrics=metrics)
    app.include_router(ops_router)
    for router in (ingest_router, tiers_router, analytics_router):
        app.include_router(router)
    _document_raw_bodies(app)
    return app


def _document_raw_bodies(app: FastAPI) -> None:
    """Add the webhook body models (read from raw bytes, for signatures) to the schema."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (*DOCUMENTED_BODIES, ErrorBody):
                js = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(js.pop("$defs", {}))
                components[model.__name__] = js
            _use_error_body(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _use_error_body(schema: dict[str, Any]) -> None:
    """Document our one error shape instead of FastAPI's default 422 body."""
    components = schema["components"]["schemas"]
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    for operations in schema["paths"].values():
        for op in operations.values():
            for status, response in op.get("responses", {}).items():
                if status[0] in "45":
                    response["content"] = {"application/json": {"schema": ref}}
