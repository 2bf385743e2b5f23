"""Keyword routing: first word, case- and accent-insensitive, aliases per language."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lbs.messaging.router import Command, KeywordRouter, Mo, normalise


def mo(text: str) -> Mo:
    return Mo(source="+32470000001", destination="3311", text=text, received_at=datetime.now(UTC))


async def echo(m: Mo, c: Command) -> str:
    return f"{c.keyword}/{c.language}/{' '.join(c.args)}"


@pytest.fixture
def router() -> KeywordRouter:
    r = KeywordRouter(service_name="TEST")
    r.add("PHARMACY", echo, aliases={"PHARMACIE": "fr", "APOTHEEK": "nl"})
    r.add("STOP", echo, aliases={"ARRÊT": "fr"})
    return r


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PHARMACY", "PHARMACY/en/"),
        ("  pharmacie  ", "PHARMACY/fr/"),
        ("Apotheek nu", "PHARMACY/nl/NU"),
        ("arret promocity", "STOP/fr/PROMOCITY"),
        ("ARRÊT", "STOP/fr/"),
    ],
)
async def test_dispatch(router: KeywordRouter, text: str, expected: str) -> None:
    assert await router.dispatch(mo(text)) == (expected.split("/")[0], expected)


@pytest.mark.parametrize("text", ["", "   ", "HELLO", "PHARMACYX"])
async def test_unknown_gets_help(router: KeywordRouter, text: str) -> None:
    keyword, reply = await router.dispatch(mo(text))
    assert keyword == "UNKNOWN"
    assert reply is not None and "PHARMACY" in reply and "STOP" in reply


def test_duplicate_keyword_refused(router: KeywordRouter) -> None:
    with pytest.raises(ValueError, match="already"):
        router.add("pharmacy", echo)


def test_normalise() -> None:
    assert normalise("Où") == "OU"
    assert normalise("café") == "CAFE"
