"""Named areas for coarse positions ("near Ixelles"): the 19 Brussels municipalities and the main Belgian cities,
with their French and Dutch names (pure data; English uses the French name, except Brussels)."""

from __future__ import annotations

from typing import Final

from lbs.pois.geo import distance_m

# (lat, lon, French name, Dutch name); centres rounded to about 100 m.
AREAS: Final = (
    (50.8467, 4.3525, "Bruxelles", "Brussel"),
    (50.8333, 4.3072, "Anderlecht", "Anderlecht"),
    (50.8156, 4.4331, "Auderghem", "Oudergem"),
    (50.8644, 4.2947, "Berchem-Sainte-Agathe", "Sint-Agatha-Berchem"),
    (50.8361, 4.3861, "Etterbeek", "Etterbeek"),
    (50.8700, 4.4017, "Evere", "Evere"),
    (50.8103, 4.3178, "Forest", "Vorst"),
    (50.8711, 4.3086, "Ganshoren", "Ganshoren"),
    (50.8275, 4.3697, "Ixelles", "Elsene"),
    (50.8775, 4.3275, "Jette", "Jette"),
    (50.8625, 4.3253, "Koekelberg", "Koekelberg"),
    (50.8550, 4.3231, "Molenbeek", "Molenbeek"),
    (50.8267, 4.3456, "Saint-Gilles", "Sint-Gillis"),
    (50.8539, 4.3736, "Saint-Josse", "Sint-Joost"),
    (50.8676, 4.3737, "Schaerbeek", "Schaarbeek"),
    (50.8019, 4.3375, "Uccle", "Ukkel"),
    (50.7994, 4.4153, "Watermael-Boitsfort", "Watermaal-Bosvoorde"),
    (50.8431, 4.4275, "Woluwe-Saint-Lambert", "Sint-Lambrechts-Woluwe"),
    (50.8292, 4.4319, "Woluwe-Saint-Pierre", "Sint-Pieters-Woluwe"),
    (51.2194, 4.4025, "Anvers", "Antwerpen"),
    (51.0543, 3.7174, "Gand", "Gent"),
    (50.6326, 5.5797, "Liege", "Luik"),
    (50.4108, 4.4446, "Charleroi", "Charleroi"),
    (50.4674, 4.8720, "Namur", "Namen"),
    (50.8798, 4.7005, "Louvain", "Leuven"),
    (51.2093, 3.2247, "Bruges", "Brugge"),
    (50.4542, 3.9567, "Mons", "Bergen"),
)
# Beyond this, the nearest named area says nothing useful about where the subscriber is.
MAX_AREA_DISTANCE_M: Final = 15_000.0
_ENGLISH: Final = {"Bruxelles": "Brussels", "Anvers": "Antwerp", "Gand": "Ghent", "Louvain": "Leuven"}


def area_name(lat: float, lon: float, language: str) -> str | None:
    """The name of the nearest area within :data:`MAX_AREA_DISTANCE_M` in ``language``, or None."""
    best = min(AREAS, key=lambda a: distance_m(lat, lon, a[0], a[1]))
    if distance_m(lat, lon, best[0], best[1]) > MAX_AREA_DISTANCE_M:
        return None
    if language == "nl":
        return best[3]
    return _ENGLISH.get(best[2], best[2]) if language == "en" else best[2]
