"""Bearer API keys with roles: 401 without a valid key, 403 with the wrong role."""

from __future__ import annotations

from aiohttp import web

from api.keys import PG_POOL_KEY, PRINCIPAL_KEY
from lbs.apikeys import Principal, authenticate
from lbs.errors import PermissionDenied, Unauthenticated


async def require(request: web.Request, *roles: str) -> Principal:
    """The caller's principal, checked against ``roles`` (any role when none are named)."""
    if PRINCIPAL_KEY in request:
        principal = request[PRINCIPAL_KEY]
    else:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("missing bearer API key (Authorization: Bearer lbs_...)")
        found = await authenticate(request.app[PG_POOL_KEY], token.strip())
        if found is None:
            raise Unauthenticated("invalid or revoked API key")
        principal = request[PRINCIPAL_KEY] = found
    if roles and principal.role not in roles:
        raise PermissionDenied(f"this endpoint needs the role {' or '.join(roles)}; the key has {principal.role}")
    return principal


def provider_id_of(principal: Principal) -> int:
    """A provider key always names its provider (a CHECK constraint guarantees it)."""
    assert principal.provider_id is not None
    return principal.provider_id
