"""Bench: sustained SLIR -> SLIA per second from the platform's MlpClient to the LES emulator, concurrency 50.

The emulator runs in its own process (started here, on a free port) with positioning latency off, so the figure
is the protocol stack's (HTTP + MLP XML on both sides + privacy check), not the emulated network's. Self-location
requests, so every answer is a position.

    .venv/bin/python bench/les_slir.py [--quick] [--concurrency 50] [--seconds 20]

Prints ``les_slir_per_s``, ``les_slir_p50_ms`` and ``les_slir_p99_ms``.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time

import aiohttp

from lbs.mlp import LocationError, MlpClient
from lbs.settings import Settings

POPULATION = 10_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(port: int) -> None:
    """Child process: the emulator with the local privacy table (self-location is always allowed)."""
    from aiohttp import web

    from les_simulator.les.app import create_les_app
    from les_simulator.les.privacy import LocalPrivacyChecker
    from les_simulator.settings import LesSettings

    settings = LesSettings(les_latency_scale=0.0, les_absent_share=0.0, les_population=POPULATION)
    app = create_les_app(settings, privacy=LocalPrivacyChecker())
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


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


async def worker(client: MlpClient, stop_at: float, latencies: list[float], errors: list[int], seed: int) -> None:
    n = seed
    while time.perf_counter() < stop_at:
        msisdn = f"+{32470000000 + n % POPULATION}"
        n += 7919
        started = time.perf_counter()
        try:
            await client.locate(msisdn, requestor=msisdn)
        except LocationError:
            errors.append(1)
            continue
        latencies.append((time.perf_counter() - started) * 1000)


async def run(port: int, concurrency: int, seconds: float, warmup: float) -> tuple[float, list[float], int]:
    settings = Settings(les_url=f"http://127.0.0.1:{port}/mlp", mlp_retries=0)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await wait_healthy(session, port)
        client = MlpClient(session, settings)
        warm: list[float] = []
        await asyncio.gather(*(worker(client, time.perf_counter() + warmup, warm, [], i) for i in range(concurrency)))
        latencies: list[float] = []
        errors: list[int] = []
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(*(worker(client, stop_at, latencies, errors, i * 13) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies, len(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (about 10 s)")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    port = free_port()
    child = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    try:
        rate, latencies, errors = asyncio.run(run(port, args.concurrency, seconds, 1.0 if args.quick else 3.0))
    finally:
        child.terminate()
        child.wait(10)
    cuts = statistics.quantiles(latencies, n=100)
    if errors:
        print(f"# {errors} location errors during the run", file=sys.stderr)
    print(f"les_slir_per_s: {rate:.0f} req/s")
    print(f"les_slir_p50_ms: {statistics.median(latencies):.2f} ms")
    print(f"les_slir_p99_ms: {cuts[98]:.2f} ms")


if __name__ == "__main__":
    main()
