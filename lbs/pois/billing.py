"""Billable events of active queries: one location per successful locate, one MT per reply segment.

:class:`BillingSink` is the small typed interface the SMS and CAMARA front ends call; :class:`CdrBilling` records
through :func:`lbs.billing.record` (rated CDR, prepaid debit, idempotent by key). Tests pass a recording sink.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

import asyncpg

from lbs.billing import LocationKind, LocationResult, MtSegment, record


@dataclass(frozen=True)
class Usage:
    """Who is billed for what: ``key`` is unique per query (the MO id or the API request id) and stable on retry."""

    key: str
    provider_id: int
    application_id: int
    occurred_at: datetime
    short_code: str | None = None


class BillingSink(Protocol):
    """Where active queries report what they cost."""

    async def location(self, usage: Usage, kind: LocationKind) -> None:
        """One position disclosed to the application (call only after a successful locate)."""
        ...

    async def reply(self, usage: Usage, segments: int) -> None:
        """A reply MT of ``segments`` parts sent for the application."""
        ...


class CdrBilling:
    """Records CDRs through :func:`lbs.billing.record`, one transaction per event, on the given pool.

    Reply MTs are keyed ``reply:{usage.key}`` with segment numbers: under a *submission* charging point they are
    billed now; under a *delivery* point they wait for a receipt naming that key, which only the MT pipeline
    can give (see ``docs/pois.md``).
    """

    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self.pool = pool

    async def location(self, usage: Usage, kind: LocationKind) -> None:
        event = LocationResult(idempotency_key=f"loc:{usage.key}", provider_id=usage.provider_id,
                               application_id=usage.application_id, occurred_at=usage.occurred_at,
                               short_code=usage.short_code, kind=kind)  # fmt: skip
        async with self.pool.acquire() as conn:
            await record(cast("asyncpg.Connection[Any]", conn), event)

    async def reply(self, usage: Usage, segments: int) -> None:
        async with self.pool.acquire() as proxy, proxy.transaction():
            conn = cast("asyncpg.Connection[Any]", proxy)
            for segment in range(1, segments + 1):
                await record(conn, MtSegment(idempotency_key=f"reply:{usage.key}:{segment}",
                                             provider_id=usage.provider_id, application_id=usage.application_id,
                                             occurred_at=usage.occurred_at, short_code=usage.short_code,
                                             message_key=f"reply:{usage.key}", segment=segment))  # fmt: skip
