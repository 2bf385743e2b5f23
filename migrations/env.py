"""Alembic environment: async (asyncpg), URL from the platform settings, PostGIS-aware comparison."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import geofences.tables
import lbs.billing.tables
import lbs.consent.tables
import lbs.messaging.tables
import lbs.oauth.tables
import lbs.pois.tables
from lbs.models import metadata
from lbs.settings import Settings

# Each domain keeps its tables next to its code (``<package>/tables.py``) on the shared ``lbs.models.metadata``;
# importing them registers them all for ``alembic check``. One line per domain.
DOMAIN_TABLES = (
    geofences.tables,
    lbs.billing.tables,
    lbs.consent.tables,
    lbs.messaging.tables,
    lbs.oauth.tables,
    lbs.pois.tables,
)

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# Tables PostGIS owns (spatial_ref_sys, topology, tiger) are not ours to compare.
_FOREIGN_SCHEMAS = {"topology", "tiger", "tiger_data"}


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    if type_ == "table" and reflected and compare_to is None:
        return False
    schema = getattr(obj, "schema", None)
    if schema in _FOREIGN_SCHEMAS:
        return False
    return bool(alembic_helpers.include_object(obj, name, type_, reflected, compare_to))


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    return str(url) if url else Settings().sqlalchemy_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_object=include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
        compare_type=True,
        compare_server_default=False,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
