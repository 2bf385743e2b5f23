"""The OpenAPI document describes exactly the routes the app serves."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from api.app import create_app
from lbs.settings import Settings

METHODS = {"get", "post", "put", "patch", "delete"}


def served_routes(settings: Settings) -> set[tuple[str, str]]:
    app = create_app(settings)
    out = set()
    for route in app.router.routes():
        method = route.method.lower()
        if method in METHODS and route.resource is not None:
            out.add((route.resource.canonical, method))
    return out


async def test_document_matches_routes(settings: Settings, db: asyncpg.Connection[Any], aiohttp_client: Any) -> None:
    client: TestClient = await aiohttp_client(create_app(settings.model_copy(update={"smpp_enabled": False})))
    resp = await client.get("/openapi.json")
    doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    documented = {(path, m) for path, item in doc["paths"].items() for m in item if m in METHODS}
    assert documented == served_routes(settings)
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op.get("responses"), f"{method.upper()} {path} documents no responses"


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


async def test_document_is_valid_openapi_31(
    settings: Settings, db: asyncpg.Connection[Any], aiohttp_client: Any
) -> None:
    from openapi_spec_validator import OpenAPIV31SpecValidator

    client: TestClient = await aiohttp_client(create_app(settings.model_copy(update={"smpp_enabled": False})))
    doc = await (await client.get("/openapi.json")).json()
    errors = [e.message for e in OpenAPIV31SpecValidator(doc).iter_errors()]
    assert errors == []
    refs = _refs(doc)
    assert refs and not [r for r in refs if "$defs" in r]
    for ref in refs:
        assert isinstance(_resolve(doc, ref), dict), ref  # every $ref points at a schema of this document
    for path, item in doc["paths"].items():
        names = set(re.findall(r"{([^}]+)}", path))
        for method, op in item.items():
            params = [_resolve(doc, p["$ref"]) if "$ref" in p else p for p in op.get("parameters", [])]
            declared = {p["name"] for p in params if p["in"] == "path"}
            assert declared == names, f"{method.upper()} {path}"
