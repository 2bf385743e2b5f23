"""Deterministic demo POIs in Brussels (nothing downloaded) and their idempotent loader.

``generate(count, seed, bbox)`` always gives the same POIs for the same arguments: ids ``demo-00001``...,
names and addresses from small Brussels word lists, points uniform in the city box. Loading upserts them for
CITYGUIDE and routes the POI keywords of the default short code to it, so running it twice changes nothing.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterable
from typing import Final

import h3

from lbs.db import Conn
from lbs.pois.categories import CATEGORIES
from lbs.pois.loader import ImportReport, import_rows
from lbs.pois.parse import PoiRow, RowError
from lbs.pois.store import app_by_name
from lbs.settings import Settings

# Share of the demo POIs per category (the rest of the 20 categories share what is left evenly).
WEIGHTS: Final = {"PHARMACY": 0.16, "ATM": 0.16, "HOTEL": 0.12, "PETROL": 0.08}
STREETS: Final = (
    "Rue Neuve", "Avenue Louise", "Chaussee d'Ixelles", "Boulevard Anspach", "Rue de la Loi", "Rue Haute",
    "Avenue de Tervueren", "Chaussee de Waterloo", "Rue du Midi", "Place Flagey", "Nieuwstraat", "Vlaamsesteenweg",
    "Dansaertstraat", "Boulevard du Jardin Botanique", "Rue Royale", "Avenue Brugmann", "Chaussee de Gand",
    "Rue Belliard", "Avenue de la Couronne", "Rue Antoine Dansaert", "Boulevard Lambermont", "Rue Marie-Christine",
)  # fmt: skip
QUARTERS: Final = (
    "Sablon", "Louise", "Flagey", "Midi", "Bourse", "Chatelain", "Schuman", "Dansaert", "Marolles", "Botanique",
    "Montgomery", "Heysel", "Stockel", "Uccle", "Parvis", "Matonge", "Cinquantenaire", "Madou", "Jette", "Etterbeek",
)  # fmt: skip
BRANDS: Final = {
    "PHARMACY": ("Pharmacie", "Apotheek", "Multipharma", "Pharmacie du"),
    "ATM": ("ATM BNP", "ATM KBC", "ATM Belfius", "ATM ING"),
    "HOTEL": ("Hotel", "Hotel Le", "Grand Hotel", "Hotel des"),
    "PETROL": ("TotalEnergies", "Q8", "Shell", "Esso"),
}


def _category(rng: random.Random, codes: list[str]) -> str:
    roll, acc = rng.random(), 0.0
    for code, weight in WEIGHTS.items():
        acc += weight
        if roll < acc:
            return code
    return rng.choice(codes)


def _name(rng: random.Random, category: str) -> str:
    brand = rng.choice(BRANDS.get(category, (category.title(),)))
    return f"{brand} {rng.choice(QUARTERS)}"


def generate(count: int, seed: int, bbox: tuple[float, float, float, float], h3_res: int = 9) -> list[PoiRow]:
    """``count`` POIs uniform in ``bbox`` (min_lon, min_lat, max_lon, max_lat), the same for the same seed."""
    rng = random.Random(seed)
    others = [c for c in CATEGORIES if c not in WEIGHTS]
    rows = []
    for i in range(1, count + 1):
        category = _category(rng, others)
        lat = round(rng.uniform(bbox[1], bbox[3]), 6)
        lon = round(rng.uniform(bbox[0], bbox[2]), 6)
        address = f"{rng.choice(STREETS)} {rng.randint(1, 250)}, Bruxelles"
        phone = f"+322{rng.randint(1_000_000, 9_999_999)}"
        rows.append(PoiRow(f"demo-{i:05d}", category, _name(rng, category), lat, lon, address, phone,
                           "Mo-Sa 09:00-19:00", h3.api.basic_int.latlng_to_cell(lat, lon, h3_res)))  # fmt: skip
    return rows


async def as_stream(rows: Iterable[PoiRow]) -> AsyncIterator[PoiRow | RowError]:
    """``rows`` as the async stream :func:`import_rows` reads."""
    for row in rows:
        yield row


async def load_demo_pois(conn: Conn, settings: Settings) -> ImportReport:
    """Upsert the demo POIs for ``settings.pois_application`` and route the default short code's POI keywords
    to it. Idempotent. The application and the short code must exist (``api.demo_data.load`` makes them)."""
    application = await app_by_name(conn, settings.pois_application)
    rows = generate(settings.pois_demo_count, settings.pois_demo_seed, settings.les_bbox, settings.pois_h3_res)
    report = await import_rows(conn, application.id, as_stream(rows), replace=False)
    await conn.execute(
        "INSERT INTO poi_short_codes (short_code, application_id) SELECT code, $2 FROM short_codes WHERE code = $1"
        " ON CONFLICT (short_code) DO NOTHING",
        settings.short_code,
        application.id,
    )
    return report
