"""Forged positions (issue 19): the MLP push receiver takes only whole, authenticated documents that answer a request
the platform opened, on its own listener; the LES emulator sends the credentials and reads whole bodies too."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web

from api.demo import les_settings_for
from api.keys import MLP_CLIENT_KEY
from lbs.mlp import MemoryOpenRequests, PushReceiver, RedisOpenRequests, ReportRequest
from lbs.mlp.receiver import PushRefused, checked_reports, push_app
from lbs.mlp.wire import parse_answer
from les_simulator.les.app import create_les_app
from les_simulator.les.privacy import LocalPrivacyChecker
from tests.conftest import free_port
from tests.security.conftest import Platform
from tests.security.pieces import basic, msisdns, now, pos, post_in_pieces, tlrep

REQ = "30001"
REF = "ref-of-30001"


def auth(platform: Platform) -> dict[str, str]:
    return basic(platform.settings.mlp_push_user, platform.settings.mlp_push_pwd)


def push_url(platform: Platform, ref: str | None = REF) -> str:
    query = f"?ref={ref}" if ref else ""
    return f"http://127.0.0.1:{platform.settings.mlp_push_port}/mlp/push{query}"


async def push(platform: Platform, body: bytes, headers: dict[str, str] | None = None, ref: str | None = REF) -> int:
    url = push_url(platform, ref)
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as resp:
        return resp.status


async def open_request(platform: Platform, req_id: str = REQ, ref: str = REF) -> None:
    """What the platform's MLP client records: the ref before sending, bound to the LES's req_id after."""
    opened = RedisOpenRequests(platform.redis)
    await opened.expect(ref, ttl_s=60)
    await opened.opened(req_id, ref)


async def test_push_is_not_served_on_the_provider_facing_api(platform: Platform) -> None:
    await open_request(platform)
    doc = tlrep(REQ, [pos("32470000100", now())])
    api = f"http://127.0.0.1:{platform.settings.api_port}/mlp/push?ref={REF}"
    async with aiohttp.ClientSession() as http, http.post(api, data=doc, headers=auth(platform)) as resp:
        assert resp.status in (404, 405)
    assert await platform.stream() == 0
    assert await push(platform, doc, auth(platform)) == 200  # its own listener takes it
    assert await platform.stream() == 1


def test_push_url_derives_from_the_push_listener_settings(platform: Platform) -> None:
    s = platform.settings
    assert s.mlp_push_url == f"http://{s.mlp_push_host}:{s.mlp_push_port}/mlp/push"
    assert s.mlp_push_port != s.api_port


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {"Authorization": "Bearer dev-push-secret"},
        basic("lbs-push", "wrong"),
        basic("someone", "dev-push-secret"),
        {"Authorization": "Basic %%%"},
    ],
)
async def test_unauthenticated_push_gets_401_and_nothing_is_applied(
    platform: Platform, headers: dict[str, str] | None
) -> None:
    await open_request(platform)
    doc = tlrep(REQ, [pos(m, now()) for m in msisdns(100)])
    async with aiohttp.ClientSession() as http, http.post(push_url(platform), data=doc, headers=headers) as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Basic")
        assert 'resid="3"' in await resp.text()
    assert await platform.stream() == 0


async def test_a_req_id_the_platform_did_not_open_is_refused(platform: Platform) -> None:
    doc = tlrep(REQ, [pos("32470000100", now())])
    assert await push(platform, doc, auth(platform)) == 400
    assert await platform.stream() == 0
    await open_request(platform)
    assert await push(platform, doc, auth(platform)) == 200
    assert await platform.stream() == 1


@pytest.mark.parametrize(("req_id", "ref"), [("30002", REF), (REQ, None), (REQ, "another-ref"), (REQ, "")])
async def test_the_req_id_must_be_the_one_opened_for_the_push_address(
    platform: Platform, req_id: str, ref: str | None
) -> None:
    await open_request(platform)
    await open_request(platform, "30002", "ref-of-30002")
    assert await push(platform, tlrep(req_id, [pos("32470000100", now())]), auth(platform), ref=ref) == 400
    assert await platform.stream() == 0


async def test_a_report_pushed_before_the_les_answer_reached_the_platform_is_taken(platform: Platform) -> None:
    """The LES may push before its tlra/slia reaches the client: the ref, recorded before sending, is expected."""
    await RedisOpenRequests(platform.redis).expect(REF, ttl_s=60)
    assert await push(platform, tlrep(REQ, [pos("32470000100", now())]), auth(platform)) == 200
    assert await platform.stream() == 1


async def test_a_position_in_the_future_beyond_the_skew_refuses_the_document(platform: Platform) -> None:
    await open_request(platform)
    skew = platform.settings.mlp_push_max_skew_s
    late = tlrep(REQ, [pos("32470000100", now()), pos("32470000101", datetime(2099, 1, 1, tzinfo=UTC))])
    assert await push(platform, late, auth(platform)) == 400
    soon = tlrep(REQ, [pos("32470000100", now() + timedelta(seconds=skew * 3))])
    assert await push(platform, soon, auth(platform)) == 400
    assert await platform.stream() == 0
    within = tlrep(REQ, [pos("32470000100", now() + timedelta(seconds=skew / 3))])
    assert await push(platform, within, auth(platform)) == 200
    assert await platform.stream() == 1


def test_a_request_stays_open_until_its_end_on_the_injected_clock() -> None:
    """The request's times are written on the platform's clock (pinned by the demo's --at): the open window is
    measured from it, not from the wall clock Redis keeps."""
    from lbs.mlp.client import open_for_s
    from lbs.settings import Settings

    settings = Settings(mlp_async_req_ttl_s=60)
    at = datetime(2020, 1, 7, 10, 0, tzinfo=UTC)  # long ago on the wall clock
    stop = ReportRequest(msisdns=("+32470000001",), interval_s=60, stop_time=at + timedelta(hours=1))
    assert open_for_s(stop, at, settings) == 3600 + 60
    lasting = ReportRequest(msisdns=("+32470000001",), interval_s=60, duration_s=600)
    assert open_for_s(lasting, at, settings) == 600 + 60
    assert open_for_s(ReportRequest(msisdns=("+32470000001",), interval_s=60), at, settings) is None


def test_the_skew_is_measured_from_the_injected_clock() -> None:
    at = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
    answer = parse_answer(tlrep(REQ, [pos("32470000100", at)]), coarse_from_m=1000, max_bytes=65_536)
    assert [r.msid for r in checked_reports(answer, latest=at)] == ["+32470000100"]
    with pytest.raises(PushRefused):
        checked_reports(answer, latest=at - timedelta(seconds=1))


@pytest.mark.parametrize("bad", ["not-a-number", "0470000101", "3247000010099999999", "+", ""])
async def test_a_bad_number_halfway_applies_nothing(platform: Platform, bad: str) -> None:
    await open_request(platform)
    numbers = msisdns(100)
    numbers[50] = bad
    assert await push(platform, tlrep(REQ, [pos(m, now()) for m in numbers]), auth(platform)) == 400
    assert await platform.stream() == 0
    numbers[50] = "32470000999"
    assert await push(platform, tlrep(REQ, [pos(m, now()) for m in numbers]), auth(platform)) == 200
    assert await platform.stream() == 100


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_2000_position_tlrep_arriving_in_pieces_is_read_whole(platform: Platform, chunked: bool) -> None:
    await open_request(platform)
    doc = tlrep(REQ, [pos(m, now()) for m in msisdns(2000)])
    assert len(doc) > 500_000
    port = platform.settings.mlp_push_port
    got = await post_in_pieces(
        port, f"/mlp/push?ref={REF}", doc, pieces=20, pause_s=0.02, headers=auth(platform), chunked=chunked
    )
    assert got.status == 200, got.body
    assert await platform.stream() == 2000


async def test_a_small_document_in_two_halves_half_a_second_apart_is_read_whole(platform: Platform) -> None:
    await open_request(platform)
    doc = tlrep(REQ, [pos(m, now()) for m in msisdns(5)])
    assert 1_000 < len(doc) < 2_000
    got = await post_in_pieces(platform.settings.mlp_push_port, f"/mlp/push?ref={REF}", doc, headers=auth(platform))
    assert got.status == 200, got.body
    assert await platform.stream() == 5


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_body_over_the_limit_is_refused_with_413(chunked: bool) -> None:
    from lbs.settings import Settings

    settings = Settings(mlp_max_push_bytes=10_000)
    taken: list[object] = []

    async def on_reports(batch: list[object]) -> None:
        taken.extend(batch)

    opened = MemoryOpenRequests()
    await opened.opened(REQ, REF)
    runner = web.AppRunner(push_app(settings, PushReceiver(settings, on_reports, opened=opened)))  # type: ignore[arg-type]
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        doc = tlrep(REQ, [pos(m, now()) for m in msisdns(60)])
        headers = basic(settings.mlp_push_user, settings.mlp_push_pwd)
        got = await post_in_pieces(
            port, f"/mlp/push?ref={REF}", doc, pieces=4, pause_s=0.05, headers=headers, chunked=chunked
        )
        assert got.status == 413
        assert taken == []
    finally:
        await runner.cleanup()


async def test_the_les_presents_the_push_credentials_and_reports_reach_the_stream(platform: Platform) -> None:
    """Over both real apps: the platform's client opens a TLRR (recording its req_id), the LES emulator pushes with
    the pushaddr's credentials; after TLRSR the req_id is closed and a replayed report is refused."""
    grant = "+32470000001"
    les_settings = les_settings_for(
        platform.settings, les_latency_scale=0.0, les_absent_share=0.0, privacy_test_grants=[(grant, "demo", "exact")]
    )
    les = web.AppRunner(create_les_app(les_settings, privacy=LocalPrivacyChecker.from_settings(les_settings)))
    await les.setup()
    await web.TCPSite(les, "127.0.0.1", les_settings.les_port).start()
    try:
        client = platform.app[MLP_CLIENT_KEY]
        req_id = await client.start_reports(ReportRequest(msisdns=(grant,), interval_s=1))
        ref = (await platform.redis.get(f"mlp:req:{req_id}")).decode()
        assert await RedisOpenRequests(platform.redis).accepts(req_id, ref)
        for _ in range(200):
            if await platform.stream() >= 1:
                break
            await asyncio.sleep(0.02)
        assert await platform.stream() >= 1
        await client.stop_reports(req_id)
        assert not await RedisOpenRequests(platform.redis).accepts(req_id, ref)
        before = await platform.stream()
        assert await push(platform, tlrep(req_id, [pos(grant[1:], now())]), auth(platform), ref=ref) == 400
        assert await platform.stream() == before
    finally:
        await les.cleanup()


async def test_the_les_pushes_nothing_a_receiver_with_other_credentials_takes(platform: Platform) -> None:
    """The LES sends what the pushaddr says; a platform whose receiver expects another password takes nothing."""
    grant = "+32470000001"
    les_settings = les_settings_for(
        platform.settings, les_latency_scale=0.0, les_absent_share=0.0, privacy_test_grants=[(grant, "demo", "exact")]
    )
    les = web.AppRunner(create_les_app(les_settings, privacy=LocalPrivacyChecker.from_settings(les_settings)))
    await les.setup()
    await web.TCPSite(les, "127.0.0.1", les_settings.les_port).start()
    try:
        client = platform.app[MLP_CLIENT_KEY]
        client.settings = client.settings.model_copy(update={"mlp_push_pwd": "not-the-receivers"})
        req_id = await client.start_reports(ReportRequest(msisdns=(grant,), interval_s=1))
        await asyncio.sleep(0.5)
        assert await platform.stream() == 0
        await client.stop_reports(req_id)
    finally:
        await les.cleanup()
