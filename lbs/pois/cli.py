"""``lbs pois import FILE --app NAME``: stream a CSV or GeoJSON file into an application's POIs.

``register(sub)`` adds the ``pois`` subcommand to the ``lbs`` parser; ``api.cli`` runs ``args.func(settings, args)``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg

from lbs.db import init_connection
from lbs.pois.loader import ImportReport, import_rows
from lbs.pois.parse import Counter, PoiRow, RowError, parse_csv, parse_geojson
from lbs.pois.store import app_by_name
from lbs.settings import Settings

CHUNK_BYTES = 1_048_576
# A local file is the operator's own: no byte limit beyond the row limit.
LOCAL_FILE_MAX_BYTES = 2**62


def register(sub: Any) -> None:
    """Add ``pois import`` to the ``lbs`` subparsers ``sub``."""
    pois = sub.add_parser("pois", help="points of interest")
    pois_sub = pois.add_subparsers(dest="pois_command", required=True)
    imp = pois_sub.add_parser("import", help="import a CSV or GeoJSON file of POIs into an application")
    imp.add_argument("file", type=Path, help="the file (.csv, .geojson or .json)")
    imp.add_argument("--app", required=True, help="application name, e.g. CITYGUIDE")
    imp.add_argument("--format", choices=["csv", "geojson"], help="default: from the file name")
    imp.add_argument("--replace", action="store_true", help="also delete the application's POIs not in the file")
    imp.set_defaults(func=run_import)


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            yield chunk
            await asyncio.sleep(0)


def _progress(started: float) -> Any:
    def show(rows: int) -> None:
        rate = rows / max(time.perf_counter() - started, 1e-9)
        print(f"\r  {rows:,} rows read ({rate:,.0f} rows/s)", end="", file=sys.stderr, flush=True)

    return show


async def import_file(settings: Settings, path: Path, app: str, fmt: str, replace: bool) -> ImportReport:
    """Import ``path`` into ``app`` (all or nothing), showing progress on stderr."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        await init_connection(conn)
        application = await app_by_name(conn, app)
        counter = Counter(LOCAL_FILE_MAX_BYTES, settings.pois_max_upload_rows)
        parse = parse_csv if fmt == "csv" else parse_geojson
        rows: AsyncIterator[PoiRow | RowError] = parse(_chunks(path), counter, settings.pois_h3_res)
        return await import_rows(conn, application.id, rows, replace=replace, batch_size=settings.pois_import_batch,
                                 progress=_progress(time.perf_counter()))  # fmt: skip
    finally:
        await conn.close()


def run_import(settings: Settings, args: argparse.Namespace) -> int:
    """The ``lbs pois import`` command; 0 on success (LbsError refusals are printed by ``api.cli``)."""
    path: Path = args.file
    fmt = args.format or ("csv" if path.suffix.lower() == ".csv" else "geojson")
    started = time.perf_counter()
    report = asyncio.run(import_file(settings, path, args.app, fmt, args.replace))
    took = time.perf_counter() - started
    print(f"\n{args.app}: {report.received:,} rows, {report.inserted:,} new, {report.updated:,} updated, "
          f"{report.deleted:,} deleted in {took:.1f} s")  # fmt: skip
    return 0
