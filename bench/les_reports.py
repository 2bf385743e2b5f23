"""Bench: triggered periodic reports pushed by the LES emulator and received + parsed by the platform.

One TLRR (``msid_range`` over 100,000 subscribers, periodic) is started through the platform's ``MlpClient``;
the emulator (its own process, started here on a free port) locates every subscriber each period and pushes
``tlrep`` documents (``les_tlrep_batch`` positions each) to the platform's ``PushReceiver`` in this process, which
parses each into typed reports. Figure: reports received per second while a round is being delivered
(both processes share this machine's cores). Target: >= 5,000/s (a 60 s period for 100k subscribers needs 1,667/s).

    .venv/bin/python bench/les_reports.py [--quick] [--subscribers 100000] [--rounds 3]

Prints ``les_reports_per_s``.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time

import aiohttp
from aiohttp import web

from lbs.mlp import MlpClient, PositionReport, PushReceiver, ReportRequest, setup_push_routes
from lbs.mlp.reqids import MemoryOpenRequests
from lbs.settings import Settings

FIRST = 32470000000
INTERVAL_S = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(port: int, population: int) -> None:
    """Child process: the emulator, with a privacy checker that allows everything (consent is not measured)."""
    from les_simulator.les.app import create_les_app
    from les_simulator.les.privacy import PrivacyDecision, PrivacyQuery
    from les_simulator.settings import LesSettings

    class AllowAll:
        async def check(self, query: PrivacyQuery) -> PrivacyDecision:
            return PrivacyDecision(True, "exact", "bench")

    settings = LesSettings(les_latency_scale=0.0, les_absent_share=0.0, les_population=population)
    web.run_app(create_les_app(settings, privacy=AllowAll()), host="127.0.0.1", port=port, print=None, access_log=None)


async def wait_healthy(session: aiohttp.ClientSession, port: int) -> None:
    for _ in range(200):
        try:
            async with session.get(f"http://127.0.0.1:{port}/sim/health") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError("LES emulator did not start")


class Counter:
    """Counts received reports and wakes the bench when a round is complete."""

    def __init__(self) -> None:
        self.count = 0
        self.positions = 0
        self.changed = asyncio.Event()

    async def on_reports(self, batch: list[PositionReport]) -> None:
        self.count += len(batch)
        self.positions += sum(r.position is not None for r in batch)
        self.changed.set()

    async def until(self, n: int) -> None:
        while self.count < n:
            self.changed.clear()
            await self.changed.wait()


async def run(les_port: int, subscribers: int, rounds: int) -> tuple[float, int, int]:
    counter = Counter()
    push_port = free_port()
    settings = Settings(
        les_url=f"http://127.0.0.1:{les_port}/mlp", mlp_push_url=f"http://127.0.0.1:{push_port}/mlp/push"
    )
    app = web.Application(client_max_size=settings.mlp_max_push_bytes)
    opened = MemoryOpenRequests()
    setup_push_routes(app, PushReceiver(settings, counter.on_reports, opened=opened))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", push_port).start()
    try:
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, les_port)
            client = MlpClient(session, settings, opened=opened)
            request = ReportRequest(msid_range=(f"+{FIRST}", f"+{FIRST + subscribers - 1}"), interval_s=INTERVAL_S)
            busy = 0.0
            started = time.perf_counter()
            req_id = await client.start_reports(request)
            for k in range(1, rounds + 1):
                async with asyncio.timeout(300):
                    await counter.until(k * subscribers)
                now = time.perf_counter()
                busy += now - started
                started = now + INTERVAL_S  # the next round starts after the trigger's interval
            await client.stop_reports(req_id)
    finally:
        await runner.cleanup()
    return counter.count / busy, counter.count, counter.positions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round (well under 60 s)")
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.subscribers)
        return
    rounds = args.rounds or (1 if args.quick else 3)
    port = free_port()
    cmd = [sys.executable, __file__, "--serve", str(port), "--subscribers", str(args.subscribers)]
    child = subprocess.Popen(cmd)
    try:
        rate, received, positions = asyncio.run(run(port, args.subscribers, rounds))
    finally:
        child.terminate()
        child.wait(10)
    print(f"# {received} reports ({positions} with a position) in {rounds} round(s)", file=sys.stderr, flush=True)
    print(f"les_reports_per_s: {rate:.0f} reports/s", flush=True)


if __name__ == "__main__":
    main()
