"""Positioning methods of the emulated network and the quality-of-position rules (pure functions).

| method | accuracy       | nominal latency |
|--------|----------------|-----------------|
| CELL   | 300 - 3000 m   | 0.2 s           |
| E-CID  | 100 - 300 m    | 0.5 s           |
| A-GNSS | 5 - 50 m       | 3 s             |

Reported positions are the true position plus noise inside the stated accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime

import h3

from les_simulator.les.codes import ResultCode
from les_simulator.les.population import offset_m
from les_simulator.les.rand import mix, unit


@dataclass(frozen=True, slots=True)
class Method:
    """One positioning method: its accuracy range and nominal latency."""

    name: str
    best_m: float
    worst_m: float
    latency_s: float
    code: int  # stable key for the noise draws


CELL = Method("CELL", 300.0, 3_000.0, 0.2, 1)
ECID = Method("E-CID", 100.0, 300.0, 0.5, 2)
AGNSS = Method("A-GNSS", 5.0, 50.0, 3.0, 3)
METHODS = (CELL, ECID, AGNSS)  # cheapest first


@dataclass(frozen=True, slots=True)
class Fix:
    """A computed position as the LES reports it."""

    lat: float
    lon: float
    accuracy_m: float
    time: datetime
    method: str
    coarse: bool = False


class QopError(Exception):
    """The requested quality cannot be provided; ``code`` and ``add_info`` go into the answer."""

    def __init__(self, code: ResultCode, add_info: str) -> None:
        super().__init__(add_info)
        self.code = code
        self.add_info = add_info


def choose_method(hor_acc: float | None, resp_timer: float | None, resp_req: str | None) -> Method:
    """The cheapest method that meets the requested accuracy and response time, or :class:`QopError`."""
    if resp_req == "NO_DELAY":
        return CELL
    if hor_acc is not None and hor_acc < AGNSS.best_m:
        raise QopError(ResultCode.QOP_NOT_ATTAINABLE, f"hor_acc {hor_acc:g} below {AGNSS.best_m:g} m")
    wanted = ECID if hor_acc is None else next(m for m in METHODS if m.worst_m <= hor_acc or m is AGNSS)
    if resp_req == "LOW_DELAY" and wanted is AGNSS:
        wanted = ECID
    if resp_timer is not None and wanted.latency_s > resp_timer:
        faster = [m for m in METHODS if m.latency_s <= resp_timer and (hor_acc is None or m.best_m <= hor_acc)]
        if not faster:
            raise QopError(ResultCode.QOP_NOT_ATTAINABLE, f"resp_timer {resp_timer:g} s too short")
        wanted = faster[-1]
    return wanted


def measure(
    seed: int, index: int, true_pos: tuple[float, float], at: datetime, method: Method, hor_acc: float | None
) -> Fix:
    """A noisy fix of ``true_pos``: accuracy drawn in the method's range (capped by ``hor_acc`` for A-GNSS)."""
    key = mix(seed, index, int(at.timestamp()), method.code)
    accuracy = method.best_m + (method.worst_m - method.best_m) * unit(key, 1)
    if hor_acc is not None and method is AGNSS:
        accuracy = min(accuracy, max(hor_acc, AGNSS.best_m))
    distance = accuracy * math.sqrt(unit(key, 2)) * 0.9
    bearing = 2 * math.pi * unit(key, 3)
    lat, lon = offset_m(*true_pos, distance * math.cos(bearing), distance * math.sin(bearing))
    return Fix(lat, lon, round(accuracy), at, method.name)


def coarsen(fix: Fix, resolution: int) -> Fix:
    """The fix reduced to the centre of its H3 cell at ``resolution``, with the cell's size as accuracy."""
    cell = h3.latlng_to_cell(fix.lat, fix.lon, resolution)
    lat, lon = h3.cell_to_latlng(cell)
    edge = h3.average_hexagon_edge_length(resolution, unit="m")
    return replace(fix, lat=lat, lon=lon, accuracy_m=max(round(edge), fix.accuracy_m), coarse=True)
