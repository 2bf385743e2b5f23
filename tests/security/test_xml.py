"""The XML guard (issue 19): no DTD content, no entity, whatever the encoding, in the platform's parser and in the
LES emulator's own copy; the bare DOCTYPE line of the MLP spec examples still parses."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from types import ModuleType

import aiohttp
import pytest

from lbs.mlp import xmlsafe as platform_guard
from lbs.mlp.reqids import RedisOpenRequests
from les_simulator.les import xmlsafe as les_guard
from tests.security.conftest import Platform
from tests.security.pieces import basic, now, pos, tlrep

GUARDS = [pytest.param(platform_guard, id="platform"), pytest.param(les_guard, id="les")]
ENTITY = '<!DOCTYPE svc_result [<!ENTITY x "expanded">]><svc_result ver="3.5.0">&x;</svc_result>'
EXTERNAL = '<!DOCTYPE svc_result [<!ENTITY x SYSTEM "file:///etc/hostname">]><svc_result>&x;</svc_result>'
ATTLIST = (  # no entity at all: an attribute default the document never wrote
    '<!DOCTYPE svc_result [<!ATTLIST trl_pos trl_trigger CDATA "MS_AVAIL">]>'
    '<svc_result ver="3.5.0"><tlrep><trl_pos/></tlrep></svc_result>'
)
SPEC_LINE = '<?xml version="1.0"?><!DOCTYPE svc_result SYSTEM "MLP_SVC_RESULT_350.DTD"><svc_result ver="3.5.0"/>'
ENCODINGS = ["utf-16-le", "utf-16-be", "utf-16", "utf-8"]  # the first two carry no byte-order mark


def test_the_utf16_document_is_dangerous_without_the_guard() -> None:
    doc = ENTITY.encode("utf-16-le")
    assert b"<!ENTITY" not in doc  # what the old byte scan looked for
    assert ET.fromstring(doc).text == "expanded"


@pytest.mark.parametrize("guard", GUARDS)
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("doc", [ENTITY, EXTERNAL, ATTLIST], ids=["entity", "external", "attlist"])
def test_the_dtd_guard_refuses_dtd_content_in_any_encoding(guard: ModuleType, encoding: str, doc: str) -> None:
    body = doc.encode(encoding)
    with pytest.raises(guard.XmlRejected) as info:
        guard.guard_dtd(body)
    assert "forbidden XML construct" in info.value.reason
    with pytest.raises(guard.XmlRejected):
        guard.parse_xml(body)


@pytest.mark.parametrize("guard", GUARDS)
def test_the_spec_doctype_line_is_tolerated_and_never_fetched(guard: ModuleType) -> None:
    assert guard.parse_xml(SPEC_LINE.encode()).tag == "svc_result"


@pytest.mark.parametrize("guard", GUARDS)
def test_nul_bytes_are_not_utf8_mlp(guard: ModuleType) -> None:
    with pytest.raises(guard.XmlRejected):
        guard.parse_xml('<svc_result ver="3.5.0"/>'.encode("utf-16-le"))


async def test_the_push_listener_refuses_a_utf16_dtd(platform: Platform) -> None:
    opened = RedisOpenRequests(platform.redis)
    await opened.expect("r1", ttl_s=60)
    await opened.opened("30001", "r1")
    good = tlrep("30001", [pos("32470000100", now())]).decode()
    doc = good.replace('<?xml version="1.0" encoding="UTF-8"?>', '<!DOCTYPE svc_result [<!ENTITY x "1">]>')
    url = f"http://127.0.0.1:{platform.settings.mlp_push_port}/mlp/push?ref=r1"
    headers = basic(platform.settings.mlp_push_user, platform.settings.mlp_push_pwd)
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=doc.encode("utf-16-be"), headers=headers) as resp:
            assert resp.status == 400
        assert await platform.stream() == 0, await platform.redis.xrange(platform.settings.geofence_stream)
        async with http.post(url, data=good.encode(), headers=headers) as resp:
            assert resp.status == 200  # the same document in UTF-8 without the DTD is taken
    assert await platform.stream() == 1
