"""Reply composition (pure): one GSM-7 SMS where possible, never more than two parts, three languages."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbs.messaging.gsm import is_gsm7, segment_count
from lbs.pois.reply import Origin, compose, gsm7, message, none_within, short_address
from lbs.pois.store import Hit, Poi

ORIGIN = Origin(50.8466, 4.3528)


def hit(name: str, lat: float, lon: float, metres: float, address: str = "Avenue Louise 120, Bruxelles") -> Hit:
    return Hit(Poi(1, "x", "PHARMACY", name, lat, lon, address, "+3225551234"), metres)


HITS = [hit("Pharmacie Louise", 50.8493, 4.3528, 300), hit("Pharmacie du Sablon", 50.8466, 4.3628, 700),
        hit("Apotheek Centrum", 50.8358, 4.3528, 1200)]  # fmt: skip


@pytest.mark.parametrize(
    ("language", "first"),
    [("en", "Nearest pharmacies:"), ("fr", "Pharmacies les plus proches:"), ("nl", "Dichtstbijzijnde apotheken:")],
)
def test_one_sms_in_each_language(language: str, first: str) -> None:
    text = compose(language, "PHARMACY", HITS, ORIGIN)
    lines = text.split("\n")
    assert lines[0] == first and segment_count(text) == 1 and is_gsm7(text)
    assert lines[1].startswith("1) Pharmacie Louise") and lines[1].endswith("300 m N")
    assert lines[2].endswith("700 m " + {"en": "E", "fr": "E", "nl": "O"}[language])
    assert lines[3].endswith("1.2 km " + {"en": "S", "fr": "S", "nl": "Z"}[language])


def test_coarse_says_near_the_area() -> None:
    text = compose("fr", "PHARMACY", HITS[:1], Origin(50.8275, 4.3697, coarse=True, area="Ixelles"))
    assert text.startswith("Pharmacies pres de Ixelles:")
    assert compose("nl", "ATM", HITS[:1], Origin(50.0, 4.0, coarse=True)).startswith("Geldautomaten bij u")


def test_abbreviates_before_splitting_and_never_more_than_two_parts() -> None:
    long = [hit(f"Pharmacie de la Grande Place numero {i}", 50.85, 4.35, 100 * i, "Chaussée de Waterloo 1200, Uccle")
            for i in range(1, 4)]  # fmt: skip
    text = compose("en", "PHARMACY", long, ORIGIN)
    assert segment_count(text) == 1
    many = [hit(f"Pharmacie de la Grande Place numero {i}", 50.85, 4.35, 100 * i) for i in range(1, 40)]
    assert segment_count(compose("en", "PHARMACY", many, ORIGIN)) <= 2


def test_short_address_is_deterministic() -> None:
    assert short_address("Avenue Louise 12, Bruxelles") == "Av. Louise 12"
    assert short_address("Vlaamsesteenweg 3, Brussel") == "Vlaamsestwg 3"


def test_none_within_names_the_nearest() -> None:
    text = none_within("en", "PETROL", 5000, hit("Q8 Midi", 50.70, 4.3528, 16_000), ORIGIN)
    assert text == "No petrol stations within 5.0 km. The nearest: Q8 Midi, 16 km S."
    assert none_within("nl", "PETROL", 5000, None, ORIGIN) == "Sorry, we kennen nog geen tankstations."


def test_fixed_messages_are_gsm7() -> None:
    for language in ("en", "fr", "nl", "de"):
        for key in ("sorry", "paused", "unavailable"):
            assert is_gsm7(message(language, key)) and segment_count(message(language, key)) == 1


@settings(max_examples=200, deadline=None)
@given(
    names=st.lists(st.text(min_size=1, max_size=80), min_size=1, max_size=10),
    language=st.sampled_from(["en", "fr", "nl"]),
)
def test_any_names_fit_two_gsm7_parts(names: list[str], language: str) -> None:
    hits = [hit(n, 50.85, 4.35, 100.0 * (i + 1), address=n) for i, n in enumerate(names)]
    text = compose(language, "HOTEL", hits, ORIGIN)
    assert is_gsm7(text) and segment_count(text) <= 2
    assert text == compose(language, "HOTEL", hits, ORIGIN)
    assert gsm7(text) == text
