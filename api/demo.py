"""The live scenario: both emulators and the platform in one process, talking over real sockets.

``lbs demo --once`` plays it and exits 0 when every step worked; ``make run`` plays it and keeps serving.
``--at 2026-12-01T10:00+01:00`` plays it at another instant: the platform's clock and the LES's both run from it.
When a part cannot start, the demo stops everything it started and exits at once with one line naming the part.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg
from aiohttp import web

from api.root import MESSAGING, ROLES, SERVE_ROLES
from lbs.clock import Clock, parse_instant, pinned
from lbs.settings import Settings

if TYPE_CHECKING:
    from les_simulator.settings import LesSettings, SmscSettings

Stop = Callable[[], Awaitable[None]]
Out = Callable[[str], None]

# Each part gets this long to come up (listen, connect, bind) before the demo gives up on it; the whole start-up
# stays within the 5 s a user waits for a clear answer.
PART_START_S = 4.0


class PartFailed(Exception):
    """A part of the demo could not start: ``str()`` is the one line the user reads."""


async def _run_site(app: web.Application, host: str, port: int) -> Stop:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()  # stop what setup started (pools, the SMPP bind's retries)
        raise
    return runner.cleanup


async def _part(name: str, where: str, start: Awaitable[Stop]) -> Stop:
    """Start one part within :data:`PART_START_S`; :class:`PartFailed` naming it and its address otherwise."""
    try:
        async with asyncio.timeout(PART_START_S):
            return await start
    except TimeoutError:
        raise PartFailed(f"{name} on {where} did not start within {PART_START_S:.0f} s") from None
    except OSError as exc:
        raise PartFailed(f"{name} could not start on {where}: {exc.strerror or exc}") from None


def les_settings_for(settings: Settings, **overrides: Any) -> LesSettings:
    """The LES emulator's settings for a platform run in this process: the emulator's own from the environment,
    with what both sides must agree on (its address, the privacy check and its key, the demo population's first
    MSISDN and city) taken from the platform's ``settings``. ``overrides`` set emulator settings (tests)."""
    from les_simulator.settings import LesSettings

    shared: dict[str, Any] = {
        "dev_mode": settings.dev_mode,
        "les_host": settings.les_host,
        "les_port": settings.les_port,
        "api_host": settings.api_host,
        "api_port": settings.api_port,
        "privacy_internal_key": settings.privacy_internal_key,
        "les_first_msisdn": settings.les_first_msisdn,
        "les_bbox": settings.les_bbox,
    }
    return LesSettings(**(shared | overrides))


def smsc_settings_for(settings: Settings, **overrides: Any) -> SmscSettings:
    """The SMSC emulator's settings for a platform run in this process: the emulator's own from the environment,
    with its addresses taken from the platform's ``settings``. ``overrides`` set emulator settings (tests)."""
    from les_simulator.settings import SmscSettings

    shared: dict[str, Any] = {
        "dev_mode": settings.dev_mode,
        "smsc_host": settings.smsc_host,
        "smsc_port": settings.smsc_port,
        "smsc_control_port": settings.smsc_control_port,
    }
    return SmscSettings(**(shared | overrides))


async def start_les(settings: LesSettings, start_at: datetime | None = None) -> Stop:
    """Serve the LES emulator on ``les_host:les_port``; ``start_at`` starts its clock at that instant."""
    from les_simulator.les.app import create_les_app
    from les_simulator.les.clock import ShiftedClock

    clock = ShiftedClock(start_at) if start_at is not None else None
    return await _run_site(create_les_app(settings, clock=clock), settings.les_host, settings.les_port)


async def start_smsc(settings: SmscSettings) -> Stop:
    """Serve the SMSC emulator: SMPP on ``smsc_host:smsc_port``, its control API on ``smsc_control_port``."""
    from les_simulator.smsc.control import create_smsc_control_app
    from les_simulator.smsc.server import SmscEmulator

    smsc = SmscEmulator(settings)
    await smsc.start(settings.smsc_host, settings.smsc_port)
    try:
        stop_control = await _run_site(create_smsc_control_app(smsc), settings.smsc_host, settings.smsc_control_port)
    except BaseException:
        await smsc.stop()
        raise

    async def stop() -> None:
        await stop_control()
        await smsc.stop()

    return stop


async def start_platform(
    settings: Settings, clock: Clock | None = None, roles: Collection[str] = SERVE_ROLES
) -> tuple[web.Application, Stop]:
    """The platform API with ``roles`` (:mod:`api.root`) in this process, listening; its SMPP bind up."""
    from api.app import create_app
    from api.keys import MESSAGING_KEY

    app = create_app(settings, clock=clock, roles=roles)
    stop = await _run_site(app, settings.api_host, settings.api_port)
    if settings.smpp_enabled and MESSAGING in roles:
        try:
            await app[MESSAGING_KEY].wait_bound(PART_START_S)
        except BaseException:
            await stop()
            raise
    return app, stop


