"""SSRF (issue 19): callbacks reach public addresses only, at creation and at connect time, without redirects,
and their errors do not tell an open port from a closed one.

Refusals are asserted without connecting anywhere: names resolve through a stub resolver, and the connector under
test records every connection it would open and opens none. Only loopback servers of the test itself are ever
connected to (dev mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.camara_geofencing import BASE
from api.keys import OUTBOUND_RESOLVER_KEY
from geofences import camara
from lbs import outbound
from lbs.db import create_pool
from lbs.settings import Settings
from tests.geofences.test_camara import request
from tests.geofences.test_promotions_api import auth
from tests.stub_dns import StubResolver

STRICT = outbound.Policy()
DEV = outbound.Policy(allow_loopback=True)
INSIDE = [
    "https://127.0.0.1:8443/x",
    "https://169.254.169.254/latest/meta-data/",
    "https://[::1]:8443/x",
    "https://0x7f.1:8443/x",
    "https://2130706433/x",
    "https://127.1/x",
    "https://017700000001/x",
    "https://[::ffff:127.0.0.1]/x",
    "https://[::ffff:a9fe:a9fe]/x",
    "https://10.0.0.1/x",
    "https://172.16.5.4/x",
    "https://192.168.1.1/x",
    "https://100.64.0.1/x",
    "https://[fd12:3456::1]/x",
    "https://[fe80::1]/x",
    "https://224.0.0.251/x",
    "https://0.0.0.0/x",
    "https://240.0.0.1/x",
    "https://[64:ff9b::a9fe:a9fe]/x",
    "https://[2002:a9fe:a9fe::1]/x",
    "https://localhost/x",
    "https://api.localhost/x",
    "http://198.51.100.7/x",
    "https://user:pw@example.com/x",
]


class NoConnect(outbound.GuardedConnector):
    """The guarded connector, except that it records each connection it would open and opens none."""

    def __init__(self, policy: outbound.Policy, **kwargs: Any) -> None:
        super().__init__(policy, **kwargs)
        self.attempts: list[str] = []

    async def _wrap_create_connection(self, *args: Any, addr_infos: Any, **kwargs: Any) -> Any:
        self.attempts += [info[4][0] for info in addr_infos]
        raise aiohttp.ClientConnectionError("test connector: no connection is ever opened")


@pytest.mark.parametrize("url", INSIDE)
def test_creation_refuses_every_inside_address(url: str) -> None:
    with pytest.raises(ValueError):
        outbound.check_url(url, STRICT)


@pytest.mark.parametrize("url", ["https://example.com/hook", "https://8.8.8.8/x", "https://[2001:4860:4860::8888]/"])
def test_public_destinations_pass(url: str) -> None:
    assert outbound.check_url(url, STRICT) == url


def test_dev_mode_opens_loopback_only() -> None:
    assert outbound.check_url("http://127.0.0.1:9/x", DEV) and outbound.check_url("https://[::1]:9/x", DEV)
    for url in ("https://169.254.169.254/", "https://10.0.0.1/", "http://example.com/", "https://0x7f.1/"):
        with pytest.raises(ValueError):
            outbound.check_url(url, DEV)


@pytest.fixture
async def strict_client(settings: Settings, db: asyncpg.Connection[Any], aiohttp_client: Any) -> TestClient:
    app = create_app(settings.model_copy(update={"smpp_enabled": False}))
    app[OUTBOUND_RESOLVER_KEY] = StubResolver(
        {
            "hook.example": ["93.184.216.34"],
            "rebind.example": ["93.184.216.34", "10.1.2.3"],
            "meta.example": ["169.254.169.254"],
        }
    )
    return await aiohttp_client(app)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "sink",
    ["https://127.0.0.1:8443/", "https://169.254.169.254/", "https://[::1]:8443/", "https://0x7f.1:8443/",
     "https://meta.example/x", "https://rebind.example/x", "https://nowhere.example/x"],
)  # fmt: skip
async def test_api_refuses_inside_sinks(strict_client: TestClient, keys: dict[str, str], sink: str) -> None:
    resp = await strict_client.post(BASE, json=request(sink), headers=auth(keys["promocity"]))
    body = await resp.json()
    assert resp.status == 400 and body["code"] == "INVALID_SINK", body
    assert set(body) == {"status", "code", "message"}


async def test_api_takes_a_public_name(strict_client: TestClient, keys: dict[str, str]) -> None:
    resp = await strict_client.post(BASE, json=request("https://hook.example/x"), headers=auth(keys["promocity"]))
    body = await resp.json()
    assert body["code"] != "INVALID_SINK" and resp.status != 400, body  # past the sink check (refused later)


@pytest.mark.parametrize(
    ("url", "answers"),
    [
        ("https://hook.example/x", ["10.0.0.7"]),
        ("https://hook.example/x", ["169.254.169.254"]),
        ("https://hook.example/x", ["127.0.0.1"]),
        ("https://hook.example/x", ["::1"]),
        ("https://hook.example/x", ["::ffff:10.0.0.7"]),
        ("https://hook.example/x", ["93.184.216.34", "192.168.0.1"]),  # one inside answer spoils the name
    ],
)
async def test_connect_time_refusal_after_dns_opens_no_socket(url: str, answers: list[str]) -> None:
    connector = NoConnect(STRICT, resolver=StubResolver({"hook.example": answers}))
    async with aiohttp.ClientSession(connector=connector) as session:
        error = await outbound.post(session, url, b"{}", {}, timeout_s=1.0)
    assert error == outbound.REFUSED
    assert connector.attempts == []


async def test_dns_rebinding_between_creation_and_delivery() -> None:
    resolver = StubResolver({"hook.example": ["93.184.216.34"]})
    await outbound.check_resolves("https://hook.example/x", STRICT, resolver)  # creation: public
    resolver.answers["hook.example"] = ["127.0.0.1"]  # then the name points inside
    connector = NoConnect(STRICT, resolver=resolver, use_dns_cache=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        assert await outbound.post(session, "https://hook.example/x", b"{}", {}, 1.0) == outbound.REFUSED
    assert connector.attempts == [] and resolver.asked == ["hook.example", "hook.example"]


async def test_the_guard_lets_public_addresses_through_to_the_connect_step() -> None:
    # the other half of the check above: a public answer reaches the connect step (recorded, never opened)
    connector = NoConnect(STRICT, resolver=StubResolver({"hook.example": ["93.184.216.34"]}))
    async with aiohttp.ClientSession(connector=connector) as session:
        assert await outbound.post(session, "https://hook.example/x", b"{}", {}, 1.0) == outbound.UNREACHABLE
    assert connector.attempts == ["93.184.216.34"]


@pytest.mark.parametrize("url", ["https://169.254.169.254/", "https://[::1]:9/", "https://10.9.8.7/"])
async def test_literal_addresses_refused_at_connect_time_too(url: str) -> None:
    connector = NoConnect(STRICT)
    async with aiohttp.ClientSession(connector=connector) as session:
        with pytest.raises(outbound.OutboundRefused):
            async with session.post(url, data=b"{}"):
                pass
    assert connector.attempts == []


async def test_only_guarded_sessions_post() -> None:
    async with aiohttp.ClientSession() as plain:
        with pytest.raises(TypeError):
            await outbound.post(plain, "https://hook.example/x", b"{}", {}, 1.0)


async def test_redirects_are_not_followed(aiohttp_server: Any) -> None:
    hits: list[str] = []

    async def hop(request: web.Request) -> web.Response:
        hits.append(request.path)
        raise web.HTTPTemporaryRedirect("/inside")

    async def inside(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hop", hop)
    app.router.add_post("/inside", inside)
    server: TestServer = await aiohttp_server(app)
    async with outbound.session(Settings(geofence_camara_loopback_http=True)) as session:
        error = await outbound.post(session, f"http://127.0.0.1:{server.port}/hop", b"{}", {}, 2.0)
    assert error == "HTTP 307" and hits == ["/hop"]


async def test_errors_do_not_tell_open_from_closed_ports() -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()

    release = asyncio.Event()
    handlers: list[asyncio.Task[Any]] = []

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()
        await writer.wait_closed()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        await release.wait()  # accepts, never answers: the client times out
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    not_http = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    slow = await asyncio.start_server(silent, "127.0.0.1", 0)
    ports = [closed_port, not_http.sockets[0].getsockname()[1], slow.sockets[0].getsockname()[1]]
    try:
        async with outbound.session(Settings(geofence_camara_loopback_http=True)) as session:
            errors = [await outbound.post(session, f"http://127.0.0.1:{p}/x", b"{}", {}, 0.5) for p in ports]
    finally:
        release.set()
        await asyncio.gather(*handlers)
        for server in (not_http, slow):
            server.close()
            await server.wait_closed()
    assert errors == [outbound.UNREACHABLE] * 3


async def test_delivery_to_a_stored_inside_sink_is_refused_without_connecting(
    settings: Settings, db: asyncpg.Connection[Any], keys: dict[str, str]
) -> None:
    # a row written around the API (or before this check): the delivery refuses it at connect time
    pid = await db.fetchval("SELECT id FROM providers WHERE name = 'PromoCity'")
    app_id = await db.fetchval("SELECT id FROM applications WHERE provider_id = $1", pid)
    sub = await db.fetchrow(
        "INSERT INTO geofencing_subscriptions (public_id, provider_id, application_id, msisdn, lon, lat, radius_m,"
        " types, sink) VALUES ('s1', $1, $2, '+32470000001', 4.35, 50.84, 100, '[]', 'https://169.254.169.254/')"
        " RETURNING *",
        pid,
        app_id,
    )
    now = datetime.now(UTC)
    await camara.enqueue(db, sub, camara.STARTED, {}, "s1:started", now)
    connector = NoConnect(STRICT)
    pool = await create_pool(settings)
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            assert await camara.deliver_due(pool, session, settings, now) == 1
    finally:
        await pool.close()
    assert connector.attempts == []
    assert await db.fetchval("SELECT last_error FROM geofencing_deliveries") == outbound.REFUSED


async def test_one_slow_sink_does_not_hold_the_others() -> None:
    in_flight: dict[str, int] = {}
    peak: dict[str, int] = {}
    order: list[str] = []

    async def send(url: str) -> None:
        host = url.split("/")[2]
        in_flight[host] = in_flight.get(host, 0) + 1
        peak[host] = max(peak.get(host, 0), in_flight[host])
        await asyncio.sleep(0.05 if host == "slow.example" else 0)
        in_flight[host] -= 1
        order.append(host)

    urls = [f"https://slow.example/{i}" for i in range(6)] + [f"https://fast.example/{i}" for i in range(3)]
    await outbound.each_per_host(urls, lambda u: u, 2, send)
    assert peak == {"slow.example": 2, "fast.example": 2}
    assert order[:3] == ["fast.example"] * 3  # the fast sink is done while the slow one still waits
