"""The MLP push listener: the LES's way in, on its own host and port (``mlp_push_host:mlp_push_port``).

It is not on the provider-facing API: a provider who can reach the API has no route to it, and the operator can
firewall it to the LES alone. What it takes goes whole to the geofence position stream (one MULTI/EXEC: a document
is applied whole or not at all). The req_ids it accepts are the ones this platform's MLP client opened, kept in
Redis (:class:`lbs.mlp.reqids.RedisOpenRequests`) so that any process may open them and this one receive.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from aiohttp import web

from geofences.transitions import Report
from geofences.worker import report_fields
from lbs.clock import Clock
from lbs.mlp.models import PositionReport
from lbs.mlp.receiver import PushReceiver, ReportsHandler, push_app
from lbs.mlp.reqids import RedisOpenRequests
from lbs.settings import Settings


def to_position_stream(redis: aioredis.Redis, settings: Settings) -> ReportsHandler:
    """Append a document's positions to the geofence stream in one transaction (all of them or none)."""

    async def on_reports(reports: list[PositionReport]) -> None:
        # Geofencing is keyed by MSISDN (the receiver made them E.164); an IMSI-identified report is not for it.
        positions = [(r.msid, r.position) for r in reports if r.position is not None and r.msid.startswith("+")]
        if not positions:
            return
        async with redis.pipeline(transaction=True) as pipe:
            for msisdn, p in positions:
                report = Report(msisdn, p.lon, p.lat, p.accuracy_m, p.timestamp.timestamp())
                pipe.xadd(
                    settings.geofence_stream,
                    report_fields(report),  # type: ignore[arg-type]
                    maxlen=settings.geofence_stream_maxlen,
                    approximate=True,
                )
            await pipe.execute()

    return on_reports


@asynccontextmanager
async def serve_push(settings: Settings, redis: aioredis.Redis, clock: Clock) -> AsyncIterator[PushReceiver | None]:
    """Serve the push receiver on its own listener while the context is open (None: this process does not)."""
    if not settings.mlp_push_listen:
        yield None
        return
    opened = RedisOpenRequests(redis)
    receiver = PushReceiver(settings, to_position_stream(redis, settings), opened=opened, clock=clock)
    runner = web.AppRunner(push_app(settings, receiver), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.mlp_push_host, settings.mlp_push_port).start()
        yield receiver
    finally:
        await runner.cleanup()
