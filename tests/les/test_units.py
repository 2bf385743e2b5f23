"""Pure parts: coordinate formats, the mobility model, positioning rules, push allow-list, the breaker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbs.mlp import CircuitBreaker, ResultCode
from lbs.mlp.coords import CoordError, format_ordinate, format_time, parse_ordinate, parse_time
from les_simulator.les.population import Population
from les_simulator.les.positioning import AGNSS, CELL, ECID, QopError, choose_method, coarsen, measure
from les_simulator.les.push import push_url_allowed
from les_simulator.les.triggers import _haversine_m

BBOX = (4.30, 50.80, 4.42, 50.88)


@given(st.floats(-90, 90), st.sampled_from(["DMS", "DECIMAL"]))
def test_latitude_round_trips(value: float, fmt: str) -> None:
    assert parse_ordinate(format_ordinate(value, "lat", fmt), "lat") == pytest.approx(value, abs=1e-6)  # type: ignore[arg-type]


@given(st.floats(-180, 180))
def test_longitude_round_trips(value: float) -> None:
    assert parse_ordinate(format_ordinate(value, "lon"), "lon") == pytest.approx(value, abs=1e-6)


@pytest.mark.parametrize(
    ("text", "axis", "value"),
    [
        ("30 16 28.308N", "lat", 30.27453),
        ("45 15 33.444E", "lon", 45.25929),
        ("33 51 00.000S", "lat", -33.85),
        ("4 21 09.000W", "lon", -4.3525),
        ("50 50.8002N", "lat", 50.84667),
        ("50.84667", "lat", 50.84667),
        ("-4.3525", "lon", -4.3525),
        ("50.84667N", "lat", 50.84667),
    ],
)
def test_coordinate_formats(text: str, axis: str, value: float) -> None:
    assert parse_ordinate(text, axis) == pytest.approx(value, abs=1e-5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "axis"), [("91", "lat"), ("50 61 00N", "lat"), ("4 21 09E", "lat"), ("north", "lat"), ("181", "lon")]
)
def test_bad_coordinates(text: str, axis: str) -> None:
    with pytest.raises(CoordError):
        parse_ordinate(text, axis)  # type: ignore[arg-type]


def test_times() -> None:
    assert parse_time("20020623134453", "+0300") == datetime(2002, 6, 23, 10, 44, 53, tzinfo=UTC)
    assert parse_time("20020623134453", "-0130") == datetime(2002, 6, 23, 15, 14, 53, tzinfo=UTC)
    when = datetime(2026, 3, 3, 11, 0, tzinfo=timezone(timedelta(hours=1)))
    assert format_time(when) == ("20260303100000", "0000")
    with pytest.raises(CoordError):
        parse_time("2002-06-23")


def test_population_is_deterministic_and_in_the_city() -> None:
    a, b = Population(7, 1000, "+32470000000", BBOX), Population(7, 1000, "+32470000000", BBOX)
    at = datetime(2026, 3, 3, 3, 0, tzinfo=UTC)
    for i in range(0, 1000, 97):
        lat, lon = a.true_position(i, at)
        assert (lat, lon) == b.true_position(i, at)
        assert BBOX[1] <= lat <= BBOX[3] and BBOX[0] <= lon <= BBOX[2]
    assert Population(8, 1000, "+32470000000", BBOX).true_position(1, at) != a.true_position(1, at)


def test_commuters_move_during_the_day() -> None:
    pop = Population(42, 100, "+32470000000", BBOX)
    commuter = next(i for i in range(100) if pop.profile(i).commuter)
    night = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)  # Tuesday
    office = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
    assert pop.true_position(commuter, night) == pop.profile(commuter).home
    assert pop.true_position(commuter, office) == pop.profile(commuter).work


def test_numbering() -> None:
    pop = Population(1, 10_000, "+32470000000", BBOX)
    assert (pop.msisdn(42), pop.imsi(42)) == ("+32470000042", "206100000000042")
    assert pop.index_of_msisdn("32470000042") == 42 == pop.index_of_imsi("206100000000042")
    assert pop.index_of_msisdn("+32470010000") is None and pop.index_of_imsi("208100000000042") is None


def test_absent_share_is_about_right() -> None:
    pop = Population(3, 10_000, "+32470000000", BBOX)
    at = datetime(2026, 3, 3, 12, tzinfo=UTC)
    share = sum(pop.is_absent(i, at, 0.1) for i in range(10_000)) / 10_000
    assert 0.08 < share < 0.12


@pytest.mark.parametrize(
    ("hor_acc", "resp_timer", "resp_req", "method"),
    [
        (None, None, None, ECID),
        (3000, None, None, CELL),
        (300, None, None, ECID),
        (50, None, None, AGNSS),
        (10, None, None, AGNSS),
        (10, None, "NO_DELAY", CELL),
        (10, None, "LOW_DELAY", ECID),
        (500, 1, None, ECID),
    ],
)
def test_choose_method(hor_acc: float | None, resp_timer: float | None, resp_req: str | None, method: object) -> None:
    assert choose_method(hor_acc, resp_timer, resp_req) is method


@pytest.mark.parametrize(("hor_acc", "resp_timer"), [(4, None), (10, 1), (None, 0.1)])
def test_unattainable(hor_acc: float | None, resp_timer: float | None) -> None:
    with pytest.raises(QopError) as info:
        choose_method(hor_acc, resp_timer, None)
    assert info.value.code == ResultCode.QOP_NOT_ATTAINABLE


@given(st.integers(0, 10_000), st.sampled_from([CELL, ECID, AGNSS]))
def test_fixes_are_noisy_within_their_accuracy(index: int, method: object) -> None:
    at = datetime(2026, 3, 3, 12, tzinfo=UTC)
    true = (50.85, 4.35)
    fix = measure(1, index, true, at, method, None)  # type: ignore[arg-type]
    assert _haversine_m(true, (fix.lat, fix.lon)) <= fix.accuracy_m
    assert method.best_m <= fix.accuracy_m <= method.worst_m  # type: ignore[attr-defined]


def test_coarse_fix_is_an_h3_cell_centre() -> None:
    fix = measure(1, 1, (50.85, 4.35), datetime(2026, 3, 3, tzinfo=UTC), AGNSS, None)
    coarse = coarsen(fix, 7)
    assert coarse.coarse and coarse.accuracy_m >= 1400
    again = coarsen(measure(1, 2, (50.85, 4.35), fix.time, AGNSS, None), 7)
    assert (again.lat, again.lon) == (coarse.lat, coarse.lon)  # same cell, same answer: no exact leak


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://127.0.0.1:8080/mlp/push", True),
        ("https://localhost/push", True),
        ("http://[::1]:9/x", True),
        ("http://10.0.0.1/push", False),
        ("http://127.0.0.1.evil.example/push", False),
        ("http://user:pw@127.0.0.1/push", False),
        ("ftp://127.0.0.1/push", False),
        ("file:///etc/passwd", False),
        ("http://127.0.0.1:99999/push", False),
        ("not a url", False),
    ],
)
def test_push_allow_list(url: str, ok: bool) -> None:
    assert push_url_allowed(url, ["127.0.0.1", "::1", "localhost"]) is ok


def test_breaker_state_machine() -> None:
    now = [0.0]
    breaker = CircuitBreaker(2, 5.0, clock=lambda: now[0])
    breaker.failure()
    assert breaker.allow() and breaker.state == "closed"
    breaker.failure()
    assert not breaker.allow() and breaker.state == "open"
    now[0] = 6
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.failure()
    assert breaker.state == "open"
    now[0] = 12
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.failures == 0
