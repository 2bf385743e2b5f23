"""Every example document parses, and every example request gets the right answer from the emulator."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lbs.mlp import ResultCode
from lbs.mlp.wire import parse_answer
from lbs.mlp.xmlsafe import parse_xml
from lbs.settings import Settings
from les_simulator.les.clock import VirtualClock
from les_simulator.les.push import basic_auth
from les_simulator.settings import LesSettings
from tests.les.conftest import Les, Platform, eventually, make_les_settings

FIXTURES = Path(__file__).parent / "fixtures"
PUSH_USER, PUSH_PWD = Settings().mlp_push_user, Settings().mlp_push_pwd
OURS = {"461011334411": "32470000020", "461018765710": "32470000010", "461018765712": "32470000012"}
OURS |= {"461018765711": "32470000011"}


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


class EveryRequest:
    """The push receiver's registry in these tests: the test sends the spec's requests to the LES itself, in the
    platform's stead, so the platform's MLP client never records their req_ids."""

    async def accepts(self, req_id: str, ref: str | None) -> bool:
        return True


@pytest.fixture
def platform(platform: Platform) -> Platform:
    platform.receiver.opened = EveryRequest()  # type: ignore[assignment]
    return platform


def localised(name: str, push_url: str) -> str:
    # The spec's pushaddr has only a url; the platform adds the push credentials, so the test does too.
    credentials = f"<id>{PUSH_USER}</id><pwd>{PUSH_PWD}</pwd>"
    text = fixture(name).replace("http://location.application.com/mlp</url>", f"{push_url}</url>{credentials}")
    for theirs, ours in OURS.items():
        text = text.replace(theirs, ours)
    return text


def answer_of(text: str) -> ET.Element:
    root = parse_xml(text.encode())
    assert root.tag == "svc_result"
    return root[0]


def pos_codes(service: ET.Element) -> dict[str, int]:
    out = {}
    for pos in service:
        if pos.tag in ("pos", "trl_pos"):
            res = pos.find("poserr/result")
            out[pos.findtext("msid") or ""] = int(res.get("resid", "-1")) if res is not None else 0
    return out


@pytest.fixture
def les_settings() -> LesSettings:
    grants = [(f"+{n}", "theasp", "exact") for n in OURS.values()]
    return make_les_settings(les_clients={"theasp": "thepwd", "demo": "demo"}, privacy_test_grants=grants)


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.xml")))
def test_every_example_parses(name: str) -> None:
    root = parse_xml((FIXTURES / name).read_bytes())
    assert root.tag in ("svc_init", "svc_result")


async def test_slir_as_written(les: Les) -> None:
    status, text = await les.post_xml(fixture("slir_req_sync.xml"))
    slia = answer_of(text)
    assert (status, slia.tag, slia.get("ver")) == (200, "slia", "3.5.0")
    attr_unsupported = int(ResultCode.PROTOCOL_ELEMENT_ATTRIBUTE_VALUE_NOT_SUPPORTED)
    assert pos_codes(slia) == {
        "93.10.0.250": attr_unsupported,  # IPV4 msid
        "461018765710": 4,
        "461018765711": 4,
        "461018765712": 4,
        "QT5G6H7J8K9L": attr_unsupported,  # encrypted msid
    }


async def test_slir_localised(les: Les) -> None:
    _, text = await les.post_xml(localised("slir_req_sync.xml", "http://127.0.0.1:1/"))
    codes = pos_codes(answer_of(text))
    assert [codes[f"{n}"] for n in ("32470000010", "32470000011", "32470000012")] == [0, 0, 0]


async def test_async_slir_to_a_foreign_push_host_is_refused(les: Les) -> None:
    _, text = await les.post_xml(fixture("slir_req_async.xml"))
    slia = answer_of(text)
    assert slia.find("result").get("resid") == str(int(ResultCode.INVALID_PROTOCOL_ELEMENT_VALUE))  # type: ignore[union-attr]
    async with les.http.get(les.sim("/sim/triggers")) as resp:
        assert (await resp.json())["pushed"] == 0


async def test_async_slir_localised_is_pushed(les: Les, platform: Platform) -> None:
    push = str(platform.server.make_url("/mlp/push"))
    text = localised("slir_req_async.xml", push).replace('type="IMSI">32470000010', 'type="IMSI">206100000000010')
    _, answer = await les.post_xml(text)
    req_id = answer_of(answer).findtext("req_id")
    assert req_id
    await eventually(lambda: len(platform.reports) == 2)
    assert {r.req_id for r in platform.reports} == {req_id}
    assert all(r.position is not None for r in platform.reports)
    assert {r.msid for r in platform.reports} == {"+32470000020", "206100000000010"}  # IMSIs stay IMSIs


@pytest.mark.parametrize("name", ["tlrr_req_periodic.xml", "tlrr_req_ms_avail.xml", "tlrr_req_change_area.xml"])
async def test_tlrr_as_written_is_refused_before_anything_is_sent(les: Les, name: str) -> None:
    _, text = await les.post_xml(fixture(name))
    tlra = answer_of(text)
    assert tlra.tag == "tlra"
    assert tlra.find("result").get("resid") == "110"  # type: ignore[union-attr]
    assert "pushaddr" in (tlra.findtext("add_info") or "")


async def test_tlrr_periodic_localised(les: Les, platform: Platform, clock: VirtualClock) -> None:
    text = localised("tlrr_req_periodic.xml", str(platform.server.make_url("/mlp/push")))
    text = text.replace("20020813010423", "20260303130000").replace("20020813150000", "20260303140000")
    _, answer = await les.post_xml(text)  # 13:00+03:00 is START (10:00 UTC): reports at once, then every minute
    req_id = answer_of(answer).findtext("req_id")
    await eventually(lambda: len(platform.reports) == 4)
    await clock.advance(60)
    await eventually(lambda: len(platform.reports) == 8)
    assert {r.trigger for r in platform.reports} == {"PERIODIC"}
    assert {r.req_id for r in platform.reports} == {req_id}


async def test_tlrr_ms_avail_localised(les: Les, platform: Platform) -> None:
    _, answer = await les.post_xml(localised("tlrr_req_ms_avail.xml", str(platform.server.make_url("/mlp/push"))))
    assert answer_of(answer).findtext("req_id")
    await eventually(lambda: len(platform.reports) == 1)
    assert platform.reports[0].trigger == "MS_AVAIL"
    assert platform.reports[0].msid == "+32470000020"


async def test_tlrr_change_area_localised(les: Les, platform: Platform, clock: VirtualClock) -> None:
    _, answer = await les.post_xml(localised("tlrr_req_change_area.xml", str(platform.server.make_url("/mlp/push"))))
    assert answer_of(answer).findtext("req_id")
    await clock.advance(30)  # first look: outside (in Brussels)
    assert platform.reports == []
    async with les.http.put(les.sim("/sim/subscribers/+32470000020/position"), json={"lat": 30.275, "lon": 45.255}):
        pass
    await clock.advance(30)
    await eventually(lambda: len(platform.reports) == 1)
    assert platform.reports[0].trigger == "CHANGE_AREA"


async def test_tlrsr_for_an_unknown_request(les: Les) -> None:
    _, text = await les.post_xml(fixture("tlrsr_req.xml"))
    tlrsa = answer_of(text)
    assert (tlrsa.tag, tlrsa.find("result").get("resid")) == ("tlrsa", "110")  # type: ignore[union-attr]


async def test_emergency_service_is_not_supported(les: Les) -> None:
    _, text = await les.post_xml(fixture("eme_lir_req.xml"))
    gem = answer_of(text)
    assert (gem.tag, gem.find("result").get("resid")) == ("gem", "108")  # type: ignore[union-attr]


def parsed(name: str):  # type: ignore[no-untyped-def]
    return parse_answer((FIXTURES / name).read_bytes(), coarse_from_m=1000, max_bytes=65_536)


def test_slia_positions_example() -> None:
    answer = parsed("slia_ans_positions.xml")
    first, second, third, fourth = answer.positions
    assert first.position is not None and second.position is not None
    assert first.position.lat == pytest.approx(30 + 16 / 60 + 28.308 / 3600)
    assert first.position.lon == pytest.approx(45 + 15 / 60 + 33.444 / 3600)
    assert first.position.accuracy_m == 240
    assert first.position.timestamp == datetime(2002, 6, 23, 10, 44, 53, tzinfo=UTC)
    assert second.position.accuracy_m == 0
    assert (third.result, third.add_info) == (ResultCode.QOP_NOT_ATTAINABLE, "hor_acc")
    assert fourth.result == ResultCode.ABSENT_SUBSCRIBER


def test_answer_examples() -> None:
    assert parsed("slia_ans_reqid.xml").req_id == "25267"
    assert parsed("slia_ans_error.xml").result == ResultCode.UNKNOWN_SUBSCRIBER
    assert parsed("tlra_ans.xml").req_id == "25293"
    assert parsed("tlrsa_ans.xml").req_id == "25293"
    gem = parsed("gem_ans.xml")
    assert (gem.service, gem.result, gem.add_info) == ("gem", ResultCode.FORMAT_ERROR, "slir")


@pytest.mark.parametrize(("name", "count"), [("slirep_rep.xml", 2), ("tlrep_rep.xml", 2)])
async def test_report_examples_are_received(platform: Platform, les: Les, name: str, count: int) -> None:
    auth = {"Authorization": basic_auth(PUSH_USER, PUSH_PWD)}
    url = platform.server.make_url("/mlp/push")
    async with les.http.post(url, data=(FIXTURES / name).read_bytes(), headers=auth) as resp:
        assert resp.status == 200
    assert len(platform.reports) == count
    assert platform.reports[0].msid == "+461011334411"
    assert platform.reports[1].position is None
