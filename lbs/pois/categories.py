"""POI categories and the SMS words for them in English, French and Dutch (pure data, no I/O).

A category code is what the store and the REST API use (``PHARMACY``); its words are what a subscriber texts.
The first English word is the router keyword; the others are aliases tagged with their language. A word that is
the same in several languages (``HOTEL``, ``ATM``, ``TAXI``) is tagged ``None``: the reply then uses the
subscriber's stored language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

LANGUAGES: Final = ("en", "fr", "nl")
CODE_PATTERN: Final = re.compile(r"^[A-Z][A-Z0-9_]{1,31}$")


@dataclass(frozen=True)
class Category:
    """One category: its code, its words per language, and its name in replies."""

    code: str
    words: dict[str, tuple[str, ...]]  # language -> words a subscriber may text (upper case, no accents)
    names: dict[str, str]  # language -> plural name in replies ("pharmacies", "apotheken")


def _c(code: str, en: str, fr: str, nl: str, words: dict[str, tuple[str, ...]]) -> Category:
    return Category(code, words, {"en": en, "fr": fr, "nl": nl})


CATEGORIES: Final[dict[str, Category]] = {
    c.code: c
    for c in (
        _c("PHARMACY", "pharmacies", "pharmacies", "apotheken",
           {"en": ("PHARMACY", "CHEMIST"), "fr": ("PHARMACIE",), "nl": ("APOTHEEK",)}),
        _c("ATM", "cash machines", "distributeurs", "geldautomaten",
           {"en": ("ATM", "CASH"), "fr": ("DISTRIBUTEUR", "BANCONTACT"), "nl": ("GELDAUTOMAAT", "BANKAUTOMAAT")}),
        _c("HOTEL", "hotels", "hotels", "hotels", {"en": ("HOTEL",), "fr": (), "nl": ()}),
        _c("PETROL", "petrol stations", "stations-service", "tankstations",
           {"en": ("PETROL", "FUEL", "GAS"), "fr": ("ESSENCE", "CARBURANT"), "nl": ("TANKSTATION", "BENZINE")}),
        _c("HOSPITAL", "hospitals", "hopitaux", "ziekenhuizen",
           {"en": ("HOSPITAL",), "fr": ("HOPITAL",), "nl": ("ZIEKENHUIS",)}),
        _c("DOCTOR", "doctors", "medecins", "dokters", {"en": ("DOCTOR",), "fr": ("MEDECIN",), "nl": ("DOKTER",)}),
        _c("DENTIST", "dentists", "dentistes", "tandartsen",
           {"en": ("DENTIST",), "fr": ("DENTISTE",), "nl": ("TANDARTS",)}),
        _c("POLICE", "police stations", "commissariats", "politiekantoren",
           {"en": ("POLICE",), "fr": ("COMMISSARIAT",), "nl": ("POLITIE",)}),
        _c("RESTAURANT", "restaurants", "restaurants", "restaurants", {"en": ("RESTAURANT",), "fr": (), "nl": ()}),
        _c("CAFE", "cafes", "cafes", "cafes", {"en": ("CAFE", "COFFEE"), "fr": (), "nl": ("KOFFIE",)}),
        _c("BAKERY", "bakeries", "boulangeries", "bakkers",
           {"en": ("BAKERY",), "fr": ("BOULANGERIE",), "nl": ("BAKKER", "BAKKERIJ")}),
        _c("SUPERMARKET", "supermarkets", "supermarches", "supermarkten",
           {"en": ("SUPERMARKET",), "fr": ("SUPERMARCHE",), "nl": ("SUPERMARKT",)}),
        _c("POST", "post offices", "bureaux de poste", "postkantoren",
           {"en": ("POST", "POSTOFFICE"), "fr": ("POSTE",), "nl": ("POSTKANTOOR",)}),
        _c("BANK", "banks", "banques", "banken", {"en": ("BANK",), "fr": ("BANQUE",), "nl": ()}),
        _c("PARKING", "car parks", "parkings", "parkings", {"en": ("PARKING",), "fr": (), "nl": ()}),
        _c("TAXI", "taxi ranks", "stations de taxi", "taxistandplaatsen", {"en": ("TAXI",), "fr": (), "nl": ()}),
        _c("CHARGING", "charging points", "bornes de recharge", "laadpalen",
           {"en": ("CHARGING", "CHARGER"), "fr": ("RECHARGE",), "nl": ("LAADPAAL",)}),
        _c("TOILET", "toilets", "toilettes", "toiletten", {"en": ("TOILET", "WC"), "fr": ("TOILETTES",), "nl": ()}),
        _c("BIKE", "bike stations", "stations velo", "fietsstations",
           {"en": ("BIKE", "VILLO"), "fr": ("VELO",), "nl": ("FIETS",)}),
        _c("MUSEUM", "museums", "musees", "musea", {"en": ("MUSEUM",), "fr": ("MUSEE",), "nl": ()}),
    )
}  # fmt: skip


def category(code: str) -> Category:
    """The category ``code`` (any case); ``KeyError`` when there is none."""
    return CATEGORIES[code.strip().upper()]


def is_category(code: str) -> bool:
    """Whether ``code`` names a known category."""
    return code.strip().upper() in CATEGORIES


def word_table() -> dict[str, tuple[str, str | None]]:
    """Every SMS word -> (category code, language or None when the word is shared by several languages)."""
    table: dict[str, tuple[str, str | None]] = {}
    for cat in CATEGORIES.values():
        for language, words in cat.words.items():
            for word in words:
                table[word] = (cat.code, language)
        for language in LANGUAGES:  # a category whose own words lack a language uses the English ones there
            if not cat.words.get(language):
                for word in cat.words["en"]:
                    if word in table and table[word][1] == "en":
                        table[word] = (cat.code, None)
    return table
