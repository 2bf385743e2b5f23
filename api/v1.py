"""Tenancy endpoints: who am I, providers (operator), applications (provider, own only)."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from api.auth import provider_id_of, require
from api.keys import PG_POOL_KEY
from api.validation import parse_json
from lbs.errors import Conflict, NotFound

routes = web.RouteTableDef()


class ProviderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=2, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$")


class ApplicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=2, max_length=20, pattern=r"^[A-Z0-9]+$", description="Upper-case SMS name")
    description: str = Field("", max_length=500)


def _iso(row: asyncpg.Record) -> dict[str, Any]:
    out = dict(row)
    out["created_at"] = row["created_at"].isoformat()
    return out


@routes.get("/v1/me")
async def me(request: web.Request) -> web.Response:
    """The calling key's role and name."""
    p = await require(request)
    return web.json_response({"role": p.role, "name": p.name, "provider_id": p.provider_id})


@routes.post("/v1/providers")
async def create_provider(request: web.Request) -> web.Response:
    """Operator: register a service provider."""
    await require(request, "operator")
    body = await parse_json(request, ProviderIn)
    try:
        row = await request.app[PG_POOL_KEY].fetchrow(
            "INSERT INTO providers (name) VALUES ($1) RETURNING id, name, created_at", body.name
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"a provider named {body.name!r} exists") from exc
    assert row is not None
    return web.json_response(_iso(row), status=201)


@routes.get("/v1/providers")
async def list_providers(request: web.Request) -> web.Response:
    """Operator: every provider."""
    await require(request, "operator")
    rows = await request.app[PG_POOL_KEY].fetch("SELECT id, name, created_at FROM providers ORDER BY id")
    return web.json_response({"providers": [_iso(r) for r in rows]})


@routes.post("/v1/applications")
async def create_application(request: web.Request) -> web.Response:
    """Provider: register an application under the caller's provider."""
    provider_id = provider_id_of(await require(request, "provider"))
    body = await parse_json(request, ApplicationIn)
    try:
        row = await request.app[PG_POOL_KEY].fetchrow(
            "INSERT INTO applications (provider_id, name, description) VALUES ($1, $2, $3)"
            " RETURNING id, name, description, created_at",
            provider_id,
            body.name,
            body.description,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"an application named {body.name!r} exists") from exc
    assert row is not None
    return web.json_response(_iso(row), status=201)


@routes.get("/v1/applications")
async def list_applications(request: web.Request) -> web.Response:
    """Provider: the caller's own applications."""
    provider_id = provider_id_of(await require(request, "provider"))
    rows = await request.app[PG_POOL_KEY].fetch(
        "SELECT id, name, description, created_at FROM applications WHERE provider_id = $1 ORDER BY id", provider_id
    )
    return web.json_response({"applications": [_iso(r) for r in rows]})


@routes.get("/v1/applications/{name}")
async def get_application(request: web.Request) -> web.Response:
    """Provider: one of the caller's applications; another provider's is 404 so existence does not leak."""
    provider_id = provider_id_of(await require(request, "provider"))
    row = await request.app[PG_POOL_KEY].fetchrow(
        "SELECT id, name, description, created_at FROM applications WHERE provider_id = $1 AND name = $2",
        provider_id,
        request.match_info["name"],
    )
    if row is None:
        raise NotFound(f"no application named {request.match_info['name']!r}")
    return web.json_response(_iso(row))
