"""CAMARA geofencing subscriptions (v0.5): a device x a circle -> CloudEvents 1.0 POSTed to the subscriber's sink.

Each subscription is a circle fence in the workers' index, with id ``SUBSCRIPTION_FENCE_BASE + subscription id``
(promotions keep the ids below). A transition of the subscribed device becomes ``area-entered`` / ``area-left``
under the same consent rule as promotions (the application's ``geofencing`` grant). Every event is first a row of
``geofencing_deliveries`` (the durable outbox, ``event_id`` unique = idempotency key), then :func:`deliver_due`
POSTs it with retries and exponential backoff, signed with the subscription's credential: ``ACCESSTOKEN`` as
``Authorization: Bearer``, ``PLAIN`` as ``X-Signature: sha256=<HMAC-SHA256 of the body with the secret>``.
The subscription ends (``subscription-ended``) when deleted, expired, or after ``subscriptionMaxEvents`` events.
Event data follows the r3.2 schemas: every event carries ``subscriptionId`` and ``area``; ``device`` only when the
subscription request named it (not when a device token did); ``subscription-started`` has ``initiationReason``.
At creation the device's last known position (:func:`initial`) gives ``initialEvent`` and seeds the workers'
presence (:func:`seed_presence`), so a device inside at creation that leaves yields ``area-left``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, TypeAlias

import aiohttp
import asyncpg
import redis.asyncio as aioredis
import structlog

from geofences.model import Circle, Fence
from geofences.presence import encode_state, presence_key
from geofences.promotions import FenceSync
from geofences.transitions import Detect, FenceState, Transition
from lbs import outbound
from lbs.consent import registry
from lbs.consent.decision import Purpose
from lbs.db import Conn, Executor
from lbs.settings import Settings

log = structlog.get_logger(__name__)

Row: TypeAlias = Mapping[str, Any] | asyncpg.Record

SUBSCRIPTION_FENCE_BASE = 1 << 31  # fence ids at or above this are subscriptions; below, promotions
PREFIX = "org.camaraproject.geofencing-subscriptions.v0."
AREA_ENTERED = PREFIX + "area-entered"
AREA_LEFT = PREFIX + "area-left"
STARTED = PREFIX + "subscription-started"
ENDED = PREFIX + "subscription-ended"
AREA_TYPES = (AREA_ENTERED, AREA_LEFT)
SOURCE = "/geofencing-subscriptions/v0.5/subscriptions"
COLUMNS = "s.*, a.name AS application FROM geofencing_subscriptions s JOIN applications a ON a.id = s.application_id"


def fence_id_of(subscription_id: int) -> int:
    """The engine's fence id of a subscription."""
    return SUBSCRIPTION_FENCE_BASE + subscription_id


def area_of(row: Row) -> dict[str, Any]:
    """The subscription's area in CAMARA's shape."""
    return {
        "areaType": "CIRCLE",
        "center": {"latitude": row["lat"], "longitude": row["lon"]},
        "radius": row["radius_m"],
    }


def device_of(row: Row) -> dict[str, str] | None:
    """The device as events and responses show it: only when the subscription request named it."""
    return {"phoneNumber": row["msisdn"]} if row["device_in_request"] else None


def event_data(row: Row, **extra: Any) -> dict[str, Any]:
    """An event's ``data`` (``subscriptionId`` is added by :func:`cloud_event`)."""
    device = device_of(row)
    return {**({"device": device} if device else {}), "area": area_of(row), **extra}


def cloud_event(row: Row, kind: str, data: dict[str, Any], event_id: str, now: datetime) -> dict[str, Any]:
    """A CloudEvents 1.0 JSON event for a subscription."""
    return {
        "id": event_id,
        "source": f"{SOURCE}/{row['public_id']}",
        "type": kind,
        "specversion": "1.0",
        "datacontenttype": "application/json",
        "time": now.isoformat(),
        "data": {"subscriptionId": row["public_id"], **data},
    }


