"""Hostile and broken MLP input: always an MLP error answer, never a crash, never a hang."""

from __future__ import annotations

import asyncio
import time

import pytest

from lbs.mlp.xmlsafe import XmlRejected, parse_xml
from tests.les.conftest import GRANTED, Les

HDR = "<hdr><client><id>demo</id><pwd>demo</pwd></client></hdr>"


def slir(
    body: str = f'<msids><msid type="MSISDN">{GRANTED}</msid></msids>', *, ver: str = "3.5.0", hdr: str = HDR
) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><svc_init ver="{ver}">{hdr}<slir ver="{ver}">{body}</slir></svc_init>'
    )


XXE = (
    '<?xml version="1.0"?><!DOCTYPE svc_init [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    f'<svc_init ver="3.5.0">{HDR}<slir><msids><msid>&xxe;</msid></msids></slir></svc_init>'
)
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10))
    + ']><svc_init ver="3.5.0"><hdr>&lol9;</hdr></svc_init>'
)
DEEP = "<svc_init>" + "<hdr>" * 200 + "</hdr>" * 200 + "</svc_init>"


def result_of(text: str) -> tuple[str, str]:
    root = parse_xml(text.encode())
    service = root[0]
    res = service.find("result")
    assert res is not None, text
    return service.tag, res.get("resid", "")


@pytest.mark.parametrize(
    ("name", "body", "expected"),
    [
        ("xxe", XXE, ("gem", "105")),
        ("billion laughs", LAUGHS, ("gem", "105")),
        ("truncated", slir()[:-30], ("gem", "105")),
        ("not utf-8", slir().replace(GRANTED, "\u00e9").encode("latin-1"), ("gem", "105")),
        ("declared latin-1", slir().replace("UTF-8", "ISO-8859-1"), ("gem", "105")),
        ("empty", "", ("gem", "105")),
        ("not xml", "hello", ("gem", "105")),
        ("too deep", DEEP, ("gem", "105")),
        ("too large", slir("<msids>" + "<msid>32470000001</msid>" * 4000 + "</msids>"), ("gem", "105")),
        ("wrong root", '<svc_result ver="3.5.0"/>', ("gem", "106")),
        ("no service", f'<svc_init ver="3.5.0">{HDR}</svc_init>', ("gem", "106")),
        ("unknown service", f'<svc_init ver="3.5.0">{HDR}<frobnicate/></svc_init>', ("gem", "107")),
        ("unknown element", slir(f"<msids><msid>{GRANTED}</msid></msids><colour>red</colour>"), ("slia", "107")),
        ("unsupported version", slir(ver="4.0.0"), ("gem", "103")),
        ("hostile version", slir(ver="3.5.0&quot;&gt;&lt;x"), ("gem", "103")),
        ("no msid", slir("<msids/>"), ("slia", "106")),
        ("no hdr", '<svc_init ver="3.5.0"><slir><msids><msid>1</msid></msids></slir></svc_init>', ("slia", "106")),
        (
            "bad hor_acc",
            slir(f"<msids><msid>{GRANTED}</msid></msids><eqop><hor_acc>near</hor_acc></eqop>"),
            ("slia", "110"),
        ),
        ("bad loc_type", slir(f'<msids><msid>{GRANTED}</msid></msids><loc_type type="SOON"/>'), ("slia", "111")),
        (
            "bad res_type",
            slir(f"<msids><msid>{GRANTED}</msid></msids>").replace("<slir ", '<slir res_type="X" '),
            ("slia", "111"),
        ),
        (
            "not wgs84",
            slir(
                f"<msids><msid>{GRANTED}</msid></msids><geo_info><CoordinateReferenceSystem><Identifier><code>31370"
                "</code><codeSpace>EPSG</codeSpace><edition>1</edition></Identifier></CoordinateReferenceSystem>"
                "</geo_info>"
            ),
            ("slia", "112"),
        ),
        ("wrong password", slir(hdr="<hdr><client><id>demo</id><pwd>nope</pwd></client></hdr>"), ("slia", "3")),
        ("unknown client", slir(hdr="<hdr><client><id>eve</id><pwd>demo</pwd></client></hdr>"), ("slia", "3")),
        (
            "bad range",
            slir(
                "<msids><msid_range><start_msid><msid>9</msid></start_msid><stop_msid><msid>1</msid>"
                "</stop_msid></msid_range></msids>"
            ),
            ("slia", "110"),
        ),
    ],
)
async def test_bad_input_gets_an_mlp_error(les: Les, name: str, body: str | bytes, expected: tuple[str, str]) -> None:
    status, text = await les.post_xml(body)
    assert status == 200
    assert result_of(text) == expected


