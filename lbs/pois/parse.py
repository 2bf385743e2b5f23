"""Streamed POI upload parsing: CSV and GeoJSON (RFC 7946) in, validated rows or row errors out.

Neither parser holds the whole upload: CSV goes line by line; GeoJSON is cut into one feature at a time with
``json.JSONDecoder.raw_decode`` on a rolling buffer, and only the small rest of the document (``type``, ``bbox``,
foreign members) is kept to check it is a FeatureCollection at the end.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Final

from h3.api.basic_int import latlng_to_cell

from lbs.errors import InvalidArgument, PayloadTooLarge
from lbs.pois.categories import CATEGORIES

CSV_COLUMNS: Final = ("id", "name", "category", "lat", "lon", "address", "phone", "opening_hours")
REQUIRED: Final = ("id", "name", "category", "lat", "lon")
_LIMITS: Final = {"id": 128, "name": 200, "category": 32, "address": 300, "phone": 40, "opening_hours": 200}
# A feature that is still undecodable with this many bytes after the error is broken, not cut by a chunk border.
_BROKEN_AFTER: Final = 64
_MAX_FEATURE_BYTES: Final = 1_048_576
_FEATURES_KEY: Final = re.compile(rb'"features"\s*:\s*\[')
_DECODER: Final = json.JSONDecoder()


@dataclass(frozen=True, slots=True)
class PoiRow:
    """One valid POI of an upload."""

    external_id: str
    category: str
    name: str
    lat: float
    lon: float
    address: str
    phone: str
    opening_hours: str
    h3: int


@dataclass(frozen=True, slots=True)
class RowError:
    """Why one line (CSV) or feature (GeoJSON) of an upload was refused."""

    where: str  # "line 12" or "feature 3"
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"where": self.where, "reason": self.reason}


def _text(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    if value is None:
        return ""
    if type(value) is not str:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{key} must be text")
        value = str(value)
    text = value.strip()
    if len(text) > _LIMITS[key] or not text.isprintable():
        raise ValueError(f"{key} must be printable text of at most {_LIMITS[key]} characters")
    return text


def _coordinate(record: dict[str, Any], key: str, bound: float) -> float:
    raw = record.get(key)
    try:
        if isinstance(raw, bool):
            raise TypeError
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a number, got {raw!r}") from None
    if not -bound <= value <= bound:  # also refuses NaN; inf is beyond any bound
        raise ValueError(f"{key} {raw} is out of range (-{bound:g} to {bound:g})")
    return value


def validate(record: dict[str, Any], where: str, h3_res: int) -> PoiRow | RowError:
    """A :class:`PoiRow` from one upload record (keys of :data:`CSV_COLUMNS`), or the reason it is refused."""
    try:
        external_id, name = _text(record, "id"), _text(record, "name")
        category = _text(record, "category").upper()
        if not external_id or not name or not category:
            raise ValueError(f"{'id' if not external_id else 'name' if not name else 'category'} is missing")
        if category not in CATEGORIES:
            raise ValueError(f"unknown category {record.get('category')!r}")
        lat, lon = _coordinate(record, "lat", 90.0), _coordinate(record, "lon", 180.0)
        return PoiRow(external_id, category, name, lat, lon, _text(record, "address"), _text(record, "phone"),
                      _text(record, "opening_hours"), latlng_to_cell(lat, lon, h3_res))  # fmt: skip
    except ValueError as exc:
        return RowError(where, str(exc))


class Counter:
    """Counts bytes and rows of an upload and refuses it (413) past the limits."""

    def __init__(self, max_bytes: int, max_rows: int) -> None:
        self.max_bytes, self.max_rows = max_bytes, max_rows
        self.bytes = 0
        self.rows = 0

    def add_bytes(self, n: int) -> None:
        self.bytes += n
        if self.bytes > self.max_bytes:
            raise PayloadTooLarge(f"upload larger than {self.max_bytes} bytes")

    def add_row(self) -> None:
        self.rows += 1
        if self.rows > self.max_rows:
            raise PayloadTooLarge(f"upload has more than {self.max_rows} POIs")


async def _lines(chunks: AsyncIterator[bytes], counter: Counter) -> AsyncIterator[bytes]:
    rest = b""
    async for chunk in chunks:
        counter.add_bytes(len(chunk))
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        for part in parts:
            yield part
    if rest:
        yield rest


def _decode_line(raw: bytes, number: int) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _LineError(
            RowError(f"line {number}", f"not UTF-8 (byte {exc.start + 1}: {raw[exc.start]:#04x})")
        ) from None
    if number == 1:
        text = text.removeprefix("\ufeff")
    text = text.rstrip("\r")
    if "\r" in text or "\x00" in text:  # a bare CR (no CSV line ends so) or a NUL (no text column holds one)
        what = "a carriage return inside the line" if "\r" in text else "a NUL character"
        raise _LineError(RowError(f"line {number}", f"{what}; lines end with LF or CRLF"))
    return text


class _LineError(Exception):
    def __init__(self, error: RowError) -> None:
        self.error = error


def _header(text: str) -> list[str]:
    names = [h.strip().lower() for h in next(csv.reader([text]), [])]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise InvalidArgument(f"line 1: CSV header lacks {', '.join(missing)} (columns: {', '.join(CSV_COLUMNS)})")
    return names


async def parse_csv(chunks: AsyncIterator[bytes], counter: Counter, h3_res: int) -> AsyncIterator[PoiRow | RowError]:
    """Rows of a CSV upload: a header naming at least id, name, category, lat, lon; one POI per line."""
    names: list[str] | None = None
    number = 0
    async for raw in _lines(chunks, counter):
        number += 1
        try:
            text = _decode_line(raw, number)
        except _LineError as exc:
            if names is None:
                raise InvalidArgument(f"{exc.error.where}: {exc.error.reason}") from None
            yield exc.error
            continue
        if names is None:
            names = _header(text)
            continue
        if not text.strip():
            continue
        counter.add_row()
        # Without quotes a CSV line is exactly its comma-separated fields: skip the csv module's per-line reader.
        values = text.split(",") if '"' not in text else next(csv.reader([text]), [])
        if len(values) != len(names):
            yield RowError(f"line {number}", f"{len(values)} fields, the header has {len(names)}")
            continue
        yield validate(dict(zip(names, values, strict=True)), f"line {number}", h3_res)
    if names is None:
        raise InvalidArgument("empty upload: no CSV header")


def feature_record(feature: object) -> dict[str, Any]:
    """The upload record of one GeoJSON Feature with a Point geometry; ``ValueError`` when it is not one."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise ValueError("not a GeoJSON Feature")
    geometry = feature.get("geometry")
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        raise ValueError("geometry must be a Point")
    coords = geometry.get("coordinates")
    if not isinstance(coords, list) or len(coords) not in (2, 3):
        raise ValueError("Point coordinates must be [lon, lat]")
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        raise ValueError("properties must be an object")
    record = {key: props.get(key) for key in CSV_COLUMNS}
    record["id"] = feature.get("id", props.get("id"))
    record["lon"], record["lat"] = coords[0], coords[1]
    return record