async def enqueue(conn: Conn, row: Row, kind: str, data: dict[str, Any], event_id: str, now: datetime) -> bool:
    """Write one event to the outbox; False when an event with this id exists (a replay)."""
    event = cloud_event(row, kind, data, event_id, now)
    inserted = await conn.fetchval(
        "INSERT INTO geofencing_deliveries (subscription_id, event_id, body, next_attempt_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (event_id) DO NOTHING RETURNING id",
        row["id"],
        event_id,
        json.dumps(event),
        now,
    )
    return inserted is not None


async def end(conn: Conn, row: Row, status: str, reason: str, now: datetime) -> None:
    """End a subscription: its status, and a ``subscription-ended`` event (once)."""
    changed = await conn.fetchval(
        "UPDATE geofencing_subscriptions SET status = $2, updated_at = clock_timestamp()"
        " WHERE id = $1 AND status = 'ACTIVE' RETURNING id",
        row["id"],
        status,
    )
    if changed is not None:
        data = event_data(row, terminationReason=reason)
        await enqueue(conn, row, ENDED, data, f"{row['public_id']}:ended", now)


async def started(conn: Conn, row: Row, now: datetime) -> None:
    """The ``subscription-started`` event of a new subscription."""
    data = event_data(row, initiationReason="SUBSCRIPTION_CREATED")
    await enqueue(conn, row, STARTED, data, f"{row['public_id']}:started", now)


async def emit(conn: Conn, row: Row, kind: str, event_id: str, now: datetime) -> bool:
    """One area event, counted against ``subscriptionMaxEvents`` (the subscription ends at the cap)."""
    async with conn.transaction():
        if not await enqueue(conn, row, kind, event_data(row), event_id, now):
            return False
        sent = await conn.fetchval(
            "UPDATE geofencing_subscriptions SET events_sent = events_sent + 1 WHERE id = $1 RETURNING events_sent",
            row["id"],
        )
        if row["max_events"] is not None and sent >= row["max_events"]:
            await end(conn, row, "EXPIRED", "MAX_EVENTS_REACHED", now)
    return True


def initial_kind(types: list[str], inside: bool) -> str | None:
    """The ``initialEvent`` for a device found inside (area-entered) or outside (area-left), if subscribed."""
    kind = AREA_ENTERED if inside else AREA_LEFT
    return kind if kind in types else None


async def initial(conn: Conn, row: Row, inside: bool, now: datetime) -> str | None:
    """The initial event of a subscription created with ``initialEvent`` (the event type, or None)."""
    kind = initial_kind(_types(row), inside)
    if not row["initial_event"] or kind is None:
        return None
    await emit(conn, row, kind, f"{row['public_id']}:initial", now)
    return kind


async def seed_presence(redis: aioredis.Redis, settings: Settings, row: Row, at: datetime) -> None:
    """The device is inside the new subscription's circle: the workers start from "inside", not "outside".

    Only a fence state the workers have not written yet is set (HSETNX), so a report they already applied wins.
    """
    key = presence_key(row["msisdn"])
    state = encode_state(FenceState(inside=True, since=at.timestamp()))
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hsetnx(key, str(fence_id_of(int(row["id"]))), state)
        pipe.expire(key, settings.retention_presence_s, nx=True)
        await pipe.execute()


async def handle_transition(conn: Conn, settings: Settings, transition: Transition, now: datetime) -> str | None:
    """An engine transition on a subscription fence -> the event type enqueued, or None (not for it, refused)."""
    kind = {Detect.ENTER: AREA_ENTERED, Detect.EXIT: AREA_LEFT}.get(transition.detect)
    row = await conn.fetchrow(f"SELECT {COLUMNS} WHERE s.id = $1", transition.fence_id - SUBSCRIPTION_FENCE_BASE)
    if kind is None or row is None or row["status"] != "ACTIVE" or row["msisdn"] != transition.msisdn:
        return None
    if row["expires_at"] is not None and now >= row["expires_at"]:
        await end(conn, row, "EXPIRED", "SUBSCRIPTION_EXPIRED", now)
        return None
    if (
        kind not in _types(row)
        or not (await registry.check(conn, row["msisdn"], row["application"], Purpose.GEOFENCING, now)).allowed
    ):
        return None
    event_id = f"{row['public_id']}:{transition.detect.value}:{transition.at!r}"
    return kind if await emit(conn, row, kind, event_id, now) else None


