"""Append-only audit, hash-chained per subject.

Each row's ``hash`` is SHA-256 over the previous row's hash and the canonical JSON of the row's content, so
editing, deleting or reordering a row breaks the chain from that row on; ``verify`` finds the first break.
Subjects are pseudonyms (a keyed hash of the MSISDN), so erasure leaves the chain intact.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lbs.db import Conn
from lbs.pseudonym import pseudonym as pseudonym  # re-exported: the audit's subjects are pseudonyms

GENESIS = "0" * 64

_CONTENT = (
    "subject",
    "seq",
    "kind",
    "application_id",
    "purpose",
    "precision",
    "grant_id",
    "request_id",
    "actor",
    "details",
    "occurred_at",
)


def row_hash(prev_hash: str, content: dict[str, Any]) -> str:
    """Chain hash of one row; ``occurred_at`` as ISO text, keys sorted, no whitespace."""
    data = {k: content[k] for k in _CONTENT}
    if isinstance(data["occurred_at"], datetime):
        data["occurred_at"] = data["occurred_at"].astimezone(UTC).isoformat()
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    kind: str
    actor: str
    occurred_at: datetime
    application_id: int | None = None
    purpose: str | None = None
    precision: str | None = None
    grant_id: int | None = None
    request_id: str | None = None
    details: dict[str, Any] | None = None


async def append(conn: Conn, subject: str, entry: AuditEntry) -> int:
    """Append ``entry`` to ``subject``'s chain inside the caller's transaction; returns the row's sequence number."""
    # Serialise appends per subject so two writers never take the same seq or prev_hash.
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", subject)
    last = await conn.fetchrow("SELECT seq, hash FROM audit_log WHERE subject = $1 ORDER BY seq DESC LIMIT 1", subject)
    seq, prev = (last["seq"] + 1, last["hash"]) if last else (1, GENESIS)
    content = {
        "subject": subject,
        "seq": seq,
        "kind": entry.kind,
        "application_id": entry.application_id,
        "purpose": entry.purpose,
        "precision": entry.precision,
        "grant_id": entry.grant_id,
        "request_id": entry.request_id,
        "actor": entry.actor,
        "details": entry.details or {},
        "occurred_at": entry.occurred_at,
    }
    await conn.execute(
        "INSERT INTO audit_log (subject, seq, kind, application_id, purpose, precision, grant_id, request_id, actor,"
        " details, occurred_at, prev_hash, hash) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10::jsonb,$11,$12,$13)",
        subject,
        seq,
        entry.kind,
        entry.application_id,
        entry.purpose,
        entry.precision,
        entry.grant_id,
        entry.request_id,
        entry.actor,
        json.dumps(content["details"]),
        entry.occurred_at,
        prev,
        row_hash(prev, content),
    )
    return seq


@dataclass(frozen=True)
class ChainBreak:
    subject: str
    seq: int
    row_id: int
    reason: str


async def verify(conn: Conn) -> tuple[int, ChainBreak | None]:
    """Recompute every chain; return (rows checked, first break or None)."""
    checked = 0
    subject, prev, expected_seq = None, GENESIS, 1
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        async for row in conn.cursor("SELECT * FROM audit_log ORDER BY subject, seq"):
            if row["subject"] != subject:
                subject, prev, expected_seq = row["subject"], GENESIS, 1
            content = dict(row)
            content["details"] = json.loads(row["details"]) if isinstance(row["details"], str) else row["details"]
            if row["seq"] != expected_seq:
                return checked, ChainBreak(row["subject"], row["seq"], row["id"], f"expected seq {expected_seq}")
            if row["prev_hash"] != prev:
                return checked, ChainBreak(row["subject"], row["seq"], row["id"], "prev_hash does not link")
            if row_hash(prev, content) != row["hash"]:
                return checked, ChainBreak(row["subject"], row["seq"], row["id"], "content does not match its hash")
            prev, expected_seq = row["hash"], expected_seq + 1
            checked += 1
    return checked, None
