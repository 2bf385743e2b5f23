"""Triggered location reporting (TLRR) and asynchronous SLIR: background tasks that push reports.

Periodic triggers report every ``interval`` between start and stop; MS_AVAIL reports once per subscriber when its
handset is reachable; change-of-area triggers report MS_ENTERING / MS_LEAVING transitions or MS_WITHIN_AREA while
inside. Every report goes through :class:`LocationService`, so privacy is asked before each disclosure.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shapely import Point, Polygon, prepared

from les_simulator.les import render
from les_simulator.les.clock import Clock
from les_simulator.les.codes import ResultCode
from les_simulator.les.coords import CoordFormat, format_time
from les_simulator.les.protocol import Area, LocationRequest, Target
from les_simulator.les.push import Pusher
from les_simulator.les.render import PosOutcome
from les_simulator.les.service import Ask, LocationService
from les_simulator.settings import LesSettings

log = logging.getLogger(__name__)
# Area and availability triggers without an interval are re-evaluated this often (clock seconds).
DEFAULT_POLL_S = 30
# Pushes in flight per trigger: enough to overlap building the next batch with the client parsing the last.
PUSH_WINDOW = 4
_EARTH_RADIUS_M = 6_371_008.8
# Errors after which a change-of-area or MS_AVAIL target is reported once and dropped.
_FINAL_CODES = {ResultCode.UNKNOWN_SUBSCRIBER, ResultCode.POSITIONING_NOT_ALLOWED}


@dataclass(slots=True)
class Trigger:
    """One running TLRR (or asynchronous SLIR)."""

    req_id: str
    client_id: str
    request: LocationRequest
    kind: str
    task: asyncio.Task[None] | None = None
    reports: int = 0
    rounds: int = 0  # evaluations done (reported or not): lets tests wait for the trigger to catch up
    inside: dict[str, bool] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """A JSON view for ``GET /sim/triggers``."""
        req = self.request
        return {
            "req_id": self.req_id,
            "client": self.client_id,
            "kind": self.kind,
            "targets": len(req.targets),
            "interval_s": req.interval_s,
            "reports": self.reports,
            "rounds": self.rounds,
        }


def _haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(math.sqrt(h))


def area_test(area: Area) -> Callable[[float, float], bool]:
    """A fast inside-test for a circle or polygon target area."""
    if area.centre is not None:
        centre, radius = area.centre, area.radius_m
        return lambda lat, lon: _haversine_m(centre, (lat, lon)) <= radius
    poly = prepared.prep(Polygon([(lon, lat) for lat, lon in area.ring]))
    return lambda lat, lon: bool(poly.contains(Point(lon, lat)))


def _chunks(items: list[Target], size: int) -> Iterator[list[Target]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class TriggerManager:
    """Starts, runs, lists and stops the background reporting tasks."""

    def __init__(self, service: LocationService, pusher: Pusher, settings: LesSettings, clock: Clock) -> None:
        self.service = service
        self.pusher = pusher
        self.settings = settings
        self.clock = clock
        self.triggers: dict[str, Trigger] = {}
        self._ids = itertools.count(10_001)
        self._fmt: CoordFormat = "DECIMAL" if settings.les_coord_format.upper() == "DECIMAL" else "DMS"

    def start(self, request: LocationRequest) -> str:
        """Register ``request`` (a TLRR or an ASYNC SLIR) and start its task; return its req_id."""
        req_id = str(next(self._ids))
        kind = "slir" if request.service == "slir" else self._kind(request)
        trig = Trigger(req_id, request.header.client_id, request, kind)
        runner: Callable[[Trigger], Awaitable[None]] = {
            "slir": self._async_slir,
            "periodic": self._periodic,
            "ms_avail": self._ms_avail,
            "area": self._area,
        }[kind]
        trig.task = asyncio.create_task(self._run(trig, runner), name=f"les-trigger-{req_id}")
        self.triggers[req_id] = trig
        return req_id

    @staticmethod
    def _kind(request: LocationRequest) -> str:
        if request.area is not None:
            return "area"
        return "ms_avail" if request.ms_avail else "periodic"

    async def _run(self, trig: Trigger, runner: Callable[[Trigger], Awaitable[None]]) -> None:
        try:
            await runner(trig)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("trigger %s failed", trig.req_id)
        finally:
            self.triggers.pop(trig.req_id, None)

    def stop(self, req_id: str, client_id: str) -> bool:
        """Cancel ``req_id`` if it exists and belongs to ``client_id``."""
        trig = self.triggers.get(req_id)
        if trig is None or trig.client_id != client_id:
            return False
        if trig.task:
            trig.task.cancel()
        self.triggers.pop(req_id, None)
        return True

    async def close(self) -> None:
        """Cancel every task (app shutdown)."""
        tasks = [t.task for t in self.triggers.values() if t.task]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.triggers.clear()

    # --- runners -----------------------------------------------------------------------------------------------

    async def _async_slir(self, trig: Trigger) -> None:
        req = trig.request
        ask = Ask.of(req)
        outcomes = await asyncio.gather(*(self.service.locate(t, ask) for t in req.targets))
        body = render.slirep(req.ver, trig.req_id, outcomes, self._fmt, format_time(self.clock.now()))
        await self.pusher.push(req.push_url or "", body, req.push_credentials)
        trig.reports += len(outcomes)

    def _end(self, req: LocationRequest, started: datetime) -> datetime | None:
        ends = [t for t in (req.stop_time,) if t is not None]
        if req.duration_s is not None:
            ends.append(started + timedelta(seconds=req.duration_s))
        return min(ends) if ends else None

    async def _wait_start(self, req: LocationRequest) -> datetime:
        if req.start_time is not None:
            wait = (req.start_time - self.clock.now()).total_seconds()
            if wait > 0:
                await self.clock.sleep(wait)
        return self.clock.now()

    async def _periodic(self, trig: Trigger) -> None:
        req = trig.request
        end = self._end(req, await self._wait_start(req))
        interval = req.interval_s or DEFAULT_POLL_S
        while end is None or self.clock.now() < end:
            await self._report(trig, req.targets, "PERIODIC")
            trig.rounds += 1
            await self.clock.sleep(interval)

    async def _ms_avail(self, trig: Trigger) -> None:
        req = trig.request
        end = self._end(req, await self._wait_start(req))
        pending = list(req.targets)
        while pending and (end is None or self.clock.now() < end):
            flags = [self._reachable_or_final(t) for t in pending]
            ready = [t for t, ok in zip(pending, flags, strict=True) if ok]
            pending = [t for t, ok in zip(pending, flags, strict=True) if not ok]
            if ready:
                await self._report(trig, ready, "MS_AVAIL")
            trig.rounds += 1
            if pending:
                await self.clock.sleep(req.interval_s or DEFAULT_POLL_S)

    def _reachable_or_final(self, target: Target) -> bool:
        index = self.service.index_of(target)
        if index is None:
            return True  # reported once as UNKNOWN SUBSCRIBER
        mode = self.service.state.mode_for(index)
        if mode in ("absent", "unknown_subscriber"):
            return mode == "unknown_subscriber"
        return index in self.service.state.overrides or not self.service.population.is_absent(
            index, self.clock.now(), self.settings.les_absent_share
        )

    async def _area(self, trig: Trigger) -> None:
        req = trig.request
        assert req.area is not None
        inside_of = area_test(req.area)
        end = self._end(req, await self._wait_start(req))
        targets = list(req.targets)
        while targets and (end is None or self.clock.now() < end):
            ask = Ask.of(req)
            outcomes = await asyncio.gather(*(self.service.locate(t, ask, "CHANGE_AREA") for t in targets))
            due = [o for o in outcomes if self._area_due(trig, o, inside_of)]
            if due:
                await self._push(trig, due)
            finals = {o.msid for o in outcomes if o.code in _FINAL_CODES}
            targets = [t for t in targets if t.value not in finals]
            trig.rounds += 1
            if req.area.max_reports is not None and trig.reports >= req.area.max_reports:
                return
            await self.clock.sleep(req.interval_s or DEFAULT_POLL_S)

    def _area_due(self, trig: Trigger, out: PosOutcome, inside_of: Callable[[float, float], bool]) -> bool:
        if out.fix is None:
            return out.code in _FINAL_CODES
        inside = inside_of(out.fix.lat, out.fix.lon)
        before = trig.inside.get(out.msid)
        trig.inside[out.msid] = inside
        event = trig.request.area.event if trig.request.area else ""
        if event == "MS_WITHIN_AREA":
            return inside
        if event == "MS_ENTERING":
            return inside and before is False
        return not inside and before is True  # MS_LEAVING

    async def _report(self, trig: Trigger, targets: list[Target], trigger: str) -> None:
        ask = Ask.of(trig.request)
        window: set[asyncio.Task[bool]] = set()
        for chunk in _chunks(targets, self.settings.les_tlrep_batch):
            outcomes = await asyncio.gather(*(self.service.locate(t, ask, trigger) for t in chunk))
            if len(window) >= PUSH_WINDOW:
                _, window = await asyncio.wait(window, return_when=asyncio.FIRST_COMPLETED)
            window.add(asyncio.create_task(self._push(trig, outcomes)))
        if window:
            await asyncio.wait(window)

    async def _push(self, trig: Trigger, outcomes: list[PosOutcome]) -> bool:
        req = trig.request
        body = render.tlrep(req.ver, trig.req_id, outcomes, self._fmt, format_time(self.clock.now()))
        trig.reports += len(outcomes)
        return await self.pusher.push(req.push_url or "", body, req.push_credentials)
