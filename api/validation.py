"""Validate input once, at the edge, into typed models."""

from __future__ import annotations

import json
import math
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from lbs.errors import InvalidArgument, UnsupportedMediaType

M = TypeVar("M", bound=BaseModel)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # what a BIGINT column holds


def describe(err: ValidationError) -> str:
    """One readable sentence per problem: ``name: Field required; k: Input should be ...``."""
    parts = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "body"
        parts.append(f"{where}: {e['msg']}")
    return "; ".join(parts)


async def read_json(request: web.Request) -> object:
    """The decoded JSON body of ``request``, or a house-shaped 415 (not JSON), 400 (broken) or 413 (too large).

    Refused here, once for every endpoint, what no column can hold: NUL characters (PostgreSQL text cannot store
    them), integers outside 64 bits (BIGINT), ``NaN``/``Infinity``/``1e999`` (not finite), and nesting deeper than
    Python's stack.
    """
    if request.content_type != "application/json":
        raise UnsupportedMediaType(f"expected Content-Type application/json, got {request.content_type!r}")
    raw = await request.read()
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise InvalidArgument(f"body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidArgument("body: nested too deeply") from exc
    check_storable(data)
    return data


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def check_storable(data: object, where: str = "body") -> None:
    """Refuse values no column can hold (see :func:`read_json`), naming where they are."""
    stack: list[tuple[object, str]] = [(data, where)]
    while stack:
        node, at = stack.pop()
        if isinstance(node, str):
            check_text(node, at)
        elif isinstance(node, int) and not isinstance(node, bool) and not INT64_MIN <= node <= INT64_MAX:
            raise InvalidArgument(f"{at}: {node} is out of range (at most {INT64_MAX})")
        elif isinstance(node, float) and not math.isfinite(node):  # 1e999 parses as inf
            raise InvalidArgument(f"{at}: not a finite number")
        elif isinstance(node, dict):
            for key, value in node.items():
                check_text(key, at)
                stack.append((value, f"{at}.{key}"))
        elif isinstance(node, list):
            stack.extend((value, f"{at}[{i}]") for i, value in enumerate(node))


def check_text(value: str, where: str) -> str:
    """``value`` unless it holds a NUL character (no PostgreSQL text column can store one)."""
    if "\x00" in value:
        raise InvalidArgument(f"{where}: NUL characters are not allowed")
    return value


def whole_number(raw: str, where: str, *, low: int = 0, high: int = INT64_MAX) -> int:
    """An id or count from a path or query string: ASCII digits only (``isdigit()`` also takes ``²`` and ``١``),
    within ``low..high`` (by default what a BIGINT holds)."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(high)) or not low <= int(raw) <= high:
        raise InvalidArgument(f"{where}: a whole number from {low} to {high}, not {raw[:40]!r}")
    return int(raw)


async def parse_json(request: web.Request, model: type[M]) -> M:
    """Read the JSON body of ``request`` into ``model`` or raise a house-shaped 400/415/413."""
    return validate(model, await read_json(request))


def validate(model: type[M], data: object) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise InvalidArgument(describe(err)) from err
