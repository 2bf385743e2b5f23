"""The live scenario: both emulators and the platform in one process, talking over real sockets.

``lbs demo --once`` plays it and exits 0 when every step worked; ``make run`` plays it and keeps serving.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from lbs.settings import Settings

Stop = Callable[[], Awaitable[None]]
Out = Callable[[str], None]

DEMO_HANDSET = "+32470000001"
# How long one scenario step may wait for its SMS before the demo calls it failed.
STEP_TIMEOUT_S = 15.0


async def _run_site(app: web.Application, host: str, port: int) -> Stop:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner.cleanup


async def start_les(settings: Settings) -> Stop:
    from les_simulator.les.app import create_les_app

    return await _run_site(create_les_app(settings), settings.les_host, settings.les_port)


async def start_smsc(settings: Settings) -> Stop:
    from les_simulator.smsc.control import create_smsc_control_app
    from les_simulator.smsc.server import SmscEmulator

    smsc = SmscEmulator(settings)
    await smsc.start(settings.smsc_host, settings.smsc_port)
    stop_control = await _run_site(create_smsc_control_app(smsc), settings.smsc_host, settings.smsc_control_port)

    async def stop() -> None:
        await stop_control()
        await smsc.stop()

    return stop


async def start_platform(settings: Settings) -> tuple[web.Application, Stop]:
    from api.app import create_app
    from api.keys import MESSAGING_KEY

    app = create_app(settings)
    stop = await _run_site(app, settings.api_host, settings.api_port)
    if settings.smpp_enabled:
        await app[MESSAGING_KEY].wait_bound()
    return app, stop


async def start_all(settings: Settings) -> tuple[web.Application, Stop]:
    """Start the LES, the SMSC and the platform (in that order: the platform binds to the SMSC)."""
    stops = [await start_les(settings), await start_smsc(settings)]
    try:
        app, stop_platform = await start_platform(settings)
    except BaseException:
        for s in reversed(stops):
            await s()
        raise
    stops.append(stop_platform)

    async def stop() -> None:
        for s in reversed(stops):
            await s()

    return app, stop


class Scenario:
    """Drives handsets through the SMSC emulator's control API and reads what they receive."""

    def __init__(self, settings: Settings, session: aiohttp.ClientSession, out: Out) -> None:
        self.settings = settings
        self.session = session
        self.out = out
        self.smsc = f"http://{settings.smsc_host}:{settings.smsc_control_port}"

    async def inbox(self, msisdn: str) -> list[dict[str, Any]]:
        async with self.session.get(f"{self.smsc}/sim/handsets/{msisdn}/inbox") as resp:
            resp.raise_for_status()
            data = await resp.json()
        return list(data["messages"] if isinstance(data, dict) else data)

    async def text(self, msisdn: str, body: str, expect: Callable[[str], bool]) -> tuple[str, float]:
        """Send ``body`` from ``msisdn`` to the short code; wait for a reply that satisfies ``expect``."""
        seen = len(await self.inbox(msisdn))
        started = time.perf_counter()
        payload = {"from": msisdn, "to": self.settings.short_code, "text": body}
        async with self.session.post(f"{self.smsc}/sim/mo", json=payload) as resp:
            if resp.status >= 300:
                raise RuntimeError(f"SMSC refused the MO: {resp.status} {await resp.text()}")
        deadline = started + STEP_TIMEOUT_S
        while time.perf_counter() < deadline:
            for msg in (await self.inbox(msisdn))[seen:]:
                if expect(msg["text"]):
                    return msg["text"], (time.perf_counter() - started) * 1000
            await asyncio.sleep(0.02)
        raise TimeoutError(f"no matching reply to {body!r} within {STEP_TIMEOUT_S:.0f} s")

    async def step(self, title: str, msisdn: str, body: str, expect: Callable[[str], bool]) -> None:
        self.out(f"\n> {title}")
        self.out(f"  handset {msisdn} texts {body!r} to {self.settings.short_code}")
        reply, ms = await self.text(msisdn, body, expect)
        self.out(f"  handset receives {reply!r}  ({ms:.0f} ms)")

    async def true_position(self, msisdn: str) -> dict[str, Any]:
        base = f"http://{self.settings.les_host}:{self.settings.les_port}"
        async with self.session.get(f"{base}/sim/subscribers/{msisdn}/position") as resp:
            resp.raise_for_status()
            return dict(await resp.json())


async def play_scenario(settings: Settings, out: Out = print) -> bool:
    """Play every step; print what happens in plain words. True when all of them worked."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        s = Scenario(settings, session, out)
        try:
            await s.step("1. Is the platform alive? (SMS in over SMPP, reply out)", DEMO_HANDSET, "PING", "PONG".__eq__)
            truth = await s.true_position(DEMO_HANDSET)
            out(
                "\n> 2. Where am I? The platform asks the LES over MLP, then answers by SMS"
                f"\n  (the LES emulator knows the handset is really at {truth['lat']:.5f}, {truth['lon']:.5f})"
            )
            reply, ms = await s.text(DEMO_HANDSET, "WHERE", lambda t: t.startswith(("You are near", "Sorry")))
            out(f"  handset {DEMO_HANDSET} texts 'WHERE' -> receives {reply!r}  ({ms:.0f} ms)")
            if not reply.startswith("You are near"):
                raise RuntimeError("the platform could not locate the handset")
        except Exception as exc:
            out(f"\nDEMO FAILED: {exc}")
            return False
    out("\nDemo scenario: all steps passed.")
    return True


async def serve_forever() -> None:
    await asyncio.Event().wait()


async def run_demo(settings: Settings, *, once: bool) -> int:
    """Start everything, play the scenario; with ``once`` exit with its result, else keep serving."""
    print(
        f"Starting: LES emulator (MLP) {settings.les_host}:{settings.les_port}, "
        f"SMSC emulator (SMPP) {settings.smsc_host}:{settings.smsc_port} (control :{settings.smsc_control_port}), "
        f"platform API {settings.api_host}:{settings.api_port}"
    )
    try:
        _, stop = await start_all(settings)
    except OSError as exc:
        print(f"DEMO FAILED: could not start a service: {exc}")
        return 1
    try:
        ok = await play_scenario(settings)
        if once:
            return 0 if ok else 1
        print(f"\nServing. API: http://{settings.api_host}:{settings.api_port}/health — press Ctrl-C to stop.")
        await serve_forever()
        return 0
    finally:
        await stop()
