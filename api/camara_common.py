"""What the three CAMARA DeviceLocation APIs share: the ``Device`` object as r3.2 defines it, who the subject
is (a device token, or ``device`` in the body, never both), which application asks, and ``x-correlator``.

Input is validated once here, into pydantic models that follow the vendored YAMLs: a malformed identifier is a
400 even next to a valid phone number. This platform locates by ``phoneNumber`` only; a device named only by
other identifiers is 422 UNSUPPORTED_IDENTIFIER.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.auth import CamaraCaller
from api.keys import PG_POOL_KEY
from lbs.errors import InvalidArgument, LbsError, Unprocessable
from lbs.msisdn import to_e164
from lbs.pois import store

CORRELATOR: Final = re.compile(r"^[a-zA-Z0-9\-_:;./<>{}]{0,256}$")
APPLICATION_HEADER: Final = "X-Application"
NAI: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")  # {Local Identifier}@{Domain Identifier}


class Ipv4Address(BaseModel):
    """CAMARA DeviceIpv4Addr: a public address with its port or with the private address."""

    model_config = ConfigDict(extra="forbid")
    publicAddress: str
    privateAddress: str | None = None
    publicPort: int | None = Field(None, ge=0, le=65535)

    @field_validator("publicAddress", "privateAddress")
    @classmethod
    def _ipv4(cls, value: str | None) -> str | None:
        if value is not None:
            ipaddress.IPv4Address(value)  # ValueError -> 400
        return value

    @model_validator(mode="after")
    def _pair(self) -> Ipv4Address:
        if self.privateAddress is None and self.publicPort is None:
            raise ValueError("ipv4Address needs privateAddress or publicPort next to publicAddress")
        return self


class Device(BaseModel):
    """CAMARA Device (``minProperties: 1``)."""

    model_config = ConfigDict(extra="forbid")
    phoneNumber: str | None = Field(None, pattern=r"^\+[1-9][0-9]{4,14}$")
    networkAccessIdentifier: str | None = None
    ipv4Address: Ipv4Address | None = None
    ipv6Address: str | None = None

    @field_validator("networkAccessIdentifier")
    @classmethod
    def _nai(cls, value: str | None) -> str | None:
        if value is not None and not NAI.match(value):
            raise ValueError("networkAccessIdentifier must look like local@domain")
        return value

    @field_validator("ipv6Address")
    @classmethod
    def _ipv6(cls, value: str | None) -> str | None:
        if value is not None:
            ipaddress.IPv6Address(value)
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Device:
        if not self.model_fields_set:
            raise ValueError("device must name at least one identifier")
        return self


def subject(caller: CamaraCaller, device: Device | None) -> tuple[str, bool]:
    """(MSISDN to act on, whether the request named it): the token's device, or the body's ``phoneNumber``."""
    if caller.device is not None:
        if device is not None:
            raise Unprocessable("the access token already identifies the device", code="UNNECESSARY_IDENTIFIER")
        return caller.device, False
    if device is None:
        raise Unprocessable("the device is not identified (no access token names it)", code="MISSING_IDENTIFIER")
    if device.phoneNumber is None:
        raise Unprocessable("this API identifies devices by phoneNumber only", code="UNSUPPORTED_IDENTIFIER")
    return to_e164(device.phoneNumber), True


async def application(request: web.Request, caller: CamaraCaller) -> store.AppRef:
    """The application whose consent applies: the token's, else ``X-Application``, else the provider's only one."""
    if caller.application is not None:
        return caller.application
    pool = request.app[PG_POOL_KEY]
    name = request.headers.get(APPLICATION_HEADER)
    if name:
        return await store.app_by_name(pool, name, caller.provider_id)
    return await store.only_app_of(pool, caller.provider_id)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def with_correlator(handler: Handler) -> Handler:
    """Check and echo ``x-correlator``; render errors here so they carry it too."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        correlator = request.headers.get("x-correlator")
        valid = correlator is not None and CORRELATOR.match(correlator) is not None
        try:
            if correlator is not None and not valid:
                raise InvalidArgument("x-correlator must be at most 256 of [a-zA-Z0-9-_:;./<>{}]")
            response = await handler(request)
        except LbsError as err:
            response = web.json_response(err.to_body(), status=err.status)
        if valid and correlator is not None:
            response.headers["x-correlator"] = correlator
        return response

    return wrapped
