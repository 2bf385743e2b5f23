"""Consent operations as the SMS keywords, the provider API and the privacy officers use them."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from lbs.clock import Clock
from lbs.consent import audit, registry
from lbs.consent.decision import Decision, Grant, Precision, Purpose
from lbs.consent.projection import Action, ConsentEvent
from lbs.db import Conn
from lbs.errors import InvalidArgument
from lbs.settings import Settings

# A consent request can be answered by "YES <APP>" for this long.
REQUEST_VALIDITY = timedelta(days=7)
MAX_PAUSE = timedelta(days=365)
_DURATION = re.compile(r"^(\d{1,4})\s*(M|MIN|H|D|J|U)$")
_UNIT = {"M": 60, "MIN": 60, "H": 3600, "U": 3600, "D": 86400, "J": 86400}

SendSms = Callable[[Conn, str, str], Awaitable[None]]


def parse_duration(raw: str) -> timedelta:
    """``2H``, ``1D``, ``30M`` (``U`` = uur, ``J`` = jour) -> timedelta; InvalidArgument otherwise."""
    m = _DURATION.match(raw.strip().upper())
    if not m or int(m[1]) == 0:
        raise InvalidArgument(f"not a duration: {raw!r} (e.g. 30M, 2H, 1D)")
    span = timedelta(seconds=int(m[1]) * _UNIT[m[2]])
    if span > MAX_PAUSE:
        raise InvalidArgument("a pause lasts at most 365 days")
    return span


@dataclass(frozen=True)
class PendingRequest:
    application: str
    purpose: Purpose
    precision: Precision


class ConsentService:
    """Grants, pauses, revocations and erasure for one platform, each change in one transaction."""

    def __init__(self, pool: asyncpg.Pool[Any], settings: Settings, clock: Clock) -> None:
        self.pool = pool
        self.settings = settings
        self.clock = clock

    def subject(self, msisdn: str) -> registry.Subject:
        return registry.Subject(msisdn, audit.pseudonym(self.settings.pseudonym_key, msisdn))

    async def check(self, msisdn: str, application: str, purpose: Purpose) -> Decision:
        async with self.pool.acquire() as conn:
            return await registry.check(conn, msisdn, application.upper(), purpose, self.clock())

    async def grants(self, msisdn: str) -> tuple[list[Grant], datetime | None]:
        async with self.pool.acquire() as conn:
            return await registry.grants_of(conn, msisdn)

    async def change(
        self, msisdn: str, event: ConsentEvent, source: registry.Source, notify: tuple[SendSms, str] | None = None
    ) -> None:
        """Record ``event``; with ``notify`` = (send, text) the SMS is queued in the same transaction."""
        async with self.pool.acquire() as conn, conn.transaction():
            await registry.record(conn, self.subject(msisdn), event, source)
            if notify is not None:
                send, body = notify
                await send(conn, msisdn, body)

    async def grant(
        self,
        msisdn: str,
        application: str,
        purpose: Purpose,
        precision: Precision,
        source: registry.Source,
        validity: timedelta | None = None,
    ) -> ConsentEvent:
        validity = validity or timedelta(days=self.settings.consent_validity_days)
        event = registry.grant_event(application, purpose, precision, self.clock(), validity)
        await self.change(msisdn, event, source)
        return event

    async def revoke(
        self, msisdn: str, application: str | None, purpose: Purpose | None, source: registry.Source
    ) -> None:
        app = application.upper() if application else None
        await self.change(msisdn, ConsentEvent(Action.REVOKE, self.clock(), app, purpose), source)

    async def pause_all(self, msisdn: str, span: timedelta, source: registry.Source) -> datetime:
        now = self.clock()
        await self.change(msisdn, ConsentEvent(Action.PAUSE, now, paused_until=now + span), source)
        return now + span

    async def erase(self, msisdn: str, source: registry.Source) -> None:
        await self.change(msisdn, ConsentEvent(Action.ERASE, self.clock()), source)

    async def request(
        self,
        msisdn: str,
        application: str,
        purpose: Purpose,
        precision: Precision,
        source: registry.Source,
        notify: tuple[SendSms, str] | None = None,
    ) -> None:
        """Record that ``application`` asked; the subscriber answers ``YES <APP>`` (no answer means no)."""
        event = ConsentEvent(Action.REQUEST, self.clock(), application.upper(), purpose, precision)
        await self.change(msisdn, event, source, notify)

    async def pending(self, msisdn: str, application: str | None) -> list[PendingRequest]:
        """Unanswered requests of the last 7 days, newest first (one per application and purpose)."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT DISTINCT ON (a.name, e.purpose) a.name, e.purpose, e.precision, e.occurred_at"
                " FROM consent_events e JOIN applications a ON a.id = e.application_id"
                " WHERE e.subject = $1 AND e.action = 'request' AND e.occurred_at > $2"
                " AND ($3::text IS NULL OR a.name = $3)"
                " AND NOT EXISTS (SELECT 1 FROM consent_events g WHERE g.subject = e.subject AND g.action = 'grant'"
                "   AND g.application_id = e.application_id AND g.purpose = e.purpose"
                "   AND g.occurred_at >= e.occurred_at)"
                " ORDER BY a.name, e.purpose, e.occurred_at DESC",
                self.subject(msisdn).ref,
                self.clock() - REQUEST_VALIDITY,
                application.upper() if application else None,
            )
        rows = sorted(rows, key=lambda r: r["occurred_at"], reverse=True)
        return [PendingRequest(r["name"], Purpose(r["purpose"]), Precision(r["precision"])) for r in rows]
