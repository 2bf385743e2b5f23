"""Streamed upload parsing: CSV and GeoJSON, chunk borders anywhere, every refusal names its line or feature."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from lbs.errors import InvalidArgument, PayloadTooLarge
from lbs.pois.parse import Counter, PoiRow, RowError, parse_csv, parse_geojson

HEADER = "id,name,category,lat,lon,address,phone,opening_hours\n"


async def chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def rows_of(data: bytes, kind: str, size: int = 7, max_rows: int = 1000) -> list[PoiRow | RowError]:
    parse = parse_csv if kind == "csv" else parse_geojson
    return [r async for r in parse(chunks(data, size), Counter(10**7, max_rows), 9)]


def feature(i: int, lon: float = 4.35, lat: float = 50.85, category: str = "PHARMACY") -> dict[str, object]:
    return {
        "type": "Feature",
        "id": f"f{i}",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {"name": f"Pharmacie {i} é€", "category": category, "address": "Rue Neuve 1"},
    }


def collection(features: list[dict[str, object]]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "name": "x", "features": features}, ensure_ascii=False).encode()


@pytest.mark.parametrize("size", [1, 5, 64, 100_000])
async def test_csv_rows_any_chunking(size: int) -> None:
    data = HEADER + 'p1,"Pharmacie, Louise",pharmacy,50.83,4.36,"Av. Louise 1",+3221,\r\np2,ATM ING,ATM,50.84,4.35,,,\n'
    rows = await rows_of(data.encode(), "csv", size)
    assert [r.external_id for r in rows if isinstance(r, PoiRow)] == ["p1", "p2"]
    first = rows[0]
    assert isinstance(first, PoiRow) and first.name == "Pharmacie, Louise" and first.category == "PHARMACY"
    assert first.h3 > 0


async def test_csv_errors_name_their_line() -> None:
    data = HEADER + "a,A,PHARMACY,95,4.3,,,\nb,B,SPACESHIP,50,4.3,,,\nc,,ATM,50,4.3,,,\nd,D,ATM,50,x,,,\ne,E,ATM\n"
    rows = await rows_of(data.encode(), "csv")
    errors = [(r.where, r.reason) for r in rows if isinstance(r, RowError)]
    assert errors[0] == ("line 2", "lat 95 is out of range (-90 to 90)")
    assert errors[1] == ("line 3", "unknown category 'SPACESHIP'")
    assert errors[2] == ("line 4", "name is missing")
    assert errors[3][0] == "line 5" and "lon must be a number" in errors[3][1]
    assert errors[4] == ("line 6", "3 fields, the header has 8")


async def test_csv_bad_encoding_and_bom() -> None:
    data = "\ufeff".encode() + HEADER.encode() + b"a,Caf\xe9,CAFE,50,4,,,\nb,Ok,CAFE,50,4,,,\n"
    rows = await rows_of(data, "csv")
    assert isinstance(rows[0], RowError) and rows[0].where == "line 2" and "not UTF-8" in rows[0].reason
    assert isinstance(rows[1], PoiRow)


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "empty upload"), (b"name,lat\n", "CSV header lacks id, category, lon"), (b"\xff\xfe,\n", "not UTF-8")],
)
async def test_csv_refused_whole(data: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        await rows_of(data, "csv")


async def test_csv_row_limit() -> None:
    data = HEADER + "a,A,ATM,50,4,,,\n" * 3
    with pytest.raises(PayloadTooLarge):
        await rows_of(data.encode(), "csv", max_rows=2)


@pytest.mark.parametrize("size", [1, 3, 50, 100_000])
async def test_geojson_features_any_chunking(size: int) -> None:
    data = collection([feature(i) for i in range(5)])
    rows = await rows_of(data, "geojson", size)
    assert [r.external_id for r in rows if isinstance(r, PoiRow)] == [f"f{i}" for i in range(5)]
    assert isinstance(rows[0], PoiRow) and rows[0].name == "Pharmacie 0 é€" and rows[0].lon == 4.35


async def test_geojson_feature_errors() -> None:
    bad_geom = {**feature(1), "geometry": {"type": "Polygon", "coordinates": []}}
    rows = await rows_of(collection([feature(0), bad_geom, feature(2, lat=-91), {"type": "X"}]), "geojson")
    errors = [(r.where, r.reason) for r in rows if isinstance(r, RowError)]
    assert errors == [
        ("feature 2", "geometry must be a Point"),
        ("feature 3", "lat -91 is out of range (-90 to 90)"),
        ("feature 4", "not a GeoJSON Feature"),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"type": "FeatureCollection", "features": [{"type": "Feature", "id": 1,, }]}', "broken GeoJSON"),
        (b'{"type": "Topology", "features": []}', "not a GeoJSON FeatureCollection"),
        (b'{"type": "FeatureCollection"}', 'no "features" array'),
        (b'{"type": "FeatureCollection", "features": [', "not closed"),
        (b"", 'no "features" array'),
    ],
)
async def test_geojson_refused_whole(data: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        await rows_of(data, "geojson", 4)
