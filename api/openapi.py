"""The OpenAPI 3.1 document. A test compares it with the app's routes, so it cannot drift silently."""

from __future__ import annotations

import copy
import re
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
    """The document: our paths plus the fragments other parts registered in ``OPENAPI_FRAGMENTS_KEY``.

    Fragments are normalised here, so none can make the document invalid: every path parameter is declared (a
    string unless the fragment says more), and the ``$defs`` pydantic puts inside inlined models are hoisted into
    ``components/schemas`` with their ``$ref``s rewritten (``#/$defs/X`` resolves against the document root).
    """
    paths = copy.deepcopy(PATHS)
    for fragment in app.get(OPENAPI_FRAGMENTS_KEY, []):
        paths.update(copy.deepcopy(fragment))
    components = _components()
    schemas: dict[str, Any] = dict(components["schemas"])
    for template, item in paths.items():
        _declare_path_params(template, item, components)
    paths = _hoist_defs(paths, schemas)
    for name in list(schemas):  # what a component's own $defs adds is hoisted already
        schemas[name] = _hoist_defs(schemas[name], schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "LBS & consent platform API", "version": "0.1.0"},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {**components, "schemas": schemas},
    }


HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _declare_path_params(template: str, item: dict[str, Any], components: dict[str, Any]) -> None:
    names = re.findall(r"{([^}]+)}", template)
    shared = _path_names(item.get("parameters", []), components)
    for method in HTTP_METHODS:
        op = item.get(method)
        if op is None:
            continue
        declared = shared | _path_names(op.get("parameters", []), components)
        missing = [path_param(n, f"The {n.replace('_', ' ')}") for n in names if n not in declared]
        if missing:
            op["parameters"] = [*op.get("parameters", []), *missing]


def _path_names(parameters: list[dict[str, Any]], components: dict[str, Any]) -> set[str]:
    """Names of the path parameters declared, inline or as ``#/components/parameters/...`` references."""
    found = set()
    for p in parameters:
        ref = p.get("$ref", "")
        if ref.startswith("#/components/parameters/"):
            p = components.get("parameters", {}).get(ref.rsplit("/", 1)[1], {})
        if p.get("in") == "path" and "name" in p:
            found.add(p["name"])
    return found


def _hoist_defs(node: Any, schemas: dict[str, Any]) -> Any:
    """``node`` with its ``$defs`` moved into ``schemas`` (renamed on a clash) and its refs rewritten."""
    if isinstance(node, list):
        return [_hoist_defs(x, schemas) for x in node]
    if not isinstance(node, dict):
        return node
    defs = node.get("$defs")
    if isinstance(defs, dict):
        renames = {name: _free_name(name, schema, schemas) for name, schema in defs.items()}
        node = _rewrite_refs({k: v for k, v in node.items() if k != "$defs"}, renames)
        for name, schema in defs.items():
            schemas[renames[name]] = _hoist_defs(_rewrite_refs(schema, renames), schemas)
    return {k: _hoist_defs(v, schemas) for k, v in node.items()}


def _free_name(name: str, schema: Any, schemas: dict[str, Any]) -> str:
    candidate, n = name, 1
    while candidate in schemas and schemas[candidate] != schema:
        n += 1
        candidate = f"{name}{n}"
    return candidate


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, list):
        return [_rewrite_refs(x, renames) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _rewrite_refs(v, renames) for k, v in node.items() if k != "$defs"}
    if "$defs" in node:
        out["$defs"] = node["$defs"]  # a nested scope: hoisted on its own, with its own names
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/") and ref[8:] in renames:
        out["$ref"] = f"#/components/schemas/{renames[ref[8:]]}"
    return out
