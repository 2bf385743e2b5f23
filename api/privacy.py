"""``POST /v1/privacy/check``: the platform answers the LES's privacy checker before any disclosure.

Internal endpoint: the caller presents ``Authorization: Bearer {settings.privacy_internal_key}``. The decision:
allow when the requestor is the located subscriber (self-location: the request is itself the consent), else whatever
the consent registry's ``decide`` says for that application and purpose. There is no other way in: tests set up
real grants.
"""

from __future__ import annotations

import hmac
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from api.keys import CONSENT_KEY, SETTINGS_KEY
from api.validation import parse_json
from lbs.consent.decision import Purpose
from lbs.errors import LbsError, Unauthenticated
from lbs.msisdn import to_e164
from lbs.settings import Settings

PATH = "/v1/privacy/check"


class PrivacyCheckRequest(BaseModel):
    """What the LES asks: may ``application`` (on behalf of ``requestor``) learn where ``msisdn`` is?"""

    model_config = ConfigDict(extra="forbid")

    msisdn: str = Field(min_length=3, max_length=32, description="The located subscriber (E.164 or national).")
    application: str = Field(min_length=1, max_length=128, description="The MLP client id asking the LES.")
    requestor: str | None = Field(None, max_length=64, description="MLP hdr requestor id, when a person asks.")
    service_id: str | None = Field(None, max_length=128, description="MLP serviceid of the request.")
    purpose: Literal["active", "passive", "marketing"] = Field("active", description="SLIR: active; TLRR: passive.")


class PrivacyCheckResponse(BaseModel):
    """The decision: allowed or not, at which precision, and why."""

    allowed: bool
    precision: Literal["exact", "coarse"] | None
    reason: str = Field(
        description="self_location, ALLOWED (a consent grant), or the refusal: CONSENT_REQUIRED, "
        "CONSENT_REVOKED, CONSENT_EXPIRED, CONSENT_PAUSED."
    )
    msisdn: str
    application: str | None = None
    grant_id: int | None = None


PURPOSES = {"active": Purpose.ACTIVE_LOOKUP, "passive": Purpose.GEOFENCING, "marketing": Purpose.MARKETING}


def decide(query: PrivacyCheckRequest) -> PrivacyCheckResponse:
    """Before the registry: self-location, else deny (pure)."""
    msisdn = to_e164(query.msisdn)
    if query.requestor and _same(query.requestor, msisdn):
        return PrivacyCheckResponse(allowed=True, precision="exact", reason="self_location", msisdn=msisdn)
    return PrivacyCheckResponse(allowed=False, precision=None, reason="no_grant", msisdn=msisdn)


def _same(raw: str, e164: str) -> bool:
    try:
        return to_e164(raw) == e164
    except LbsError:
        return False


def _authorise(request: web.Request, settings: Settings) -> None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = settings.privacy_internal_key.encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise Unauthenticated("privacy check needs the internal bearer key")


async def privacy_check(request: web.Request) -> web.Response:
    """``POST /v1/privacy/check``: self-location first, then the consent registry (no other way in).

    The application is the MLP ``serviceid`` the platform sent (one LES account serves every application);
    without one, the MLP client id. The purpose follows the request: SLIR active, TLRR passive.
    """
    settings = request.app[SETTINGS_KEY]
    _authorise(request, settings)
    query = await parse_json(request, PrivacyCheckRequest)
    answer = decide(query)
    if not answer.allowed:
        application = (query.service_id or query.application).upper()
        decision = await request.app[CONSENT_KEY].check(answer.msisdn, application, PURPOSES[query.purpose])
        answer = PrivacyCheckResponse(
            allowed=decision.allowed,
            precision=decision.precision.value if decision.precision else None,
            reason=decision.reason.value,
            msisdn=answer.msisdn,
            application=application,
            grant_id=decision.grant_id,
        )
    return web.json_response(answer.model_dump())


def setup_privacy_routes(app: web.Application) -> None:
    """Add ``POST /v1/privacy/check`` to the platform app."""
    app.router.add_post(PATH, privacy_check)


_ERROR = {"$ref": "#/components/schemas/Error"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


OPENAPI_PATHS: dict[str, Any] = {
    PATH: {
        "post": {
            "operationId": "privacyCheck",
            "tags": ["internal"],
            "summary": "May this application learn where this subscriber is? (asked by the LES before disclosure)",
            "security": [{"bearer": []}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": PrivacyCheckRequest.model_json_schema()}},
            },
            "responses": {
                "200": {
                    "description": "The decision.",
                    "content": {"application/json": {"schema": PrivacyCheckResponse.model_json_schema()}},
                },
                "400": _error("Invalid body or MSISDN."),
                "401": _error("Missing or wrong internal key."),
                "415": _error("Body is not JSON."),
            },
        }
    }
}
