"""The OpenAPI 3.1 document. A test compares it with the app's routes, so it cannot drift silently."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

OPENAPI_FRAGMENTS_KEY = web.AppKey("openapi_fragments", list)

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["status", "code", "message"],
    "properties": {
        "status": {"type": "integer", "example": 400},
        "code": {"type": "string", "example": "INVALID_ARGUMENT"},
        "message": {"type": "string"},
    },
}


def path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": description}


def query_param(name: str, description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": {"type": "string"}, "description": description}


def error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def json_ok(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema or {"type": "object"}}}}


AUTH_ERRORS = {"401": error("Missing or invalid API key"), "403": error("The key's role may not call this")}
BODY_ERRORS = {"400": error("Invalid body"), "413": error("Body too large"), "415": error("Not JSON")}


def operation(
    summary: str,
    responses: dict[str, Any],
    *,
    roles: tuple[str, ...] = (),
    body: str | type[BaseModel] | None = None,
    parameters: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One operation; ``body`` names a component schema or is a pydantic model (inlined)."""
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if parameters:
        op["parameters"] = parameters
    if roles:
        op["security"] = [{"bearer": []}]
        op["description"] = f"Roles: {', '.join(roles)}."
        op["responses"] = {**responses, **AUTH_ERRORS}
    if body:
        schema = {"$ref": f"#/components/schemas/{body}"} if isinstance(body, str) else body.model_json_schema()
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
        op["responses"] = {**op["responses"], **BODY_ERRORS}
    return op


def _schemas() -> dict[str, Any]:
    from api.v1 import ApplicationIn, ProviderIn

    return {
        "Error": ERROR_SCHEMA,
        "ProviderIn": ProviderIn.model_json_schema(),
        "ApplicationIn": ApplicationIn.model_json_schema(),
    }


PATHS: dict[str, Any] = {
    "/health": {
        "get": operation(
            "Health of PostgreSQL, Redis, the SMPP bind and the LES",
            {"200": json_ok("All parts answer"), "503": error("Some part failed; `checks` names it")},
        )
    },
    "/metrics": {
        "get": operation(
            "Prometheus metrics", {"200": {"description": "Text exposition format", "content": {"text/plain": {}}}}
        )
    },
    "/openapi.json": {"get": operation("This document", {"200": json_ok("OpenAPI 3.1")})},
    "/v1/me": {"get": operation("The calling key", {"200": json_ok("Role and name")}, roles=("any",))},
    "/v1/providers": {
        "get": operation("List providers", {"200": json_ok("Providers")}, roles=("operator",)),
        "post": operation(
            "Register a provider",
            {"201": json_ok("Created"), "409": error("Name taken")},
            roles=("operator",),
            body="ProviderIn",
        ),
    },
    "/v1/applications": {
        "get": operation("The caller's applications", {"200": json_ok("Applications")}, roles=("provider",)),
        "post": operation(
            "Register an application",
            {"201": json_ok("Created"), "409": error("Name taken")},
            roles=("provider",),
            body="ApplicationIn",
        ),
    },
    "/v1/applications/{name}": {
        "get": operation(
            "One of the caller's applications",
            {"200": json_ok("Application"), "404": error("No such application for this provider")},
            roles=("provider",),
        )
    },
}


def _components() -> dict[str, Any]:
    """Our schemas, and the CAMARA r3.2 components (schemas, responses, parameters, headers) of the vendored YAMLs."""
    from api import camara_spec

    camara = camara_spec.components()
    return {
        **camara,
        "schemas": {**_schemas(), **camara.get("schemas", {})},
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                       "description": "lbs_... API key, or a CAMARA device access token (JWT)"}},
    }  # fmt: skip


def build_document(app: web.Application) -> dict[str, Any]:
    """The document: our paths plus the fragments other parts registered in ``OPENAPI_FRAGMENTS_KEY``."""
    paths = dict(PATHS)
    for fragment in app.get(OPENAPI_FRAGMENTS_KEY, []):
        paths.update(fragment)
    return {
        "openapi": "3.1.0",
        "info": {"title": "LBS & consent platform API", "version": "0.1.0"},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": _components(),
    }
