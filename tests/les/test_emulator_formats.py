"""The emulator's own MLP formats, MSISDNs and GSM splitting agree with the spec's examples and with the platform's
(written apart, so that a bug in one shows against the other instead of hiding on both sides)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbs.messaging import gsm as platform_gsm
from lbs.mlp import ResultCode as PlatformCode
from lbs.mlp import coords as platform_coords
from les_simulator.les import coords
from les_simulator.les.codes import ResultCode
from les_simulator.msisdn import is_short_code, to_e164
from les_simulator.smsc import gsm


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
    ],
)
def test_spec_coordinates(text: str, axis: coords.Axis, value: float) -> None:
    assert coords.parse_ordinate(text, axis) == pytest.approx(value, abs=1e-5)


@pytest.mark.parametrize(
    ("text", "axis"), [("91", "lat"), ("50 61 00N", "lat"), ("4 21 09E", "lat"), ("north", "lat"), ("50 5.5 1N", "lat")]
)
def test_bad_coordinates(text: str, axis: coords.Axis) -> None:
    with pytest.raises(coords.CoordError):
        coords.parse_ordinate(text, axis)


@given(st.floats(-90, 90), st.sampled_from(["DMS", "DECIMAL"]))
def test_the_platform_reads_what_the_emulator_writes(value: float, fmt: coords.CoordFormat) -> None:
    written = coords.format_ordinate(value, "lat", fmt)
    assert written == platform_coords.format_ordinate(value, "lat", fmt)
    assert platform_coords.parse_ordinate(written, "lat") == pytest.approx(value, abs=1e-6)


def test_times() -> None:
    assert coords.parse_time("20020623134453", "+0300") == datetime(2002, 6, 23, 10, 44, 53, tzinfo=UTC)
    assert coords.parse_time("20020623134453", "-0130") == datetime(2002, 6, 23, 15, 14, 53, tzinfo=UTC)
    assert coords.format_time(datetime(2026, 3, 3, 10, 0, tzinfo=UTC)) == ("20260303100000", "0000")
    for bad in (("2002-06-23", None), ("20020231000000", None), ("20020623134453", "+3")):
        with pytest.raises(coords.CoordError):
            coords.parse_time(*bad)


def test_result_codes_are_the_specs() -> None:
    for code in ResultCode:
        assert PlatformCode(code.value).text == code.text


def test_msisdns() -> None:
    assert to_e164("32470000001") == to_e164("0470 00 00 01") == "+32470000001"
    assert is_short_code("3311") and not is_short_code("32470000001")


@given(st.text(alphabet=st.sampled_from("ab€{é😀\n"), max_size=400))
def test_a_handset_splits_like_the_platform_counts(text: str) -> None:
    assert gsm.split_segments(text) == platform_gsm.split_segments(text)
    assert gsm.encoding_for(text) == platform_gsm.encoding_for(text)
