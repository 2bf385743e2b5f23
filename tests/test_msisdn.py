from __future__ import annotations

import pytest

from lbs.errors import InvalidArgument
from lbs.msisdn import is_short_code, to_e164


@pytest.mark.parametrize(
    ("raw", "e164"),
    [("+32470000001", "+32470000001"), ("32470000001", "+32470000001"), ("0470 00 00 01", "+32470000001")],
)
def test_to_e164(raw: str, e164: str) -> None:
    assert to_e164(raw) == e164


@pytest.mark.parametrize("raw", ["", "abc", "+1", "+32 1", "+32 470", "+999470000001"])
def test_invalid_numbers_refused(raw: str) -> None:
    with pytest.raises(InvalidArgument):
        to_e164(raw)


def test_short_codes() -> None:
    assert is_short_code("3311") and is_short_code("36123")
    assert not is_short_code("12") and not is_short_code("+32470000001")