def _types(row: Row) -> list[str]:
    types = row["types"]
    return list(json.loads(types) if isinstance(types, str) else types)


async def changed_fences(conn: Executor, since: datetime | None, known: Mapping[int, datetime]) -> FenceSync:
    """Subscription fences changed after ``since`` (keys of ``known``/``versions``: fence ids)."""
    rows = await conn.fetch(
        "SELECT id, lon, lat, radius_m, status, updated_at FROM geofencing_subscriptions"
        " WHERE $1::timestamptz IS NULL OR updated_at > $1 ORDER BY updated_at",
        since,
    )
    sync = FenceSync([], [], since, {})
    for row in rows:
        fence_id = fence_id_of(int(row["id"]))
        sync.seen_until = row["updated_at"]
        if known.get(fence_id) == row["updated_at"]:
            continue
        if row["status"] == "ACTIVE":
            sync.upsert.append(Fence(fence_id, Circle(row["lon"], row["lat"], row["radius_m"])))
        else:
            sync.remove.append(fence_id)
        sync.versions[fence_id] = row["updated_at"]
    return sync


async def expire_due(pool: asyncpg.Pool[Any], now: datetime) -> int:
    """End the subscriptions whose expiry time has passed."""
    rows = await pool.fetch(
        f"SELECT {COLUMNS} WHERE s.status = 'ACTIVE' AND s.expires_at IS NOT NULL AND s.expires_at <= $1", now
    )
    for row in rows:
        async with pool.acquire() as conn:
            await end(conn, row, "EXPIRED", "SUBSCRIPTION_EXPIRED", now)
    return len(rows)


# Take due deliveries: push their next attempt past a lease (a crashed sender's rows come back), count the attempt.
_CLAIM = """
UPDATE geofencing_deliveries d SET next_attempt_at = $2, attempts = attempts + 1
FROM geofencing_subscriptions s
WHERE s.id = d.subscription_id AND d.id IN (
    SELECT id FROM geofencing_deliveries WHERE status = 'pending' AND next_attempt_at <= $1
    ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
RETURNING d.id, d.body, d.attempts, s.sink, s.credential
"""


def signed_headers(credential: Mapping[str, Any] | None, body: bytes) -> dict[str, str]:
    """Headers of one delivery: content type and the subscription's credential."""
    headers = {"Content-Type": "application/cloudevents+json"}
    kind = (credential or {}).get("credentialType")
    if kind == "ACCESSTOKEN":
        headers["Authorization"] = f"Bearer {credential['accessToken']}"  # type: ignore[index]
    elif kind == "PLAIN":
        secret = str(credential["secret"]).encode()  # type: ignore[index]
        headers["X-Signature"] = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return headers


