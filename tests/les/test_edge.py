"""The LES emulator at the network edge (issue 19): whole bodies however they arrive, self-location only for the
platform's own self-location client, and its own XML guard."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lbs.mlp import PositioningNotAllowed, Qos
from lbs.mlp.wire import Credentials, build_slir
from lbs.settings import Settings
from les_simulator.les.privacy import PrivacyDecision, PrivacyQuery
from les_simulator.les.service import Ask, LocationService
from les_simulator.les.xmlsafe import parse_xml
from les_simulator.settings import LesSettings
from tests.les.conftest import DENIED, GRANTED, Les, Platform
from tests.security.pieces import post_in_pieces

DEMO = Credentials("demo", "demo")


def slir_for(numbers: list[str], creds: Credentials = DEMO, requestor: str | None = None) -> bytes:
    return build_slir(creds, [n.lstrip("+") for n in numbers], requestor=requestor, qos=Qos())


def positions(body: bytes) -> list[str]:
    slia = parse_xml(body, max_bytes=len(body))[0]
    assert slia.tag == "slia", body
    return [p.findtext("msid") or "" for p in slia.findall("pos") if p.find("pd") is not None]


async def test_a_request_in_two_halves_half_a_second_apart_is_read_whole(les: Les) -> None:
    doc = slir_for([GRANTED] * 20)
    assert 1_200 < len(doc) < 1_600
    got = await post_in_pieces(les.server.port, "/mlp", doc)  # type: ignore[arg-type]
    assert got.status == 200
    assert positions(got.body) == [GRANTED.lstrip("+")] * 20


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_large_request_in_many_pieces_is_read_whole(les: Les, chunked: bool) -> None:
    doc = slir_for([GRANTED] * 1_000)
    assert 30_000 < len(doc) < les.settings.les_max_body_bytes
    got = await post_in_pieces(les.server.port, "/mlp", doc, pieces=10, pause_s=0.02, chunked=chunked)  # type: ignore[arg-type]
    assert got.status == 200
    assert len(positions(got.body)) == 1_000


async def test_a_request_over_the_limit_in_pieces_is_a_format_error(les: Les) -> None:
    doc = slir_for([GRANTED] * 3_000)
    assert len(doc) > les.settings.les_max_body_bytes
    got = await post_in_pieces(les.server.port, "/mlp", doc, pieces=8, pause_s=0.02, chunked=True)  # type: ignore[arg-type]
    gem = parse_xml(got.body)[0]
    assert (gem.tag, gem.find("result").get("resid")) == ("gem", "105")  # type: ignore[union-attr]
    assert "larger than" in (gem.findtext("add_info") or "")


async def test_an_application_naming_the_target_as_requestor_gets_no_position(platform: Platform) -> None:
    """The attack of issue 19: the default login and requestor = target. No grant, so no position."""
    with pytest.raises(PositioningNotAllowed):
        await platform.client.locate(DENIED, requestor=DENIED)
    with pytest.raises(PositioningNotAllowed):
        await platform.client.locate(DENIED, requestor="32470000003")  # any spelling of the same number


async def test_only_the_platforms_self_location_client_may_claim_it(platform: Platform) -> None:
    pos = await platform.client.locate_self(DENIED)
    assert pos.precision == "exact"
    granted = await platform.client.locate(GRANTED, requestor=GRANTED)  # an ordinary client: its grant decides
    assert granted.precision == "exact"


async def test_the_self_location_client_gets_no_exemption_for_someone_else(les: Les, platform: Platform) -> None:
    platform_settings = Settings()
    creds = Credentials(platform_settings.mlp_self_client_id, platform_settings.mlp_self_client_pwd)
    status, text = await les.post_xml(slir_for([DENIED], creds, requestor=GRANTED.lstrip("+")))
    pos = parse_xml(text.encode())[0].find("pos")
    assert status == 200 and pos is not None
    assert pos.find("poserr/result").get("resid") == "202"  # type: ignore[union-attr]


class Spy:
    """A privacy checker that records what it is asked and denies."""

    def __init__(self) -> None:
        self.asked: list[PrivacyQuery] = []

    async def check(self, query: PrivacyQuery) -> PrivacyDecision:
        self.asked.append(query)
        return PrivacyDecision(False, reason="no_grant")


async def test_an_unverified_claim_of_self_is_never_passed_to_the_privacy_checker(les: Les) -> None:
    """The platform's /v1/privacy/check reads a requestor equal to the target as self-location: the LES must not
    hand it one that a client merely wrote."""
    spy = Spy()
    service = LocationService(les.settings, *_parts(les), spy)  # type: ignore[arg-type]
    header_demo = _header("demo", requestor=DENIED)
    header_third = _header("demo", requestor="32470000099")
    await service.locate(_target(DENIED), Ask(header_demo))
    await service.locate(_target(DENIED), Ask(header_third))
    assert [q.requestor for q in spy.asked] == [None, "32470000099"]


def _parts(les: Les) -> tuple[object, object, object]:
    from les_simulator.les.keys import CLOCK_KEY, POPULATION_KEY, STATE_KEY

    app = les.server.app
    assert app is not None
    return app[POPULATION_KEY], app[STATE_KEY], app[CLOCK_KEY]


def _header(client: str, requestor: str | None):  # type: ignore[no-untyped-def]
    from les_simulator.les.protocol import Header

    return Header(client, "x", None, requestor, None)


def _target(msisdn: str):  # type: ignore[no-untyped-def]
    from les_simulator.les.protocol import Target

    return Target(msisdn.lstrip("+"))


def test_the_self_location_client_is_one_setting_away_from_any_other() -> None:
    platform, les = Settings(), LesSettings()
    assert platform.mlp_self_client_id in les.les_self_location_clients
    assert platform.mlp_client_id not in les.les_self_location_clients


def test_the_les_parses_with_its_own_xml_guard_not_the_platforms() -> None:
    root = Path(__file__).resolve().parents[2] / "les_simulator"
    imported = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
    assert "lbs.mlp.xmlsafe" not in imported
    assert "les_simulator.les.xmlsafe" in imported


async def test_the_les_answers_a_utf16_dtd_with_a_format_error(les: Les) -> None:
    doc = slir_for([GRANTED]).decode().replace('<?xml version="1.0" encoding="UTF-8"?>', "")
    doc = doc.replace('<!DOCTYPE svc_init SYSTEM "MLP_SVC_INIT_350.DTD">', '<!DOCTYPE svc_init [<!ENTITY x "y">]>')
    status, text = await les.post_xml(doc.encode("utf-16-le"))
    gem = parse_xml(text.encode())[0]
    assert (status, gem.tag, gem.find("result").get("resid")) == (200, "gem", "105")  # type: ignore[union-attr]