@dataclass
class _Splitter:
    """Cuts the features array of a FeatureCollection out of a byte stream, one feature at a time."""

    buffer: bytes = b""
    head: bytes = b""  # the document before the features array
    tail: bytes = b""  # the document after it
    state: str = "head"  # head -> features -> tail
    seen: int = 0  # features cut so far

    def feed(self, chunk: bytes, final: bool) -> Iterator[object]:
        self.buffer += chunk
        if self.state == "head":
            match = _FEATURES_KEY.search(self.buffer)
            if match is None:
                if final or len(self.buffer) > _MAX_FEATURE_BYTES:
                    raise InvalidArgument('not a GeoJSON FeatureCollection: no "features" array')
                return
            self.head, self.buffer, self.state = self.buffer[: match.start()], self.buffer[match.end() :], "features"
        if self.state == "features":
            yield from self._features(final)
        if self.state == "tail":
            self.tail += self.buffer
            self.buffer = b""

    def _features(self, final: bool) -> Iterator[object]:
        text = _decode_prefix(self.buffer, final)
        pos = consumed = 0
        while True:
            pos = _skip(text, pos)
            if pos >= len(text):
                break
            if text[pos] == "]":
                self.state, consumed = "tail", pos + 1
                break
            if text[pos] == "," and self.seen:  # the separator after a feature cut at the previous chunk's end
                pos = consumed = pos + 1
                continue
            try:
                value, end = _DECODER.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                if final or len(text) - exc.pos > _BROKEN_AFTER or len(text) - pos > _MAX_FEATURE_BYTES:
                    raise InvalidArgument(f"broken GeoJSON: {exc.msg}", details={"at_char": exc.pos}) from None
                break
            self.seen += 1
            yield value
            pos = _skip(text, end)
            if pos < len(text) and text[pos] == ",":
                pos += 1
            consumed = pos
        self.buffer = self.buffer[len(text[:consumed].encode()) :]

    def finish(self) -> dict[str, Any]:
        if self.state != "tail":
            raise InvalidArgument("broken GeoJSON: the features array is not closed")
        try:
            doc = json.loads(self.head + b'"features": []' + self.tail)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidArgument(f"broken GeoJSON around the features array: {exc}") from None
        if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
            raise InvalidArgument('not a GeoJSON FeatureCollection (type must be "FeatureCollection")')
        return doc


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _decode_prefix(data: bytes, final: bool) -> str:
    """Decode ``data``, leaving out an incomplete UTF-8 sequence at its end (the next chunk completes it)."""
    for cut in range(1 if final else 4):
        try:
            return data[: len(data) - cut].decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(data) - 4:
                raise InvalidArgument(f"GeoJSON is not UTF-8 (byte {exc.start + 1})") from None
    raise InvalidArgument("GeoJSON is not UTF-8")


async def parse_geojson(
    chunks: AsyncIterator[bytes], counter: Counter, h3_res: int
) -> AsyncIterator[PoiRow | RowError]:
    """Rows of a GeoJSON FeatureCollection upload, one per Point feature (numbered from 1)."""
    splitter, number = _Splitter(), 0
    async for chunk in chunks:
        counter.add_bytes(len(chunk))
        for feature in splitter.feed(chunk, final=False):
            number += 1
            counter.add_row()
            yield _feature_row(feature, number, h3_res)
    for feature in splitter.feed(b"", final=True):
        number += 1
        counter.add_row()
        yield _feature_row(feature, number, h3_res)
    splitter.finish()


def _feature_row(feature: object, number: int, h3_res: int) -> PoiRow | RowError:
    try:
        record = feature_record(feature)
    except ValueError as exc:
        return RowError(f"feature {number}", str(exc))
    return validate(record, f"feature {number}", h3_res)
