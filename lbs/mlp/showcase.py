"""A demo step in plain words: triggered location reports over real MLP, for ``lbs demo`` / ``make run``.

``await show_triggered_reports(settings, session, "+32470000042", out=print)`` starts a periodic TLRR (every
second, the subscriber asking for themself through the platform's self-location client, so no grant is needed),
receives the pushed ``tlrep`` reports on a throw-away local receiver (with the push credentials, accepting only the
req_id it opened), prints them, stops the reports and returns True when they arrived.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import aiohttp
from aiohttp import web

from lbs.clock import Clock
from lbs.mlp.client import MlpClient
from lbs.mlp.models import PositionReport, ReportRequest
from lbs.mlp.receiver import PushReceiver, setup_push_routes
from lbs.mlp.reqids import MemoryOpenRequests
from lbs.settings import Settings

Out = Callable[[str], None]


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def describe(report: PositionReport) -> str:
    """One report in words."""
    pos = report.position
    if pos is None:
        return f"{report.msid}: no position ({int(report.result)} {report.result.text})"
    when = pos.timestamp.strftime("%H:%M:%S")
    return f"{report.msid} at {pos.lat:.5f}, {pos.lon:.5f} (within {pos.accuracy_m:.0f} m, {pos.method}, {when} UTC)"


async def show_triggered_reports(
    settings: Settings,
    session: aiohttp.ClientSession,
    msisdn: str,
    *,
    clock: Clock,
    out: Out = print,
    count: int = 3,
) -> bool:
    """Start periodic reports for ``msisdn``, print ``count`` of them as they are pushed, stop them."""
    got: list[PositionReport] = []
    arrived = asyncio.Event()

    async def on_reports(batch: list[PositionReport]) -> None:
        got.extend(batch)
        if len(got) >= count:
            arrived.set()

    host = "127.0.0.1"
    port = _free_port(host)
    opened = MemoryOpenRequests()
    app = web.Application()
    setup_push_routes(app, PushReceiver(settings, on_reports, opened=opened, clock=clock))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        push_url = f"http://{host}:{port}/mlp/push"
        client = MlpClient(session, settings.model_copy(update={"mlp_push_url": push_url}), clock=clock, opened=opened)
        request = ReportRequest(msisdns=(msisdn,), interval_s=1, requestor=msisdn)
        req_id = await client.start_reports(request, self_location=True)
        out(f"  the LES accepted triggered reporting {req_id}: one position per second, pushed to the platform")
        try:
            async with asyncio.timeout(count + 5):
                await arrived.wait()
        except TimeoutError:
            pass
        await client.stop_reports(req_id, self_location=True)
    finally:
        await runner.cleanup()
    for report in got[:count]:
        out(f"  report: {describe(report)}")
    return len(got) >= count
