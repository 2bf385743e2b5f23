"""The vendored CAMARA r3.2 OpenAPI files (``api/camara_specs/*.yaml``): the contract of the three CAMARA APIs.

``/openapi.json`` takes their paths and components from here, so the platform documents exactly the r3.2
schemas. Each API's components are renamed ``<Api>.<Name>`` (e.g. ``LocationRetrieval.Device``) so the three
files, which all define ``Device`` or ``ErrorInfo``, sit side by side in one document; every ``$ref`` follows.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Final

import yaml

SPEC_DIR: Final = Path(__file__).with_name("camara_specs")
APIS: Final = ("location-retrieval", "location-verification", "geofencing-subscriptions")


@functools.cache
def load(api: str) -> dict[str, Any]:
    """The vendored YAML of ``api`` as it is (the tests validate against this)."""
    if api not in APIS:
        raise KeyError(api)
    data: dict[str, Any] = yaml.safe_load((SPEC_DIR / f"{api}.yaml").read_text(encoding="utf-8"))
    return data


def prefix(api: str) -> str:
    """``location-retrieval`` -> ``LocationRetrieval``."""
    return "".join(part.capitalize() for part in api.split("-"))


def base_path(api: str) -> str:
    """The path the API is served under (its server URL without ``{apiRoot}``)."""
    return str(load(api)["servers"][0]["url"]).removeprefix("{apiRoot}")


def _renamed(node: Any, api: str) -> Any:
    if isinstance(node, dict):
        out = {k: _renamed(v, api) for k, v in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/"):
            kind, name = ref.removeprefix("#/components/").split("/", 1)
            out["$ref"] = f"#/components/{kind}/{prefix(api)}.{name}"
        mapping = out.get("mapping")
        if isinstance(mapping, dict):
            out["mapping"] = {k: _renamed({"$ref": v}, api)["$ref"] for k, v in mapping.items()}
        return out
    if isinstance(node, list):
        return [_renamed(v, api) for v in node]
    return node


def _security(op: dict[str, Any]) -> dict[str, Any]:
    """CAMARA's openId scopes, on this platform's bearer scheme (API key with scopes, or device access token)."""
    scopes = [s for req in op.get("security", []) for s in req.get("openId", [])]
    return {**op, "security": [{"bearer": scopes}], "tags": [f"CAMARA {op.get('tags', [''])[0]} (r3.2)"]}


def paths(api: str) -> dict[str, Any]:
    """The API's paths, full (base path included), for ``/openapi.json``."""
    spec = _renamed(load(api), api)
    out: dict[str, Any] = {}
    for path, item in spec["paths"].items():
        out[base_path(api) + path] = {m: _security(op) if isinstance(op, dict) else op for m, op in item.items()}
    return out


def components() -> dict[str, dict[str, Any]]:
    """Every API's components, renamed, by kind (schemas, responses, parameters, headers)."""
    out: dict[str, dict[str, Any]] = {}
    for api in APIS:
        spec = _renamed(load(api), api)
        for kind, entries in spec["components"].items():
            if kind == "securitySchemes":
                continue
            for name, value in entries.items():
                out.setdefault(kind, {})[f"{prefix(api)}.{name}"] = value
    return out
