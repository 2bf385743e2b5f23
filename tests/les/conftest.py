"""Fixtures for the LES emulator and the MLP client: both run for real, on free ports, over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from lbs.mlp import EventQueue, MemoryOpenRequests, MlpClient, PositionReport, PushReceiver, setup_push_routes
from lbs.settings import Settings
from les_simulator.les.app import create_les_app
from les_simulator.les.clock import VirtualClock
from les_simulator.les.privacy import LocalPrivacyChecker
from les_simulator.settings import LesSettings

GRANTED = "+32470000001"  # exact grant for the demo client
COARSE = "+32470000002"  # coarse grant for the demo client
DENIED = "+32470000003"  # no grant
START = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)  # a Tuesday, office hours


def make_settings(**overrides: Any) -> Settings:
    """The platform's test settings for its MLP client: short timeouts and retries."""
    base: dict[str, Any] = {"mlp_timeout_s": 2.0, "mlp_retries": 1, "mlp_retry_backoff_s": 0.01}
    return Settings(**(base | overrides))


def make_les_settings(**overrides: Any) -> LesSettings:
    """The LES emulator's test settings: no positioning latency, short slow mode, a test allow-list."""
    base: dict[str, Any] = {
        "les_latency_scale": 0.0,
        "les_slow_delay_s": 0.3,
        "les_absent_share": 0.0,
        "privacy_test_grants": [(GRANTED, "demo", "exact"), (COARSE, "demo", "coarse")],
    }
    return LesSettings(**(base | overrides))


@dataclass
class Les:
    """A running emulator and everything a test needs to drive it."""

    server: TestServer
    settings: LesSettings
    clock: VirtualClock
    http: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return str(self.server.make_url("/mlp"))

    def sim(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def post_xml(self, body: bytes | str, path: str = "/mlp") -> tuple[int, str]:
        data = body.encode() if isinstance(body, str) else body
        async with self.http.post(self.sim(path), data=data, headers={"Content-Type": "text/xml"}) as resp:
            return resp.status, await resp.text()


async def eventually(cond: Callable[[], bool], within: float = 3.0) -> None:
    """Wait (real time) until ``cond()`` holds; fail after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not cond():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def les_settings() -> LesSettings:
    return make_les_settings()


@pytest.fixture
async def les(les_settings: LesSettings, clock: VirtualClock, http: aiohttp.ClientSession) -> AsyncIterator[Les]:
    privacy = LocalPrivacyChecker.from_settings(les_settings)
    server = TestServer(create_les_app(les_settings, clock=clock, privacy=privacy), host="127.0.0.1")
    await server.start_server()
    try:
        yield Les(server, les_settings, clock, http)
    finally:
        await server.close()


@dataclass
class Platform:
    """The platform side: an MLP client pointed at the emulator and a push receiver on its own port."""

    client: MlpClient
    events: EventQueue
    reports: list[PositionReport]
    receiver: PushReceiver
    server: TestServer
    opened: MemoryOpenRequests

    @property
    def push_url(self) -> str:
        return str(self.server.make_url("/mlp/push"))


@pytest.fixture
async def platform(les: Les, http: aiohttp.ClientSession) -> AsyncIterator[Platform]:
    reports: list[PositionReport] = []

    async def on_reports(batch: list[PositionReport]) -> None:
        reports.extend(batch)

    events = EventQueue()
    opened = MemoryOpenRequests()
    app = web.Application()
    receiver = PushReceiver(make_settings(), on_reports, events.sink, opened=opened)
    setup_push_routes(app, receiver)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    settings = make_settings(les_url=les.url, mlp_push_url=str(server.make_url("/mlp/push")))
    client = MlpClient(http, settings, events=events.sink, opened=opened)
    try:
        yield Platform(client, events, reports, receiver, server, opened)
    finally:
        await server.close()
