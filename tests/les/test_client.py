"""The MLP client's resilience and options: retries, circuit breaker, timeouts, quality of position."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest

from lbs.mlp import (
    AbsentSubscriber,
    CircuitBreaker,
    LesCongested,
    LesProtocolError,
    LesTimeout,
    LesUnavailable,
    MlpClient,
    QopNotAttainable,
    Qos,
    ResultCode,
)
from lbs.mlp.models import Position
from tests.les.conftest import GRANTED, Les, Platform, make_settings
from tests.les.test_control import call


async def received(les: Les) -> int:
    return len((await call(les, "GET", "/sim/received"))[1]["requests"])


def client_for(les: Les, http: aiohttp.ClientSession, **overrides: object) -> MlpClient:
    settings = make_settings(les_url=les.url, **overrides)
    return MlpClient(http, settings)


async def test_transient_errors_are_retried(les: Les, http: aiohttp.ClientSession) -> None:
    await call(les, "PUT", "/sim/mode", {"mode": "congested"})
    with pytest.raises(LesCongested):
        await client_for(les, http, mlp_retries=2).locate(GRANTED)
    assert await received(les) == 3


async def test_definite_answers_are_not_retried(les: Les, http: aiohttp.ClientSession) -> None:
    await call(les, "PUT", "/sim/mode", {"mode": "absent"})
    with pytest.raises(AbsentSubscriber):
        await client_for(les, http, mlp_retries=2).locate(GRANTED)
    assert await received(les) == 1


async def test_breaker_opens_after_repeated_failures_and_fails_fast(les: Les, http: aiohttp.ClientSession) -> None:
    await call(les, "PUT", "/sim/mode", {"mode": "drop_connection"})
    client = client_for(les, http, mlp_retries=0, mlp_breaker_threshold=2, mlp_breaker_reset_s=60)
    for _ in range(2):
        with pytest.raises(LesUnavailable):
            await client.locate(GRANTED)
    assert client.breaker.state == "open"
    with pytest.raises(LesUnavailable, match="circuit breaker open"):
        await client.locate(GRANTED)
    assert await received(les) == 2  # the third call never left the platform


async def test_breaker_half_open_trial_closes_it_again(les: Les, http: aiohttp.ClientSession) -> None:
    now = [0.0]
    client = client_for(les, http, mlp_retries=0)
    client.breaker = CircuitBreaker(1, 10.0, clock=lambda: now[0])
    await call(les, "PUT", "/sim/mode", {"mode": "garbage_response"})
    with pytest.raises(LesProtocolError):
        await client.locate(GRANTED)
    assert client.breaker.state == "open"
    await call(les, "DELETE", "/sim/mode")
    now[0] = 11.0
    assert client.breaker.state == "half-open"
    assert isinstance(await client.locate(GRANTED), Position)
    assert client.breaker.state == "closed"


async def test_client_timeout(les: Les, http: aiohttp.ClientSession) -> None:
    await call(les, "PUT", "/sim/mode", {"mode": "slow"})
    with pytest.raises(LesTimeout) as info:
        await client_for(les, http, mlp_timeout_s=0.05, mlp_retries=0).locate(GRANTED)
    assert info.value.result_code == ResultCode.TIMEOUT


async def test_les_down_is_unavailable_and_emitted(http: aiohttp.ClientSession, platform: Platform) -> None:
    settings = make_settings(les_url="http://127.0.0.1:9/mlp", mlp_retries=0)
    events: list[object] = []

    async def sink(event: object) -> None:
        events.append(event)

    with pytest.raises(LesUnavailable):
        await MlpClient(http, settings, events=sink).locate(GRANTED)
    assert len(events) == 1


@pytest.mark.parametrize(
    ("qos", "method", "max_acc"),
    [
        (Qos(), "E-CID", 300),
        (Qos(hor_acc_m=5000), "CELL", 3000),
        (Qos(hor_acc_m=200), "A-GNSS", 50),
        (Qos(hor_acc_m=20), "A-GNSS", 20),
        (Qos(resp_req="NO_DELAY"), "CELL", 3000),
        (Qos(hor_acc_m=20, resp_req="LOW_DELAY"), "E-CID", 300),
        (Qos(hor_acc_m=200, resp_timer_s=1), "E-CID", 300),
        (Qos(loc_type="INITIAL"), "CELL", 3000),
    ],
)
async def test_quality_of_position_picks_the_method(platform: Platform, qos: Qos, method: str, max_acc: int) -> None:
    pos = await platform.client.locate(GRANTED, qos=qos)
    assert (pos.method, pos.accuracy_m <= max_acc) == (method, True)


@pytest.mark.parametrize("qos", [Qos(hor_acc_m=2), Qos(hor_acc_m=20, resp_timer_s=1), Qos(resp_timer_s=0)])
async def test_unattainable_quality(platform: Platform, qos: Qos) -> None:
    with pytest.raises(QopNotAttainable):
        await platform.client.locate(GRANTED, qos=qos)


async def test_last_known_and_max_loc_age(les: Les, platform: Platform) -> None:
    fresh = await platform.client.locate(GRANTED)
    await les.clock.advance(600)
    last = await platform.client.locate(GRANTED, qos=Qos(loc_type="LAST"))
    assert last == fresh
    with pytest.raises(QopNotAttainable):
        await platform.client.locate(GRANTED, qos=Qos(loc_type="LAST", max_loc_age_s=60))
    cached = await platform.client.locate(GRANTED, qos=Qos(max_loc_age_s=900))
    assert cached.timestamp == fresh.timestamp
    new = await platform.client.locate(GRANTED, qos=Qos(max_loc_age_s=60))
    assert new.timestamp - fresh.timestamp == timedelta(seconds=600)


async def test_current_or_last_for_an_absent_subscriber(les: Les, platform: Platform) -> None:
    await call(les, "PUT", "/sim/mode", {"mode": "absent", "msisdn": GRANTED})
    # The emulator's "absent" mode is a failure of the request, not a switched-off handset: it stays absent.
    with pytest.raises(AbsentSubscriber):
        await platform.client.locate(GRANTED, qos=Qos(loc_type="CURRENT_OR_LAST"))


async def test_many_subscribers_in_one_request(platform: Platform) -> None:
    numbers = [f"+3247000{i:04d}" for i in range(1, 4)]
    results = await platform.client.locate_many(numbers)
    assert isinstance(results[numbers[0]], Position)
    assert isinstance(results[numbers[1]], Position)
    assert isinstance(results[numbers[2]], Exception)  # +32470000003 has no grant
