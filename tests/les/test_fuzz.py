"""Mutated MLP documents never crash the request reader: they parse, or they are an MLP fault."""

from __future__ import annotations

import contextlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lbs.mlp.wire import WireError, parse_answer
from lbs.mlp.xmlsafe import XmlRejected, parse_xml
from les_simulator.les.protocol import MlpFault, read_request

FIXTURES = Path(__file__).parent / "fixtures"
REQUESTS = [p.read_bytes() for p in sorted(FIXTURES.glob("*_req*.xml"))]
ANSWERS = [p.read_bytes() for p in sorted(FIXTURES.glob("*_ans*.xml")) + sorted(FIXTURES.glob("*_rep.xml"))]
PIECES = [b"<", b">", b"</msid>", b"<msid>", b'"', b"&", b"<!ENTITY a 'b'>", b"99999999999999999999", b"-1", b"\xff",
          b"<interval>xx</interval>", b"<hor_acc>1e999</hor_acc>", b"<radius>nan</radius>", b"N", b"]]>"]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, docs: list[bytes]) -> bytes:
    doc = draw(st.sampled_from(docs))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(doc)))
        j = draw(st.integers(i, min(len(doc), i + 40)))
        piece = draw(st.one_of(st.sampled_from(PIECES), st.binary(max_size=12)))
        doc = doc[:i] + piece + doc[j:]
    return doc


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(mutated(REQUESTS))
def test_mutated_requests_are_read_or_refused(doc: bytes) -> None:
    with contextlib.suppress(XmlRejected, MlpFault):
        read_request(parse_xml(doc), max_msids=1000)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(mutated(ANSWERS))
def test_mutated_answers_are_read_or_refused(doc: bytes) -> None:
    with contextlib.suppress(WireError):
        parse_answer(doc, coarse_from_m=1000, max_bytes=65_536)
