"""Standard location immediate requests over real HTTP: client -> emulator -> client."""

from __future__ import annotations

import pytest

from lbs.mlp import Position, PositioningNotAllowed, Qos, ResultCode, UnknownSubscriber
from lbs.mlp.xmlsafe import parse_xml
from tests.les.conftest import COARSE, DENIED, GRANTED, Les, Platform


def in_brussels(pos: Position, les: Les) -> bool:
    min_lon, min_lat, max_lon, max_lat = les.settings.les_bbox
    margin = 0.05
    return min_lat - margin <= pos.lat <= max_lat + margin and min_lon - margin <= pos.lon <= max_lon + margin


async def test_self_location_is_allowed_and_returns_a_position(les: Les, platform: Platform) -> None:
    pos = await platform.client.locate_self(DENIED)
    assert in_brussels(pos, les)
    assert pos.timestamp.tzinfo is not None
    assert pos.method in {"CELL", "E-CID", "A-GNSS"}
    assert 100 <= pos.accuracy_m <= 300  # default method: enhanced cell-ID
    assert pos.precision == "exact"


async def test_located_position_is_near_the_true_position(les: Les, platform: Platform) -> None:
    async with les.http.put(les.sim(f"/sim/subscribers/{GRANTED}/position"), json={"lat": 50.85, "lon": 4.35}) as r:
        assert r.status == 200
    pos = await platform.client.locate(GRANTED, qos=Qos(hor_acc_m=50))
    assert pos.method == "A-GNSS"
    assert pos.accuracy_m <= 50
    assert abs(pos.lat - 50.85) < 0.001 and abs(pos.lon - 4.35) < 0.001


async def test_privacy_refusal_gives_positioning_not_allowed(platform: Platform) -> None:
    with pytest.raises(PositioningNotAllowed) as info:
        await platform.client.locate(DENIED)
    assert info.value.result_code == ResultCode.POSITIONING_NOT_ALLOWED


async def test_coarse_grant_returns_h3_cell_centre(les: Les, platform: Platform) -> None:
    pos = await platform.client.locate(COARSE)
    assert pos.precision == "coarse"
    assert pos.accuracy_m >= 1000


async def test_unknown_subscriber(platform: Platform) -> None:
    with pytest.raises(UnknownSubscriber):
        await platform.client.locate("+32471999999", requestor="+32471999999")


async def test_every_result_is_emitted_as_an_event(platform: Platform) -> None:
    await platform.client.locate(GRANTED)
    with pytest.raises(PositioningNotAllowed):
        await platform.client.locate(DENIED)
    events = platform.events.drain()
    assert [(e.msisdn, e.result, e.ok) for e in events] == [
        (GRANTED, ResultCode.OK, True),
        (DENIED, ResultCode.POSITIONING_NOT_ALLOWED, False),
    ]


@pytest.mark.parametrize("ver", ["3.0.0", "3.1.0", "3.2.0", "3.3.0", "3.4.0", "3.5.0"])
@pytest.mark.parametrize("path", ["/mlp", "/"])
async def test_answers_in_the_version_asked_on_both_paths(les: Les, ver: str, path: str) -> None:
    doc = (
        f'<svc_init ver="{ver}"><hdr ver="{ver}"><client><id>demo</id><pwd>demo</pwd></client></hdr>'
        f'<slir ver="{ver}"><msids><msid>32470000001</msid></msids></slir></svc_init>'
    )
    status, text = await les.post_xml(doc, path)
    root = parse_xml(text.encode())
    assert (status, root.get("ver"), root[0].tag, root[0].get("ver")) == (200, ver, "slia", ver)
    assert root.find("slia/pos/pd/shape/CircularArea/radius") is not None
    assert (root.find("slia/pos/pd/pos_method") is not None) == (ver >= "3.2.0")
