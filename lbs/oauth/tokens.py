"""Access tokens that identify a device, as signed JWTs (HS256): pure functions, the time is an argument.

A token names its authorisation (``sub``: the public id of the confirmed request, not the phone number, which a
signed but unencrypted JWT would disclose to the client), the application (``client_id``) and the scopes. The
device behind ``sub`` is read from the authorisation row on use, so a revoked authorisation stops its tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import jwt

from lbs.errors import Unauthenticated

ISSUER: Final = "lbs-platform"
AUDIENCE: Final = "camara"
ALGORITHM: Final = "HS256"

# Scopes as the r3.2 YAMLs name them (security.openId of each operation).
RETRIEVE: Final = "location-retrieval:read"
VERIFY: Final = "location-verification:verify"
GEOFENCING_READ: Final = "geofencing-subscriptions:read"
GEOFENCING_DELETE: Final = "geofencing-subscriptions:delete"
GEOFENCING_PREFIX: Final = "geofencing-subscriptions:org.camaraproject.geofencing-subscriptions.v0."
ENTERED_CREATE: Final = GEOFENCING_PREFIX + "area-entered:create"
LEFT_CREATE: Final = GEOFENCING_PREFIX + "area-left:create"
CAMARA_SCOPES: Final = frozenset({RETRIEVE, VERIFY, GEOFENCING_READ, GEOFENCING_DELETE, ENTERED_CREATE, LEFT_CREATE})


def create_scope(event_type: str) -> str:
    """The scope that lets a client subscribe to ``event_type`` (``org.camaraproject...v0.area-entered``)."""
    return f"geofencing-subscriptions:{event_type}:create"


@dataclass(frozen=True)
class AccessToken:
    """What a verified token says."""

    grant: str  # public id of the confirmed authorisation request
    application: str
    scopes: frozenset[str]
    expires_at: datetime


def parse_scopes(raw: str) -> frozenset[str]:
    """``"a b c"`` -> {a, b, c}."""
    return frozenset(s for s in raw.split() if s)


def issue(secret: str, grant: str, application: str, scopes: frozenset[str], now: datetime, ttl_s: int) -> str:
    """A signed token for ``grant``, valid ``ttl_s`` from ``now``."""
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": grant,
        "client_id": application,
        "scope": " ".join(sorted(scopes)),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl_s)).timestamp()),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify(secret: str, token: str, now: datetime) -> AccessToken:
    """The token's claims, or 401 UNAUTHENTICATED (bad signature, wrong issuer/audience, expired at ``now``)."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"verify_exp": False, "verify_iat": False, "require": ["exp", "sub", "client_id", "scope"]},
        )
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"invalid access token ({type(exc).__name__})") from None
    expires_at = datetime.fromtimestamp(int(claims["exp"]), tz=now.tzinfo)
    if now >= expires_at:
        raise Unauthenticated("the access token has expired; request a new one")
    return AccessToken(str(claims["sub"]), str(claims["client_id"]), parse_scopes(str(claims["scope"])), expires_at)


def looks_like_jwt(token: str) -> bool:
    """Three dot-separated parts (our API keys start with ``lbs_`` and have none)."""
    return token.count(".") == 2
