"""One JSON error shape for every failure, expected or not."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from nexus_crm.app import create_app
from nexus_crm.errors import ErrorBody, NexusError
from nexus_crm.settings import Settings


async def test_unknown_route_and_wrong_method(client: httpx.AsyncClient) -> None:
    missing = await client.get("/agent-usage/nothing-here")
    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "detail": "Not Found"}
    wrong = await client.delete("/agent-usage/events")
    assert wrong.status_code == 405
    assert wrong.json()["error"] == "method_not_allowed"


@pytest.fixture
def bare_app(tmp_path: object) -> FastAPI:
    app = create_app(Settings(DATABASE_URL="sqlite:///:memory:"))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    @app.get("/expected")
    async def expected() -> None:
        raise NexusError("nope", field="thing", hint="x")

    return app


async def test_unexpected_errors_are_500_json_without_internals(bare_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=bare_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        resp = await c.get("/boom")
        assert resp.status_code == 500
        assert resp.json() == {"error": "internal_error", "detail": "unexpected server error"}
        assert "secret internals" not in resp.text
        expected = await c.get("/expected")
    assert expected.status_code == 400
    assert expected.json() == {
        "error": "bad_request",
        "detail": "nope",
        "field": "thing",
        "hint": "x",
    }
    ErrorBody.model_validate(expected.json())


def test_every_4xx_is_documented_with_the_error_body() -> None:
    schema = create_app(Settings(DATABASE_URL="sqlite:///:memory:")).openapi()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, ops in schema["paths"].items():
        for op in ops.values():
            for status, resp in op["responses"].items():
                if status.startswith("4"):
                    ref = resp["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorBody"), (path, status)


async def test_unreachable_database_is_503_with_retry_after() -> None:
    app = create_app(Settings(DATABASE_URL="postgresql://nobody@127.0.0.1:9/none"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            unknown_key = {"Authorization": "Bearer ncrm_00000000_unknown"}
            resp = await c.get("/agent-usage/tiers", headers=unknown_key)
    assert resp.status_code == 503
    assert resp.headers["retry-after"] == "1"
    assert resp.json()["error"] == "database_unavailable"


class Thing(BaseModel):
    """A JSON body for the decoding test."""

    name: str


@pytest.mark.parametrize("raw", [b'{"name": "\xff\xfe"}', b'{"name": ', b"\xc3\x28"])
async def test_a_body_that_does_not_decode_is_422_naming_the_body(raw: bytes) -> None:
    """Invalid UTF-8 was FastAPI's 400 without a field; malformed JSON named an offset."""
    app = create_app(Settings(DATABASE_URL="sqlite:///:memory:"))

    @app.post("/thing")
    async def thing(body: Thing) -> None:
        return None

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        resp = await c.post("/thing", content=raw, headers={"content-type": "application/json"})
    assert resp.status_code == 422
    assert resp.json()["error"] == "validation_error"
    assert resp.json()["field"] == "body"