async def deliver_due(
    pool: asyncpg.Pool[Any], session: aiohttp.ClientSession, settings: Settings, now: datetime, limit: int = 100
) -> int:
    """POST the due events (claimed with SKIP LOCKED: several workers may run this); the number attempted.

    Through an :func:`lbs.outbound.session` (public addresses only, no redirects), at most
    ``geofence_delivery_per_sink`` at once per sink; each row's lease covers its wait behind the others.
    """
    per_sink = max(1, settings.geofence_delivery_per_sink)
    lease = now + timedelta(seconds=settings.geofence_delivery_timeout_s * (2 + -(-limit // per_sink)))
    rows = await pool.fetch(_CLAIM, now, lease, limit)

    async def deliver(row: Row) -> None:
        await _settle(pool, settings, row, await _post(session, settings, row), now)

    await outbound.each_per_host(rows, lambda row: str(row["sink"]), per_sink, deliver)
    return len(rows)


async def _post(session: aiohttp.ClientSession, settings: Settings, row: Row) -> str | None:
    body = row["body"] if isinstance(row["body"], str) else json.dumps(row["body"])
    credential = json.loads(row["credential"]) if isinstance(row["credential"], str) else row["credential"]
    data = body.encode()
    headers = signed_headers(credential, data)
    return await outbound.post(session, row["sink"], data, headers, settings.geofence_delivery_timeout_s)


async def _settle(pool: asyncpg.Pool[Any], settings: Settings, row: Row, error: str | None, now: datetime) -> None:
    if error is None:
        await pool.execute(
            "UPDATE geofencing_deliveries SET status = 'delivered', last_error = NULL WHERE id = $1", row["id"]
        )
        return
    attempts = int(row["attempts"])
    status = "failed" if attempts >= settings.geofence_delivery_attempts else "pending"
    retry = now + timedelta(seconds=settings.geofence_delivery_backoff_s * 2 ** (attempts - 1))
    await pool.execute(
        "UPDATE geofencing_deliveries SET status = $2, next_attempt_at = $3, last_error = $4 WHERE id = $1",
        row["id"],
        status,
        retry,
        error,
    )
    log.info("cloudevent delivery failed", delivery=row["id"], attempts=attempts, error=error, status=status)


def new_public_id() -> str:
    """A subscription id as CAMARA clients see it."""
    return str(uuid.uuid4())


# --- the subscriptions table, for the API -------------------------------------------------------------------


_INSERT_COLUMNS = (
    "public_id", "provider_id", "application_id", "msisdn", "lon", "lat", "radius_m", "types", "sink", "credential",
    "initial_event", "max_events", "expires_at", "device_in_request",
)  # fmt: skip


async def insert(conn: Conn, values: Mapping[str, Any]) -> asyncpg.Record:
    """A new ACTIVE subscription (``values``: every column of ``_INSERT_COLUMNS``); the row."""
    row = await conn.fetchrow(
        "INSERT INTO geofencing_subscriptions (public_id, provider_id, application_id, msisdn, lon, lat, radius_m,"
        " types, sink, credential, initial_event, max_events, expires_at, device_in_request)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING *",
        *(values[c] for c in _INSERT_COLUMNS),
    )
    assert row is not None
    found: asyncpg.Record = row
    return found


async def find(pool: Executor, public_id: str, provider_id: int, msisdn: str | None) -> asyncpg.Record | None:
    """A provider's live subscription (for a device token: only one of its device's)."""
    row: asyncpg.Record | None = await pool.fetchrow(
        "SELECT * FROM geofencing_subscriptions WHERE public_id = $1 AND provider_id = $2 AND status <> 'DELETED'"
        " AND ($3::text IS NULL OR msisdn = $3)",
        public_id,
        provider_id,
        msisdn,
    )
    return row


async def list_of(pool: Executor, provider_id: int, msisdn: str | None) -> list[asyncpg.Record]:
    """A provider's live subscriptions (for a device token: its device's), oldest first."""
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT * FROM geofencing_subscriptions WHERE provider_id = $1 AND status <> 'DELETED'"
        " AND ($2::text IS NULL OR msisdn = $2) ORDER BY id",
        provider_id,
        msisdn,
    )
    return rows


async def delete(conn: Conn, row: Row, now: datetime) -> None:
    """Delete: ``subscription-ended`` (SUBSCRIPTION_DELETED), then the DELETED status."""
    await end(conn, row, "DELETED", "SUBSCRIPTION_DELETED", now)
    await conn.execute(
        "UPDATE geofencing_subscriptions SET status = 'DELETED', updated_at = clock_timestamp() WHERE id = $1",
        row["id"],
    )


async def known_device(conn: Executor, msisdn: str) -> bool:
    """Whether the number is one of this operator's subscribers."""
    return bool(await conn.fetchval("SELECT 1 FROM subscribers WHERE msisdn = $1", msisdn))