async def start_all(settings: Settings, at: datetime | None = None) -> tuple[web.Application, Stop]:
    """Start the LES, the SMSC and the platform (in that order: the platform binds to the SMSC).

    ``at`` pins the instant the platform's clock (``app[CLOCK_KEY]``) and the LES's start from; they then run on.
    Without it, the platform's clock is the one the settings ask for (``clock_at``), and the LES follows it.
    Raises :class:`PartFailed` naming the first part that could not start, after stopping the others.
    """
    if at is None and settings.clock_at:
        at = parse_instant(settings.clock_at)
    clock = settings.make_clock() if at is None else pinned(at, settings.clock_frozen)
    stops: list[Stop] = []

    async def stop() -> None:
        for s in reversed(stops):
            await s()

    smsc_at = f"{settings.smsc_host}:{settings.smsc_port} (control :{settings.smsc_control_port})"
    try:
        stops.append(
            await _part(
                "LES emulator",
                f"{settings.les_host}:{settings.les_port}",
                start_les(les_settings_for(settings), at),
            )
        )
        stops.append(await _part("SMSC emulator", smsc_at, start_smsc(smsc_settings_for(settings))))
        app, stop_platform = await _platform_part(settings, clock)
        stops.append(stop_platform)
    except BaseException:
        await stop()
        raise
    return app, stop


async def _platform_part(settings: Settings, clock: Clock) -> tuple[web.Application, Stop]:
    started: list[web.Application] = []

    async def start() -> Stop:
        app, stop = await start_platform(settings, clock, ROLES)  # one process: every role, a geofence worker too
        started.append(app)
        return stop

    where = f"{settings.api_host}:{settings.api_port} (SMPP bind to {settings.smsc_host}:{settings.smsc_port})"
    stop = await _part("platform API", where, start())
    return started[0], stop


async def play_scenario(settings: Settings, clock: Clock, out: Out = print) -> bool:
    """Play every step of the live scenario (``api.scenario``); True when all of them worked."""
    from api.scenario import play

    return await play(settings, clock, out)


async def _load_demo_data(settings: Settings) -> None:
    from api.demo_data import load

    where = settings.database_url.rpartition("@")[2] or settings.database_url
    try:
        conn = await asyncpg.connect(settings.database_url, timeout=PART_START_S)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise PartFailed(f"PostgreSQL at {where} is not reachable: {exc}") from None
    try:
        await load(conn, settings)
    finally:
        await conn.close()


async def _check_redis(settings: Settings) -> None:
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    client = aioredis.Redis.from_url(settings.redis_url, socket_connect_timeout=PART_START_S)
    try:
        await client.ping()
    except (OSError, RedisError) as exc:
        where = settings.redis_url.rpartition("@")[2].removeprefix("redis://")
        raise PartFailed(f"Redis at {where} is not reachable: {exc}") from None
    finally:
        await client.aclose()


async def serve_forever() -> None:
    await asyncio.Event().wait()


# The live scenario wants geofencing to react in seconds, not minutes.
DEMO_SPEED = {"geofence_report_interval_s": 1, "geofence_reconcile_s": 1.0, "geofence_sync_s": 0.5}


async def run_demo(settings: Settings, *, once: bool, at: datetime | None = None) -> int:
    """Start everything, play the scenario; with ``once`` exit with its result, else keep serving.

    ``at`` pins the time the platform and the LES emulator start from (their clocks then run on).
    """
    settings = settings.model_copy(update=DEMO_SPEED)
    start_at = at or (parse_instant(settings.clock_at) if settings.clock_at else None)
    print(
        f"Starting: LES emulator (MLP) {settings.les_host}:{settings.les_port}, "
        f"SMSC emulator (SMPP) {settings.smsc_host}:{settings.smsc_port} (control :{settings.smsc_control_port}), "
        f"platform API {settings.api_host}:{settings.api_port}"
        + (f"; the clock starts at {start_at.isoformat()}" if start_at else "")
    )
    from api.keys import CLOCK_KEY

    try:
        await _check_redis(settings)
        await _load_demo_data(settings)
        app, stop = await start_all(settings, at)
    except PartFailed as exc:
        print(f"DEMO FAILED: {exc}")
        return 1
    try:
        ok = await play_scenario(settings, app[CLOCK_KEY])
        if once:
            return 0 if ok else 1
        print(f"\nServing. API: http://{settings.api_host}:{settings.api_port}/health — press Ctrl-C to stop.")
        await serve_forever()
        return 0
    finally:
        await stop()
