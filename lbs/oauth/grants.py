"""The authorisation requests behind CAMARA device tokens (owner of ``oauth_requests``).

1. :func:`start` (the client, with its API key): a row with the scopes and the hash of a 6-digit one-time code;
   the caller sends the code to the subscriber by SMS in the same transaction (the messaging outbox);
2. :func:`confirm` (the subscriber, with the code): an authorisation code, once; wrong codes count, and
   ``oauth_otp_attempts`` of them fail the request;
3. :func:`exchange` (the client, with its API key and the code): the request is ``exchanged`` and access tokens
   may be issued for it (``sub`` = its public id);
4. :func:`subject_of`: on every call with a token, the device and application behind it.
Only hashes of the one-time and authorisation codes are stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from lbs.db import Conn
from lbs.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated

OTP_DIGITS = 6


@dataclass(frozen=True)
class Subject:
    """Who a token speaks for: the device, and the application (and its provider) it was granted to."""

    grant: str
    msisdn: str
    application_id: int
    application: str
    provider_id: int


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_otp() -> str:
    """Six random digits."""
    return f"{secrets.randbelow(10**OTP_DIGITS):0{OTP_DIGITS}d}"


async def start(
    conn: Conn, *, provider_id: int, application_id: int, msisdn: str, scopes: frozenset[str],
    redirect_uri: str | None, otp: str, now: datetime, ttl_s: int,
) -> str:  # fmt: skip
    """Record a pending request; its public id."""
    public_id = str(uuid.uuid4())
    await conn.execute(
        "INSERT INTO oauth_requests (public_id, provider_id, application_id, msisdn, scopes, redirect_uri, otp_hash,"
        " expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        public_id,
        provider_id,
        application_id,
        msisdn,
        sorted(scopes),
        redirect_uri,
        digest(otp),
        now + timedelta(seconds=ttl_s),
    )
    return public_id


async def confirm(
    pool: asyncpg.Pool[Any], public_id: str, otp: str, now: datetime, max_attempts: int
) -> tuple[str, str | None]:
    """The subscriber's code -> (authorisation code, redirect URI); 404 unknown, 403 wrong or spent."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT id, otp_hash, attempts, status, expires_at, redirect_uri FROM oauth_requests"
            " WHERE public_id = $1 FOR UPDATE",
            public_id,
        )
        if row is None:
            raise NotFound(f"no authorisation request {public_id!r}")
        if row["status"] != "pending" or now >= row["expires_at"]:
            raise PermissionDenied("this authorisation request is no longer pending; start a new one")
        if not hmac.compare_digest(row["otp_hash"], digest(otp.strip())):
            failed = row["attempts"] + 1 >= max_attempts
            await conn.execute(
                "UPDATE oauth_requests SET attempts = attempts + 1, status = $2 WHERE id = $1",
                row["id"],
                "failed" if failed else "pending",
            )
            raise PermissionDenied("wrong code" + ("; the request is cancelled" if failed else ""))
        code = secrets.token_urlsafe(32)
        await conn.execute(
            "UPDATE oauth_requests SET status = 'confirmed', code_hash = $2 WHERE id = $1", row["id"], digest(code)
        )
    return code, row["redirect_uri"]


async def exchange(pool: asyncpg.Pool[Any], code: str, provider_id: int, now: datetime) -> tuple[str, str, list[str]]:
    """An authorisation code (once, by the provider it was made for) -> (grant id, application, scopes)."""
    row = await pool.fetchrow(
        "UPDATE oauth_requests r SET status = 'exchanged' FROM applications a"
        " WHERE a.id = r.application_id AND r.code_hash = $1 AND r.provider_id = $2 AND r.status = 'confirmed'"
        " AND r.expires_at > $3 RETURNING r.public_id, a.name, r.scopes",
        digest(code),
        provider_id,
        now,
    )
    if row is None:
        raise InvalidArgument("invalid, used or expired authorisation code", code="INVALID_GRANT")
    return str(row["public_id"]), str(row["name"]), list(row["scopes"])


async def subject_of(pool: asyncpg.Pool[Any], grant: str) -> Subject:
    """The device behind a token's ``sub``; 401 when the authorisation is unknown or revoked."""
    row = await pool.fetchrow(
        "SELECT r.msisdn, r.application_id, a.name, r.provider_id FROM oauth_requests r"
        " JOIN applications a ON a.id = r.application_id WHERE r.public_id = $1 AND r.status = 'exchanged'",
        grant,
    )
    if row is None:
        raise Unauthenticated("the authorisation behind this access token is unknown or revoked")
    return Subject(grant, row["msisdn"], row["application_id"], row["name"], row["provider_id"])


async def revoke(pool: asyncpg.Pool[Any], grant: str, provider_id: int) -> bool:
    """Revoke an authorisation (its tokens stop working at once)."""
    done = await pool.fetchval(
        "UPDATE oauth_requests SET status = 'revoked' WHERE public_id = $1 AND provider_id = $2 RETURNING 1",
        grant,
        provider_id,
    )
    return done is not None