async def test_too_many_position_items(les: Les) -> None:
    rng = "<msids><msid_range><start_msid><msid>32470000000</msid></start_msid><stop_msid><msid>32479999999</msid>"
    rng += "</stop_msid></msid_range></msids>"
    _, text = await les.post_xml(slir(rng))
    assert result_of(text) == ("slia", "104")


async def test_external_dtd_is_never_fetched(les: Les) -> None:
    hits: list[bytes] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hits.append(await reader.read(100))
        writer.close()

    trap = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = trap.sockets[0].getsockname()[1]
    doc = slir().replace("?>", f'?><!DOCTYPE svc_init SYSTEM "http://127.0.0.1:{port}/MLP_SVC_INIT_350.DTD">', 1)
    try:
        _, text = await les.post_xml(doc)
    finally:
        trap.close()
        await trap.wait_closed()
    assert parse_xml(text.encode())[0].find("pos/pd") is not None
    assert hits == []


async def test_server_keeps_serving_others_during_an_attack(les: Les) -> None:
    started = time.perf_counter()
    attacks = [les.post_xml(LAUGHS) for _ in range(20)] + [les.post_xml(XXE) for _ in range(20)]
    good = les.post_xml(slir())
    *_, (status, text) = await asyncio.gather(*attacks, good)
    assert status == 200 and parse_xml(text.encode())[0].find("pos/pd") is not None
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("doc", [XXE, LAUGHS, DEEP, "<a>", "<?xml version='1.0' encoding='UTF-16'?><a/>"])
def test_parser_rejects(doc: str) -> None:
    with pytest.raises(XmlRejected):
        parse_xml(doc.encode())


def test_parser_size_cap() -> None:
    with pytest.raises(XmlRejected, match="larger"):
        parse_xml(b"<a>" + b" " * 100 + b"</a>", max_bytes=50)


AREA = (
    '<tlrr><msids><msid>32470000001</msid></msids><tlrr_event><change_area type="MS_ENTERING" loc_estimates="TRUE">'
    "<target_area><shape>{shape}</shape></target_area></change_area></tlrr_event>"
    "<pushaddr><url>http://127.0.0.1:1/push</url></pushaddr></tlrr>"
)


@pytest.mark.parametrize(
    "shape",
    [
        "<CircularArea><coord><X>50N</X><Y>4E</Y></coord><radius>nan</radius></CircularArea>",
        "<CircularArea><coord><X>50N</X><Y>4E</Y></coord><radius>0</radius></CircularArea>",
        "<CircularArea><coord><X>95N</X><Y>4E</Y></coord><radius>10</radius></CircularArea>",
        "<Polygon><outerBoundaryIs><LinearRing><coord><X>50N</X><Y>4E</Y></coord><coord><X>51N</X><Y>4E</Y></coord>"
        "</LinearRing></outerBoundaryIs></Polygon>",
    ],
)
async def test_bad_target_areas(les: Les, shape: str) -> None:
    doc = f'<svc_init ver="3.5.0">{HDR}{AREA.format(shape=shape)}</svc_init>'
    _, text = await les.post_xml(doc)
    assert result_of(text) == ("tlra", "110")


async def test_non_finite_numbers_are_invalid(les: Les) -> None:
    _, text = await les.post_xml(slir(f"<msids><msid>{GRANTED}</msid></msids><eqop><hor_acc>inf</hor_acc></eqop>"))
    assert result_of(text) == ("slia", "110")
