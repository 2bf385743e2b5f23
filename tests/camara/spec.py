"""Validation against the vendored CAMARA r3.2 YAMLs (api/camara_specs): response bodies, headers, CloudEvents."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from api import camara_spec

URNS = {api: f"urn:camara:{api}" for api in camara_spec.APIS}


@functools.cache
def _registry() -> Registry[Any]:
    resources = [(URNS[api], Resource.from_contents(camara_spec.load(api), DRAFT202012)) for api in camara_spec.APIS]
    return Registry().with_resources(resources)


def _resolve(api: str, node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        kind, name = node["$ref"].removeprefix("#/components/").split("/", 1)
        node = camara_spec.load(api)["components"][kind][name]
    return node


def validate_schema(api: str, ref: str, instance: Any) -> None:
    """``instance`` against ``#/components/schemas/<ref>`` of ``api`` (jsonschema raises on a mismatch)."""
    schema = {"$ref": f"{URNS[api]}#/components/schemas/{ref}"}
    Draft202012Validator(schema, registry=_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER).validate(
        instance
    )


def _validate(api: str, schema: dict[str, Any], instance: Any) -> None:
    wrapped = {"$id": "urn:camara:inline", "allOf": [_rebase(api, schema)]}
    Draft202012Validator(wrapped, registry=_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER).validate(
        instance
    )


def _rebase(api: str, node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _rebase(api, v) for k, v in node.items()}
        if isinstance(out.get("$ref"), str) and out["$ref"].startswith("#/"):
            out["$ref"] = URNS[api] + out["$ref"]
        return out
    if isinstance(node, list):
        return [_rebase(api, v) for v in node]
    return node


def operation(api: str, method: str, path: str) -> dict[str, Any]:
    """The operation of ``api`` at ``path`` (relative to its base path, e.g. ``/retrieve``)."""
    op: dict[str, Any] = camara_spec.load(api)["paths"][path][method.lower()]
    return op


def validate_response(
    api: str, method: str, path: str, status: int, body: Any, headers: Mapping[str, str] | None = None
) -> None:
    """A response as the YAML documents it: the status is listed, the body matches its schema, JSON when it has
    one, and ``x-correlator`` (when present) matches XCorrelator."""
    responses = operation(api, method, path)["responses"]
    assert str(status) in responses, f"{method} {path}: status {status} is not documented in {api}"
    response = _resolve(api, responses[str(status)])
    content = response.get("content")
    if content is None:
        assert body in (None, b"", ""), f"{status} documents no body, got {body!r}"
    else:
        _validate(api, content["application/json"]["schema"], body)
        if headers is not None:
            assert headers.get("Content-Type", "").startswith("application/json")
    if headers is not None and "x-correlator" in headers:
        validate_schema(api, "XCorrelator", headers["x-correlator"])


EVENT_SCHEMAS = {
    "org.camaraproject.geofencing-subscriptions.v0.area-entered": "EventAreaEntered",
    "org.camaraproject.geofencing-subscriptions.v0.area-left": "EventAreaLeft",
    "org.camaraproject.geofencing-subscriptions.v0.subscription-started": "EventSubscriptionStarted",
    "org.camaraproject.geofencing-subscriptions.v0.subscription-updated": "EventSubscriptionUpdated",
    "org.camaraproject.geofencing-subscriptions.v0.subscription-ended": "EventSubscriptionEnded",
}


def validate_event(event: Mapping[str, Any]) -> None:
    """A CloudEvent against the schema its type maps to (the YAML's discriminator)."""
    validate_schema("geofencing-subscriptions", EVENT_SCHEMAS[event["type"]], dict(event))
