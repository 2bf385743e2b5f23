"""lbs.messaging.gsm: alphabet, septet counting and segmenting, checked exhaustively and by properties."""

from __future__ import annotations

import itertools
import math

import gsm0338  # noqa: F401 - registers the 'gsm03.38' codec used as the independent reference
import pytest
from aiosmpplib.codec import GSM_BASIC_ENCODE_MAP, GSM_EXTENDED_ENCODE_MAP
from hypothesis import given
from hypothesis import strategies as st

from lbs.messaging.gsm import (
    DATA_CODING,
    GSM7_BASIC,
    GSM7_EXTENSION,
    encoding_for,
    is_gsm7,
    segment_count,
    septets,
    split_segments,
    utf16_units,
)

GSM_CHARS = "".join(sorted(GSM7_BASIC | GSM7_EXTENSION))
gsm_text = st.text(alphabet=GSM_CHARS, max_size=700)
any_text = st.text(max_size=400)
astral_heavy = st.text(alphabet=st.sampled_from(["a", "é", "€", "😀", "𝄞", "中"]), max_size=300)


def reference_septets(char: str) -> int | None:
    """Septets per the gsm0338 package, None if it cannot encode (the escape 0x1B itself is not a character)."""
    if char == "\x1b":
        return None
    try:
        return len(char.encode("gsm03.38"))
    except UnicodeEncodeError:
        return None


def test_alphabet_sizes() -> None:
    assert len(GSM7_BASIC) == 127  # 128 codes minus the escape
    assert len(GSM7_EXTENSION) == 10


def test_every_bmp_character_agrees_with_gsm0338_and_aiosmpplib() -> None:
    for code in range(0x10000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        expected = reference_septets(char)
        assert is_gsm7(char) is (expected is not None), hex(code)
        if expected is not None:
            assert septets(char) == expected, hex(code)
            assert char in GSM_BASIC_ENCODE_MAP or char in GSM_EXTENDED_ENCODE_MAP


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("", 0),
        ("hello", 5),
        ("€", 2),
        ("{[~]}|^\\\f€", 20),
        ("Ça coûte 5€", None),  # û is not GSM-7
        ("Ça côute", None),
    ],
)
def test_septets(text: str, count: int | None) -> None:
    if count is None:
        with pytest.raises(ValueError, match=r"GSM 03\.38"):
            septets(text)
    else:
        assert septets(text) == count


@pytest.mark.parametrize(
    ("text", "encoding"),
    [("PHARMACY", "gsm0338"), ("Apotheek €", "gsm0338"), ("Привет", "ucs2"), ("ok 😀", "ucs2"), ("", "gsm0338")],
)
def test_encoding_for(text: str, encoding: str) -> None:
    assert encoding_for(text) == encoding
    assert DATA_CODING[encoding_for(text)] == (0 if encoding == "gsm0338" else 8)


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # 160 septets
        ("€" * 81, 2),  # 162 septets; aiosmpplib says 1 (it counts characters)
        ("€" * 100, 2),  # 200 septets
        ("a" * 152 + "€" + "b" * 10, 2),  # 164 septets; the escape pair moves whole into part 2
        ("я" * 70, 1),
        ("я" * 71, 2),
        ("я" * 134, 2),
        ("я" * 135, 3),
        ("😀" * 35, 1),  # 70 UTF-16 units
        ("😀" * 36, 2),
        ("a" * 66 + "😀" + "я" * 10, 2),  # the surrogate pair moves whole into part 2
    ],
)
def test_segment_count_table(text: str, parts: int) -> None:
    assert segment_count(text) == parts
    assert "".join(split_segments(text)) == text


def test_escape_pair_never_split() -> None:
    first, second = split_segments("a" * 152 + "€" + "b" * 10)
    assert first == "a" * 152 and second.startswith("€")


def test_surrogate_pair_never_split() -> None:
    first, second = split_segments("я" * 66 + "😀" + "я" * 10)
    assert first == "я" * 66 and second.startswith("😀")


def _limits(text: str) -> tuple[int, int]:
    return (160, 153) if is_gsm7(text) else (70, 67)


def _cost(part: str, gsm: bool) -> int:
    return septets(part) if gsm else utf16_units(part)


@given(st.one_of(gsm_text, any_text, astral_heavy))
def test_parts_join_back_and_fit(text: str) -> None:
    parts = split_segments(text)
    gsm = is_gsm7(text)
    single, per_part = _limits(text)
    assert "".join(parts) == text
    assert segment_count(text) == len(parts)
    if len(parts) == 1:
        assert _cost(text, gsm) <= single
    else:
        assert _cost(text, gsm) > single
        assert all(0 < _cost(part, gsm) <= per_part for part in parts)


@given(st.one_of(gsm_text, astral_heavy))
def test_parts_are_filled_greedily(text: str) -> None:
    parts = split_segments(text)
    gsm = is_gsm7(text)
    _, per_part = _limits(text)
    for part, following in itertools.pairwise(parts):
        assert _cost(part + following[0], gsm) > per_part  # the next character did not fit


@given(st.text(alphabet="abcdefghij @", max_size=1000))
def test_basic_only_count_is_the_textbook_formula(text: str) -> None:
    expected = 1 if len(text) <= 160 else math.ceil(len(text) / 153)
    assert segment_count(text) == expected


@given(st.text(alphabet="абвгдежзий", max_size=600))
def test_bmp_ucs2_count_is_the_textbook_formula(text: str) -> None:
    expected = 1 if len(text) <= 70 else math.ceil(len(text) / 67)
    assert segment_count(text) == expected


@given(any_text)
def test_utf16_units_match_the_codec(text: str) -> None:
    assert utf16_units(text) == len(text.encode("utf-16-be")) // 2


@given(gsm_text)
def test_septets_match_gsm0338_codec(text: str) -> None:
    assert septets(text) == len(text.encode("gsm03.38"))
