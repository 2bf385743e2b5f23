"""The vendored YAMLs load, their examples of errors validate, and a wrong body is caught (the validator works)."""

from __future__ import annotations

import jsonschema
import pytest

from api import camara_spec
from tests.camara.spec import validate_event, validate_response, validate_schema


def test_the_three_r3_2_files() -> None:
    versions = {api: camara_spec.load(api)["info"]["version"] for api in camara_spec.APIS}
    assert versions == {"location-retrieval": "0.5.0", "location-verification": "3.0.0",
                        "geofencing-subscriptions": "0.5.0"}  # fmt: skip
    assert camara_spec.base_path("location-verification") == "/location-verification/v3"


def test_validator_catches_deviations() -> None:
    ok = {"lastLocationTime": "2026-01-01T00:00:00Z",
          "area": {"areaType": "CIRCLE", "center": {"latitude": 50.0, "longitude": 4.0}, "radius": 10}}  # fmt: skip
    validate_response("location-retrieval", "post", "/retrieve", 200, ok)
    with pytest.raises(jsonschema.ValidationError):
        validate_response("location-retrieval", "post", "/retrieve", 200, {"area": ok["area"]})
    with pytest.raises(jsonschema.ValidationError):  # the 404 of retrieval is IDENTIFIER_NOT_FOUND only
        validate_response("location-retrieval", "post", "/retrieve", 404, {"status": 404, "code": "NOT_FOUND",
                                                                           "message": "x"})  # fmt: skip
    with pytest.raises(AssertionError):
        validate_response("location-verification", "post", "/verify", 409, {})
    with pytest.raises(jsonschema.ValidationError):
        validate_schema("location-verification", "Device", {"ipv4Address": {"publicAddress": "1.2.3.999",
                                                                            "publicPort": 1}})  # fmt: skip
    started = {"id": "1", "source": "/x", "type": "org.camaraproject.geofencing-subscriptions.v0.subscription-started",
               "specversion": "1.0", "time": "2026-01-01T00:00:00Z", "data": {"subscriptionId": "s"}}  # fmt: skip
    with pytest.raises(jsonschema.ValidationError):  # initiationReason and area are required
        validate_event(started)
