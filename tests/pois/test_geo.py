"""Pure geometry: distance rounding, compass directions, chord conversions."""

from __future__ import annotations

import pytest

from lbs.pois.geo import bearing_deg, chord_to_metres, compass, distance_m, metres_to_chord, walking_distance


@pytest.mark.parametrize(
    ("metres", "text"),
    [(3, "10 m"), (44, "40 m"), (99, "100 m"), (349, "350 m"), (960, "950 m"), (980, "1.0 km"), (1234, "1.2 km"),
     (9_940, "9.9 km"), (9_960, "10 km"), (12_345, "12 km")],
)  # fmt: skip
def test_walking_distance(metres: float, text: str) -> None:
    assert walking_distance(metres) == text


@pytest.mark.parametrize(
    ("lat", "lon", "en", "fr", "nl"),
    [(51.0, 4.0, "N", "N", "N"), (50.0, 4.0, "S", "S", "Z"), (50.5, 5.0, "E", "E", "O"), (50.5, 3.0, "W", "O", "W"),
     (50.6, 4.15, "NE", "NE", "NO"), (50.4, 3.85, "SW", "SO", "ZW")],
)  # fmt: skip
def test_compass_in_three_languages(lat: float, lon: float, en: str, fr: str, nl: str) -> None:
    b = bearing_deg(50.5, 4.0, lat, lon)
    assert (compass(b, "en"), compass(b, "fr"), compass(b, "nl")) == (en, fr, nl)


def test_chord_round_trip_and_distance() -> None:
    for m in (1.0, 350.0, 5_000.0, 250_000.0):
        assert chord_to_metres(metres_to_chord(m)) == pytest.approx(m, rel=1e-9)
    # Brussels Grand-Place to Antwerp Central: about 41 km.
    assert distance_m(50.8467, 4.3525, 51.2172, 4.4211) == pytest.approx(41_500, rel=0.02)
