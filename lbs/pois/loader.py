"""POI imports: validated rows are COPYed into a temporary stage, then upserted by the provider's own id.

All or nothing: an upload with any invalid row changes nothing and is answered with the first
:data:`MAX_REPORTED` errors (line or feature number and reason) and their total count. Rows with the same id
in one upload: the last one wins. ``replace=True`` also deletes the application's POIs the upload does not name.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Final

from lbs.db import Conn
from lbs.errors import InvalidArgument
from lbs.pois.parse import PoiRow, RowError
from lbs.pois.store import bump_version

MAX_REPORTED: Final = 100
_STAGE_COLUMNS: Final = (
    "seq", "external_id", "category", "name", "address", "phone", "opening_hours", "lat", "lon", "h3",
)  # fmt: skip

_UPSERT: Final = """
WITH up AS (
    INSERT INTO pois (application_id, external_id, category, name, address, phone, opening_hours, location, h3)
    SELECT DISTINCT ON (external_id) $1, external_id, category, name, address, phone, opening_hours,
           ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography, h3
    FROM poi_batch ORDER BY external_id, seq DESC
    ON CONFLICT (application_id, external_id) DO UPDATE SET
        category = EXCLUDED.category, name = EXCLUDED.name, address = EXCLUDED.address, phone = EXCLUDED.phone,
        opening_hours = EXCLUDED.opening_hours, location = EXCLUDED.location, h3 = EXCLUDED.h3, updated_at = now()
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated FROM up
"""
_TEMP_TABLES: Final = (
    "CREATE TEMP TABLE poi_batch (seq bigint, external_id text, category text, name text, address text,"
    " phone text, opening_hours text, lat float8, lon float8, h3 bigint) ON COMMIT DROP",
    "CREATE TEMP TABLE poi_seen (external_id text) ON COMMIT DROP",
)

Progress = Callable[[int], None]


@dataclass(frozen=True)
class ImportReport:
    """What an import did."""

    received: int
    inserted: int
    updated: int
    deleted: int

    def to_json(self) -> dict[str, Any]:
        return {"received": self.received, "inserted": self.inserted, "updated": self.updated, "deleted": self.deleted}


def refusal(errors: list[RowError], total: int, rows: int) -> InvalidArgument:
    """The 400 for an upload with invalid rows: the first errors with their line/feature and the count."""
    first = errors[0]
    return InvalidArgument(
        f"{total} of {rows} rows invalid, nothing imported; first: {first.where}: {first.reason}",
        code="INVALID_ROWS",
        details={"invalid": total, "rows": rows, "errors": [e.to_json() for e in errors]},
    )


class _Writer:
    """Writes one batch at a time: COPY into ``poi_batch``, then the upsert runs while the next batch is parsed
    (PostgreSQL works in its own process, so parsing and upserting overlap on two cores)."""

    def __init__(self, conn: Conn, app_id: int, replace: bool) -> None:
        self.conn, self.app_id, self.replace = conn, app_id, replace
        self.inserted = self.updated = 0
        self._task: asyncio.Task[None] | None = None
        self._dirty = False

    async def _upsert(self) -> None:
        counts = await self.conn.fetchrow(_UPSERT, self.app_id)
        assert counts is not None
        self.inserted += int(counts["inserted"])
        self.updated += int(counts["updated"])

    async def submit(self, batch: list[tuple[Any, ...]]) -> None:
        await self.drain()
        if self._dirty:
            await self.conn.execute("TRUNCATE poi_batch")
        await self.conn.copy_records_to_table("poi_batch", records=batch, columns=_STAGE_COLUMNS)
        self._dirty = True
        self._task = asyncio.create_task(self._upsert())
        await asyncio.sleep(0)  # let the task send its query; the server upserts while the caller parses on

    async def drain(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            await task
            if self.replace:
                await self.conn.execute("INSERT INTO poi_seen SELECT external_id FROM poi_batch")


async def _read(
    rows: AsyncIterator[PoiRow | RowError], writer: _Writer, batch_size: int, progress: Progress | None
) -> tuple[int, list[RowError], int]:
    """Write the valid rows while no row is invalid; return (rows seen, first errors, error count)."""
    batch: list[tuple[Any, ...]] = []
    errors: list[RowError] = []
    seen = bad = 0
    async for row in rows:
        seen += 1
        if isinstance(row, RowError):
            bad += 1
            if len(errors) < MAX_REPORTED:
                errors.append(row)
        elif not bad:
            batch.append((seen, row.external_id, row.category, row.name, row.address, row.phone,
                          row.opening_hours, row.lat, row.lon, row.h3))  # fmt: skip
            if len(batch) >= batch_size:
                await writer.submit(batch)
                batch = []
        if progress is not None and seen % batch_size == 0:
            progress(seen)
    if batch and not bad:
        await writer.submit(batch)
    await writer.drain()
    return seen, errors, bad


async def import_rows(
    conn: Conn,
    app_id: int,
    rows: AsyncIterator[PoiRow | RowError],
    *,
    replace: bool = False,
    batch_size: int = 10_000,
    progress: Progress | None = None,
) -> ImportReport:
    """Upsert ``rows`` into ``app_id``'s POIs in one transaction, or raise (400) and change nothing.

    ``updated`` counts upserts of ids that existed before their batch (an id repeated in two batches of one
    upload counts once as inserted, once as updated).
    """
    async with conn.transaction():
        for ddl in _TEMP_TABLES:
            await conn.execute(ddl)
        writer = _Writer(conn, app_id, replace)
        try:
            seen, errors, bad = await _read(rows, writer, batch_size, progress)
        finally:
            await writer.drain()
        if bad:
            raise refusal(errors, bad, seen)
        if seen == 0:
            raise InvalidArgument("empty upload: no POIs", code="EMPTY_UPLOAD")
        deleted = 0
        if replace:
            status = await conn.execute(
                "DELETE FROM pois p WHERE p.application_id = $1"
                " AND NOT EXISTS (SELECT 1 FROM poi_seen s WHERE s.external_id = p.external_id)",
                app_id,
            )
            deleted = int(status.split()[-1])
        await bump_version(conn, app_id)
    if progress is not None:
        progress(seen)
    return ImportReport(seen, writer.inserted, writer.updated, deleted)
