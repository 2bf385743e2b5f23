"""The live scenario: both emulators and the platform in one process, talking over real sockets.

``lbs demo --once`` plays it and exits 0 when every step worked; ``make run`` plays it and keeps serving.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from lbs.settings import Settings

Stop = Callable[[], Awaitable[None]]
Out = Callable[[str], None]


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
    stops.append(await start_geofence_worker(app))

    async def stop() -> None:
        for s in reversed(stops):
            await s()

    return app, stop


async def start_geofence_worker(app: web.Application) -> Stop:
    """One geofence worker in this process, on the platform's pool and Redis (``lbs worker geofence`` elsewhere)."""
    from api.keys import PG_POOL_KEY, REDIS_KEY, SETTINGS_KEY
    from geofences.worker import GeofenceWorker

    worker = GeofenceWorker(app[SETTINGS_KEY], app[PG_POOL_KEY], app[REDIS_KEY], consumer="demo")
    halt = asyncio.Event()
    task = asyncio.create_task(worker.run(halt), name="geofence-worker")

    async def stop() -> None:
        halt.set()
        try:
            async with asyncio.timeout(5):
                await task
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    return stop


async def play_scenario(settings: Settings, out: Out = print) -> bool:
    """Play every step of the live scenario (``lbs.scenario``); True when all of them worked."""
    from lbs.scenario import play

    return await play(settings, out)


async def _load_demo_data(settings: Settings) -> None:
    import asyncpg

    from lbs.demo_data import load

    conn = await asyncpg.connect(settings.database_url)
    try:
        await load(conn, settings)
    finally:
        await conn.close()


async def serve_forever() -> None:
    await asyncio.Event().wait()


# The live scenario wants geofencing to react in seconds, not minutes.
DEMO_SPEED = {"geofence_report_interval_s": 1, "geofence_reconcile_s": 1.0, "geofence_sync_s": 0.5}


async def run_demo(settings: Settings, *, once: bool) -> int:
    """Start everything, play the scenario; with ``once`` exit with its result, else keep serving."""
    settings = settings.model_copy(update=DEMO_SPEED)
    print(
        f"Starting: LES emulator (MLP) {settings.les_host}:{settings.les_port}, "
        f"SMSC emulator (SMPP) {settings.smsc_host}:{settings.smsc_port} (control :{settings.smsc_control_port}), "
        f"platform API {settings.api_host}:{settings.api_port}"
    )
    try:
        await _load_demo_data(settings)
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
