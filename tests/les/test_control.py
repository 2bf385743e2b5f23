"""The /sim control API and the named failure modes, seen through the platform's client over HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest

from lbs.mlp import (
    AbsentSubscriber,
    LesCongested,
    LesProtocolError,
    LesSystemFailure,
    LesTimeout,
    LesUnavailable,
    LocationError,
    Position,
    PositionMethodFailure,
    Qos,
    ResultCode,
    UnknownSubscriber,
)
from tests.les.conftest import COARSE, DENIED, GRANTED, Les, Platform


async def call(les: Les, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with les.http.request(method, les.sim(path), json=body) as resp:
        return resp.status, await resp.json()


async def test_health(les: Les) -> None:
    assert await call(les, "GET", "/sim/health") == (200, {"status": "ok"})


async def test_move_read_and_release_a_subscriber(les: Les) -> None:
    status, body = await call(les, "PUT", f"/sim/subscribers/{GRANTED}/position", {"lat": 50.8467, "lon": 4.3525})
    assert (status, body["lat"], body["lon"]) == (200, 50.8467, 4.3525)
    status, body = await call(les, "GET", f"/sim/subscribers/{GRANTED}/position")
    assert (body["lat"], body["lon"], body["source"], body["imsi"]) == (50.8467, 4.3525, "override", "206100000000001")
    await call(les, "DELETE", f"/sim/subscribers/{GRANTED}/position")
    _, body = await call(les, "GET", f"/sim/subscribers/{GRANTED}/position")
    assert body["source"] == "model"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/sim/subscribers/+32471999999/position", {"lat": 1, "lon": 1}, 404),
        (f"/sim/subscribers/{GRANTED}/position", {"lat": 91, "lon": 1}, 400),
        (f"/sim/subscribers/{GRANTED}/position", {"lat": 50}, 400),
        ("/sim/mode", {"mode": "sleepy"}, 400),
        ("/sim/mode", {"mode": "slow", "msisdn": "+32471999999"}, 404),
    ],
)
async def test_control_api_rejects_bad_input(les: Les, path: str, body: Any, status: int) -> None:
    got, payload = await call(les, "PUT", path, body)
    assert got == status
    assert payload["status"] == status


async def test_received_log_names_msisdn_and_client_newest_last(les: Les, platform: Platform) -> None:
    await platform.client.locate(GRANTED)
    await platform.client.locate(COARSE, requestor=COARSE)
    _, body = await call(les, "GET", "/sim/received")
    assert [(r["msisdns"], r["client"], r["service"]) for r in body["requests"]] == [
        (["32470000001"], "demo", "slir"),
        (["32470000002"], "demo", "slir"),
    ]
    assert body["requests"][-1]["requestor"] == "32470000002"
    await call(les, "DELETE", "/sim/received")
    assert (await call(les, "GET", "/sim/received"))[1] == {"requests": []}


MODE_ERRORS: list[tuple[str, type[LocationError], ResultCode]] = [
    ("absent", AbsentSubscriber, ResultCode.ABSENT_SUBSCRIBER),
    ("unknown_subscriber", UnknownSubscriber, ResultCode.UNKNOWN_SUBSCRIBER),
    ("position_method_failure", PositionMethodFailure, ResultCode.POSITION_METHOD_FAILURE),
    ("congested", LesCongested, ResultCode.CONGESTION_IN_LOCATION_SERVER),
    ("system_failure", LesSystemFailure, ResultCode.SYSTEM_FAILURE),
    ("drop_connection", LesUnavailable, ResultCode.SYSTEM_FAILURE),
    ("garbage_response", LesProtocolError, ResultCode.FORMAT_ERROR),
]


@pytest.mark.parametrize(("mode", "error", "code"), MODE_ERRORS)
async def test_global_failure_modes(
    les: Les, platform: Platform, mode: str, error: type[LocationError], code: ResultCode
) -> None:
    assert (await call(les, "PUT", "/sim/mode", {"mode": mode}))[1]["global"] == mode
    with pytest.raises(error) as info:
        await platform.client.locate(GRANTED)
    assert info.value.result_code == code
    await call(les, "DELETE", "/sim/mode")
    assert isinstance(await platform.client.locate(GRANTED), Position)


@pytest.mark.parametrize(
    ("mode", "code"),
    [
        ("absent", ResultCode.ABSENT_SUBSCRIBER),
        ("unknown_subscriber", ResultCode.UNKNOWN_SUBSCRIBER),
        ("position_method_failure", ResultCode.POSITION_METHOD_FAILURE),
        ("congested", ResultCode.CONGESTION_IN_MOBILE_NETWORK),
        ("system_failure", ResultCode.SYSTEM_FAILURE),
    ],
)
async def test_per_subscriber_modes_touch_only_that_subscriber(
    les: Les, platform: Platform, mode: str, code: ResultCode
) -> None:
    await call(les, "PUT", "/sim/mode", {"mode": mode, "msisdn": COARSE})
    results = await platform.client.locate_many([GRANTED, COARSE])
    assert isinstance(results[GRANTED], Position)
    err = results[COARSE]
    assert isinstance(err, LocationError) and err.result_code == code
    _, body = await call(les, "GET", "/sim/mode")
    assert body["subscribers"] == {COARSE: mode} and body["global"] == "happy"


async def test_slow_mode_delays_the_answer(les: Les, platform: Platform) -> None:
    await call(les, "PUT", "/sim/mode", {"mode": "slow"})
    started = time.perf_counter()
    await platform.client.locate(GRANTED)
    assert time.perf_counter() - started >= les.settings.les_slow_delay_s


async def test_slow_mode_past_resp_timer_is_a_timeout(les: Les, platform: Platform) -> None:
    await call(les, "PUT", "/sim/mode", {"mode": "slow", "msisdn": GRANTED})
    with pytest.raises(LesTimeout) as info:
        await platform.client.locate(GRANTED, qos=Qos(resp_timer_s=0))
    assert info.value.result_code == ResultCode.TIMEOUT


async def test_privacy_is_asked_before_absence_leaks(les: Les, platform: Platform) -> None:
    await call(les, "PUT", "/sim/mode", {"mode": "absent", "msisdn": DENIED})
    with pytest.raises(LocationError) as info:
        await platform.client.locate(DENIED)
    assert info.value.result_code == ResultCode.POSITIONING_NOT_ALLOWED


async def test_high_priority_requests_get_through_congestion(les: Les, platform: Platform) -> None:
    await call(les, "PUT", "/sim/mode", {"mode": "congested"})
    assert isinstance(await platform.client.locate(GRANTED, qos=Qos(prio="HIGH")), Position)
    with pytest.raises(LesCongested):
        await platform.client.locate(GRANTED)
