"""The baseline of the single-event benchmark: a bare FastAPI endpoint that only parses the body.

Same path, same body, same uvicorn settings as ``nexus-crm serve`` (one worker, uvloop and
httptools when installed, log level warning), but no signature check, no validation, no
database: what FastAPI + uvicorn cost on this machine, the ceiling for the real endpoint.

    .venv/bin/python -m uvicorn bare_app:app --app-dir bench --port 8002 --log-level warning
"""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness, as the real app answers it."""
    return {"status": "ok"}


@app.post("/agent-usage/events")
async def post_events(request: Request) -> JSONResponse:
    """Read and parse the JSON body; answer like the real endpoint, storing nothing."""
    payload = json.loads(await request.body())
    events = payload.get("events") if isinstance(payload, dict) else None
    accepted = len(events) if isinstance(events, list) else 1
    return JSONResponse({"accepted": accepted, "duplicates": 0})
