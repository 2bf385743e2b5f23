"""API keys: bearer tokens with a role, stored as a SHA-256 hash and never in clear.

A token looks like ``lbs_<prefix>_<secret>``; the prefix finds the row, the hash proves the secret. Tokens carry
256 bits of randomness, so a fast hash is enough (no password stretching needed for unguessable secrets).

A key may be limited to some CAMARA scopes (``location-retrieval:read``...); a key with no scopes of its own
(``scopes`` NULL, as every key made before scopes existed) has all the scopes of its role.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from lbs.errors import InvalidArgument, NotFound
from lbs.models import ROLES
from lbs.oauth.tokens import CAMARA_SCOPES

# The scopes a key has when it names none: providers call the CAMARA APIs, the other roles do not.
ROLE_SCOPES: dict[str, frozenset[str]] = {"provider": CAMARA_SCOPES, "officer": frozenset(), "operator": frozenset()}

TOKEN_PREFIX = "lbs"  # noqa: S105 - a label, not a secret


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, role, name and (for providers) their provider id."""

    key_id: int
    role: str
    name: str
    provider_id: int | None
    scopes: frozenset[str] = field(default_factory=frozenset)


def hash_secret(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """Return ``(prefix, token)`` for a fresh key."""
    prefix = secrets.token_hex(6)
    return prefix, f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"


def parse_prefix(token: str) -> str | None:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1]:
        return None
    return parts[1]


def check_scopes(role: str, scopes: Iterable[str] | None) -> list[str] | None:
    """The scopes to store for a new key (None: all of its role's); 400 for a scope the role cannot have."""
    if scopes is None:
        return None
    wanted = sorted(set(scopes))
    unknown = [s for s in wanted if s not in ROLE_SCOPES.get(role, frozenset())]
    if unknown:
        raise InvalidArgument(f"a {role} key cannot have the scopes {', '.join(unknown)}")
    return wanted


async def create_key(
    conn: asyncpg.Connection[Any] | asyncpg.Pool[Any],
    *,
    role: str,
    name: str,
    provider: str | None = None,
    scopes: Iterable[str] | None = None,
) -> str:
    """Create a key and return its token: the only moment the clear token exists."""
    stored_scopes = check_scopes(role, scopes)
    if role not in ROLES:
        raise InvalidArgument(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if not name.strip():
        raise InvalidArgument("a key needs a name")
    provider_id = None
    if role == "provider":
        if not provider:
            raise InvalidArgument("a provider key needs --provider NAME")
        provider_id = await conn.fetchval("SELECT id FROM providers WHERE name = $1", provider)
        if provider_id is None:
            raise NotFound(f"no provider named {provider!r}")
    prefix, token = new_token()
    await conn.execute(
        "INSERT INTO api_keys (prefix, key_hash, role, name, provider_id, scopes) VALUES ($1, $2, $3, $4, $5, $6)",
        prefix,
        hash_secret(token),
        role,
        name.strip(),
        provider_id,
        stored_scopes,
    )
    return token


async def authenticate(conn: asyncpg.Connection[Any] | asyncpg.Pool[Any], token: str) -> Principal | None:
    """The principal behind ``token``, or None when it is unknown, revoked or wrong."""
    prefix = parse_prefix(token)
    if prefix is None:
        return None
    row = await conn.fetchrow(
        "SELECT id, key_hash, role, name, provider_id, scopes FROM api_keys WHERE prefix = $1 AND revoked_at IS NULL",
        prefix,
    )
    if row is None or not hmac.compare_digest(row["key_hash"], hash_secret(token)):
        return None
    scopes = ROLE_SCOPES.get(row["role"], frozenset()) if row["scopes"] is None else frozenset(row["scopes"])
    return Principal(row["id"], row["role"], row["name"], row["provider_id"], scopes)
