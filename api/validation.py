"""Validate input once, at the edge, into typed models."""

from __future__ import annotations

import json
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from lbs.errors import InvalidArgument, UnsupportedMediaType

M = TypeVar("M", bound=BaseModel)


def describe(err: ValidationError) -> str:
    """One readable sentence per problem: ``name: Field required; k: Input should be ...``."""
    parts = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "body"
        parts.append(f"{where}: {e['msg']}")
    return "; ".join(parts)


async def read_json(request: web.Request) -> object:
    """The decoded JSON body of ``request``, or a house-shaped 415 (not JSON), 400 (broken) or 413 (too large)."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType(f"expected Content-Type application/json, got {request.content_type!r}")
    raw = await request.read()
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArgument(f"body is not valid JSON: {exc}") from exc


async def parse_json(request: web.Request, model: type[M]) -> M:
    """Read the JSON body of ``request`` into ``model`` or raise a house-shaped 400/415/413."""
    return validate(model, await read_json(request))


def validate(model: type[M], data: object) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise InvalidArgument(describe(err)) from err
