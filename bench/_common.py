"""Helpers of the SMPP bench (``bench/smpp_throughput.py``): free ports, a scratch database, polling, the SMSC
emulator's control API as the bench drives it, and a few statistics."""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def wait_until(check: Callable[[], Awaitable[bool]], within_s: float, every_s: float = 0.05) -> bool:
    deadline = time.monotonic() + within_s
    while not await check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(every_s)
    return True


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ms_between(start: str | datetime, end: str | datetime) -> float:
    a = datetime.fromisoformat(start) if isinstance(start, str) else start
    b = datetime.fromisoformat(end) if isinstance(end, str) else end
    return (b - a).total_seconds() * 1000


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100)[q - 1]


# --- the SMSC emulator's control API ------------------------------------------------------------------------------


class Smsc:
    """The emulator's control API, as the bench uses it."""

    def __init__(self, http: aiohttp.ClientSession, control_port: int) -> None:
        self.http = http
        self.base = f"http://127.0.0.1:{control_port}"

    async def wait_up(self, within_s: float = 20.0) -> None:
        deadline = time.monotonic() + within_s
        while True:
            try:
                await self.health()
                return
            except aiohttp.ClientError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)

    async def health(self) -> dict[str, Any]:
        async with self.http.get(f"{self.base}/sim/health") as resp:
            resp.raise_for_status()
            return dict(await resp.json())

    async def reset(self) -> None:
        async with self.http.post(f"{self.base}/sim/reset") as resp:
            resp.raise_for_status()

    async def submit_times(self, source: str) -> list[datetime]:
        """When the SMSC received each submit_sm from ``source`` (oldest first)."""
        async with self.http.get(f"{self.base}/sim/pdus", params={"command": "submit_sm"}) as resp:
            resp.raise_for_status()
            records = await resp.json()
        return sorted(datetime.fromisoformat(r["at"]) for r in records if r.get("source") == source)

    async def submits_by_destination(self) -> dict[str, datetime]:
        """When the SMSC received the first submit_sm to each destination (digits, no '+')."""
        async with self.http.get(f"{self.base}/sim/pdus", params={"command": "submit_sm"}) as resp:
            resp.raise_for_status()
            records = await resp.json()
        first: dict[str, datetime] = {}
        for r in records:
            first.setdefault(r.get("destination") or "", datetime.fromisoformat(r["at"]))
        return first

    async def mo_record(self, mo_id: str) -> dict[str, Any]:
        async with self.http.get(f"{self.base}/sim/mo/{mo_id}") as resp:
            resp.raise_for_status()
            return dict(await resp.json())

    async def mo(self, msisdn: str, to: str, text: str) -> dict[str, Any]:
        body = {"from": msisdn, "to": to, "text": text}
        async with self.http.post(f"{self.base}/sim/mo", json=body) as resp:
            resp.raise_for_status()
            return dict(await resp.json())

    async def inbox(self, msisdn: str) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.base}/sim/handsets/{msisdn}/inbox") as resp:
            resp.raise_for_status()
            return list(await resp.json())
