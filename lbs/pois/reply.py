"""The SMS replies of active queries in EN/FR/NL, composed to fit one GSM-7 SMS where possible (pure).

Fitting: the list is written at decreasing levels of detail (phone, full address, short address, short name,
no direction) and the first level that fits one SMS (160 septets) wins; only when even the shortest does not fit
is the most detailed level that fits two parts used; the reply is never longer than two parts (places are
dropped from the end as a last resort). Everything is deterministic: the same places give the same text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from lbs.messaging.gsm import GSM7_BASIC, segment_count
from lbs.pois.categories import category
from lbs.pois.geo import bearing_deg, compass, walking_distance
from lbs.pois.store import Hit

MAX_PARTS: Final = 2
LEVELS: Final = 5

TEXTS: Final = {
    "en": {
        "header": "Nearest {cat}:",
        "header_area": "{Cat} near {area}:",
        "header_coarse": "{Cat} near you:",
        "none_within": "No {cat} within {radius}. The nearest: {name}, {dist} {dir}.",
        "none": "Sorry, we know no {cat} yet.",
        "sorry": "Sorry, we could not locate you right now. Please try again later. You were not charged.",
        "paused": "Your location is paused: we did not locate you. Send LOC LIST to see your settings.",
        "unavailable": "Sorry, this service is not available right now. You were not charged.",
    },
    "fr": {
        "header": "{Cat} les plus proches:",
        "header_area": "{Cat} pres de {area}:",
        "header_coarse": "{Cat} pres de vous:",
        "none_within": "Aucun(e) {cat} a moins de {radius}. Le plus proche: {name}, {dist} {dir}.",
        "none": "Desole, nous ne connaissons pas encore de {cat}.",
        "sorry": "Desole, nous ne pouvons pas vous localiser pour le moment. Reessayez plus tard. Rien n'est facture.",
        "paused": "Votre localisation est suspendue: nous ne vous avons pas localise. Envoyez LOC LIST.",
        "unavailable": "Desole, ce service n'est pas disponible pour le moment. Rien n'est facture.",
    },
    "nl": {
        "header": "Dichtstbijzijnde {cat}:",
        "header_area": "{Cat} bij {area}:",
        "header_coarse": "{Cat} bij u in de buurt:",
        "none_within": "Geen {cat} binnen {radius}. De dichtstbijzijnde: {name}, {dist} {dir}.",
        "none": "Sorry, we kennen nog geen {cat}.",
        "sorry": "Sorry, we kunnen u nu niet lokaliseren. Probeer later opnieuw. Er werd niets aangerekend.",
        "paused": "Uw lokalisatie is gepauzeerd: we hebben u niet gelokaliseerd. Stuur LOC LIST.",
        "unavailable": "Sorry, deze dienst is nu niet beschikbaar. Er werd niets aangerekend.",
    },
}

# Deterministic street abbreviations (FR/NL), applied from the short-address level on.
ABBREVIATIONS: Final = (
    ("Avenue ", "Av. "), ("Boulevard ", "Bd "), ("Chaussee ", "Chee "), ("Chaussée ", "Chée "), ("Place ", "Pl. "),
    ("Rue ", "R. "), ("steenweg", "stwg"), ("straat", "str"), ("laan", "ln"), ("plein", "pl"),
)  # fmt: skip


@dataclass(frozen=True)
class Origin:
    """Where distances are measured from; ``coarse`` with the area name when the position is a cell centre."""

    lat: float
    lon: float
    coarse: bool = False
    area: str | None = None


def gsm7(text: str) -> str:
    """``text`` in the GSM-7 basic alphabet: accents outside it dropped (``ê`` -> ``e``), other symbols ``?``."""
    out = []
    for char in text:
        if char in GSM7_BASIC:
            out.append(char)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        out.append(base if base and all(c in GSM7_BASIC for c in base) else "?")
    return "".join(out)


def message(language: str, key: str, **values: str) -> str:
    """A fixed message (``sorry``, ``paused``, ...) in ``language`` (English when unknown)."""
    return gsm7(TEXTS.get(language, TEXTS["en"])[key].format(**values))


def short_address(address: str) -> str:
    """The street part of an address, abbreviated: ``Avenue Louise 12, Bruxelles`` -> ``Av. Louise 12``."""
    street = address.split(",")[0].strip()
    for long, short in ABBREVIATIONS:
        street = street.replace(long, short)
    return street


def _item(n: int, hit: Hit, origin: Origin, language: str, level: int) -> str:
    poi = hit.poi
    where = f"{walking_distance(hit.distance_m)}"
    if level < 4 and hit.distance_m >= 10:
        where += " " + compass(bearing_deg(origin.lat, origin.lon, poi.lat, poi.lon), language)
    if level == 0:
        details = ", ".join(x for x in (poi.name, poi.address, poi.phone) if x)
    elif level == 1:
        details = ", ".join(x for x in (poi.name, poi.address) if x)
    elif level == 2:
        details = ", ".join(x for x in (poi.name, short_address(poi.address)) if x)
    else:
        details = poi.name[: 22 if level == 3 else 14].rstrip()
    return f"{n}) {details} {where}"


def header(language: str, code: str, origin: Origin) -> str:
    """The first line: ``Nearest pharmacies:`` or, for a coarse position, ``Pharmacies near Ixelles:``."""
    name = category(code).names.get(language, category(code).names["en"])
    texts = TEXTS.get(language, TEXTS["en"])
    key = "header" if not origin.coarse else "header_area" if origin.area else "header_coarse"
    return texts[key].format(cat=name, Cat=name[:1].upper() + name[1:], area=origin.area or "")


def compose(language: str, code: str, hits: Sequence[Hit], origin: Origin) -> str:
    """The reply listing ``hits`` (nearest first): one SMS where possible, never more than :data:`MAX_PARTS`."""
    head = gsm7(header(language, code, origin))
    hits = list(hits)
    while True:
        texts = [gsm7("\n".join([head, *(_item(i + 1, h, origin, language, lv) for i, h in enumerate(hits))]))
                 for lv in range(LEVELS)]  # fmt: skip
        for text in texts:
            if segment_count(text) == 1:
                return text
        for text in texts:
            if segment_count(text) <= MAX_PARTS:
                return text
        if len(hits) <= 1:
            return texts[-1][: 153 * MAX_PARTS]
        hits = hits[:-1]


def none_within(language: str, code: str, radius_m: float, nearest: Hit | None, origin: Origin) -> str:
    """No place within the radius: say so, and name the nearest one found when there is one."""
    name = category(code).names.get(language, category(code).names["en"])
    if nearest is None:
        return message(language, "none", cat=name)
    direction = compass(bearing_deg(origin.lat, origin.lon, nearest.poi.lat, nearest.poi.lon), language)
    text = message(language, "none_within", cat=name, radius=walking_distance(radius_m), name=nearest.poi.name,
                   dist=walking_distance(nearest.distance_m), dir=direction)  # fmt: skip
    return text if segment_count(text) <= MAX_PARTS else text[: 153 * MAX_PARTS]
