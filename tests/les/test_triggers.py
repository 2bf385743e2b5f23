"""Triggered location reporting through the platform's client: start, pushed tlrep, stop; async SLIR."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import aiohttp
import pytest

from lbs.clock import system_clock
from lbs.mlp import AreaTrigger, Circle, LesProtocolError, PolygonArea, ReportRequest, ResultCode
from lbs.mlp.showcase import show_triggered_reports
from les_simulator.les.keys import TRIGGERS_KEY
from les_simulator.les.push import basic_auth
from les_simulator.settings import LesSettings
from tests.les.conftest import DENIED, GRANTED, START, Les, Platform, eventually, make_les_settings, make_settings
from tests.les.test_control import call

FIVE = ("+32470000010", "+32470000014")  # a range of five subscribers, none granted: self-requested below


@pytest.fixture
def les_settings() -> LesSettings:
    grants = [(f"+3247000001{i}", "demo", "exact") for i in range(5)] + [(GRANTED, "demo", "exact")]
    return make_les_settings(privacy_test_grants=grants)


async def test_periodic_reports_for_a_range_until_stopped(les: Les, platform: Platform) -> None:
    req_id = await platform.client.start_reports(ReportRequest(msid_range=FIVE, interval_s=60))
    await eventually(lambda: len(platform.reports) == 5)
    await les.clock.advance(60)
    await eventually(lambda: len(platform.reports) == 10)
    assert {r.msid for r in platform.reports} == {f"+3247000001{i}" for i in range(5)}
    assert all(r.position is not None and r.trigger == "PERIODIC" for r in platform.reports)
    assert (await call(les, "GET", "/sim/triggers"))[1]["triggers"][0]["req_id"] == req_id
    await platform.client.stop_reports(req_id)
    await les.clock.advance(120)
    assert len(platform.reports) == 10
    with pytest.raises(LesProtocolError) as info:
        await platform.client.stop_reports(req_id)
    assert info.value.result_code == ResultCode.INVALID_PROTOCOL_ELEMENT_VALUE


async def test_duration_ends_the_reports(les: Les, platform: Platform) -> None:
    await platform.client.start_reports(ReportRequest(msisdns=(GRANTED,), interval_s=60, duration_s=90))
    await eventually(lambda: len(platform.reports) == 1)
    await les.clock.advance(60)
    await eventually(lambda: len(platform.reports) == 2)
    await les.clock.advance(60)
    await eventually(lambda: not les.server.app[TRIGGERS_KEY].triggers)
    assert len(platform.reports) == 2
    assert (await call(les, "GET", "/sim/triggers"))[1]["triggers"] == []


async def test_start_time_in_the_future_waits(les: Les, platform: Platform) -> None:
    request = ReportRequest(msisdns=(GRANTED,), interval_s=60, start_time=START + timedelta(minutes=5))
    await platform.client.start_reports(request)
    await les.clock.advance(240)
    assert platform.reports == []
    await les.clock.advance(60)
    await eventually(lambda: len(platform.reports) == 1)


async def test_each_report_asks_privacy(les: Les, platform: Platform) -> None:
    await platform.client.start_reports(ReportRequest(msisdns=(GRANTED, DENIED), interval_s=60))
    await eventually(lambda: len(platform.reports) == 2)
    by_msid = {r.msid: r for r in platform.reports}
    assert by_msid[GRANTED].position is not None
    assert (by_msid[DENIED].position, by_msid[DENIED].result) == (None, ResultCode.POSITIONING_NOT_ALLOWED)


async def test_ms_avail_reports_when_the_handset_comes_back(les: Les, platform: Platform) -> None:
    await call(les, "PUT", "/sim/mode", {"mode": "absent", "msisdn": GRANTED})
    await platform.client.start_reports(ReportRequest(msisdns=(GRANTED,), ms_avail=True))
    await les.clock.advance(60)
    assert platform.reports == []
    await call(les, "DELETE", "/sim/mode")
    await les.clock.advance(30)
    await eventually(lambda: len(platform.reports) == 1)
    assert platform.reports[0].trigger == "MS_AVAIL"
    await les.clock.advance(300)
    assert len(platform.reports) == 1  # once only


async def rounds_done(les: Les, n: int) -> None:
    async def current() -> int:
        triggers = (await call(les, "GET", "/sim/triggers"))[1]["triggers"]
        return int(triggers[0]["rounds"]) if triggers else -1

    for _ in range(300):
        if await current() >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"trigger did not reach {n} rounds")


CENTRE = (50.8467, 4.3525)
OUTSIDE = {"lat": 50.87, "lon": 4.40}
INSIDE = {"lat": CENTRE[0], "lon": CENTRE[1]}
SQUARE = PolygonArea(((50.84, 4.34), (50.85, 4.34), (50.85, 4.36), (50.84, 4.36)))


@pytest.mark.parametrize(
    ("event", "area", "moves", "expected"),
    [
        ("MS_ENTERING", Circle(*CENTRE, 500), [OUTSIDE, INSIDE, INSIDE, OUTSIDE, INSIDE], 2),
        ("MS_LEAVING", Circle(*CENTRE, 500), [INSIDE, OUTSIDE, OUTSIDE, INSIDE, OUTSIDE], 2),
        ("MS_WITHIN_AREA", Circle(*CENTRE, 500), [OUTSIDE, INSIDE, INSIDE, OUTSIDE], 2),
        ("MS_ENTERING", SQUARE, [OUTSIDE, INSIDE, OUTSIDE], 1),
    ],
)
async def test_change_of_area(
    les: Les, platform: Platform, event: str, area: Circle | PolygonArea, moves: list[dict[str, float]], expected: int
) -> None:
    await call(les, "PUT", f"/sim/subscribers/{GRANTED}/position", moves[0])
    trigger = AreaTrigger(event, area)  # type: ignore[arg-type]
    await platform.client.start_reports(ReportRequest(msisdns=(GRANTED,), interval_s=30, area=trigger))
    await rounds_done(les, 1)
    for n, move in enumerate(moves[1:], start=2):
        await call(les, "PUT", f"/sim/subscribers/{GRANTED}/position", move)
        await les.clock.advance(30)
        await rounds_done(les, n)
    assert len(platform.reports) == expected
    assert {r.trigger for r in platform.reports} == {"CHANGE_AREA"}


async def test_push_to_a_host_not_allowed_is_refused(les: Les, platform: Platform) -> None:
    platform.client.settings = platform.client.settings.model_copy(update={"mlp_push_url": "http://10.1.2.3/x"})
    with pytest.raises(LesProtocolError) as info:
        await platform.client.start_reports(ReportRequest(msisdns=(GRANTED,), interval_s=60))
    assert info.value.result_code == ResultCode.INVALID_PROTOCOL_ELEMENT_VALUE
    assert (await call(les, "GET", "/sim/triggers"))[1]["pushed"] == 0


async def test_async_slir_is_pushed_as_slirep(platform: Platform) -> None:
    req_id = await platform.client.locate_async([GRANTED, DENIED])
    await eventually(lambda: len(platform.reports) == 2)
    assert {r.req_id for r in platform.reports} == {req_id}
    assert {r.trigger for r in platform.reports} == {"SLIREP"}
    assert len([e for e in platform.events.drain() if e.kind == "report"]) == 2


async def test_receiver_refuses_garbage_with_a_gem(les: Les, platform: Platform) -> None:
    settings = make_settings()
    auth = {"Authorization": basic_auth(settings.mlp_push_user, settings.mlp_push_pwd)}
    async with les.http.post(platform.push_url, data=b"<svc_result><slia/></svc_result>", headers=auth) as r:
        assert r.status == 400
        assert 'resid="105"' in await r.text()
    assert platform.receiver.rejected == 1


async def test_showcase_step_prints_reports_in_words(les: Les, http: aiohttp.ClientSession) -> None:
    lines: list[str] = []
    settings = make_settings(les_url=les.url)
    task = asyncio.create_task(
        show_triggered_reports(settings, http, DENIED, clock=system_clock, out=lines.append, count=2)
    )
    await eventually(lambda: bool(lines))  # accepted: now let the emulator's (virtual) seconds pass
    for _ in range(3):
        await les.clock.advance(1)
        await asyncio.sleep(0.05)
    assert await task
    assert [line.split(":")[0] for line in lines[1:]] == ["  report", "  report"]
    assert "within" in lines[1]


@pytest.mark.parametrize(
    ("start", "stop"), [(None, START - timedelta(minutes=1)), (START + timedelta(hours=2), START + timedelta(hours=1))]
)
async def test_a_reporting_window_that_cannot_run_is_refused(
    les: Les, platform: Platform, start: datetime | None, stop: datetime
) -> None:
    with pytest.raises(LesProtocolError) as info:
        await platform.client.start_reports(
            ReportRequest(msisdns=(GRANTED,), interval_s=60, start_time=start, stop_time=stop)
        )
    assert info.value.result_code == ResultCode.INVALID_PROTOCOL_ELEMENT_VALUE
