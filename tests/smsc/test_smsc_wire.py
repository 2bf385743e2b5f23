"""Bad input on the wire: unknown commands, broken lengths, undecodable bodies, and a fuzzed decoder."""

from __future__ import annotations

import contextlib
import io
import struct

import pytest
from aiosmpplib import SmppCommandStatus as S
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from smpp.pdu.pdu_encoding import PDUEncoder

from les_simulator.smsc import SmscEmulator
from les_simulator.smsc.datasm import as_submit_sm
from les_simulator.smsc.multi import parse_submit_multi
from les_simulator.smsc.wire import MalformedPdu, RawHeader, concat_of, decode_sm, scan_sm
from tests.smsc.conftest import (
    EsmeFactory,
    RawClient,
    RawFactory,
    bind_pdu,
    header,
    parse_header,
    submit_sm_pdu,
    tlv,
)
from tests.smsc.test_smsc_flow import mt

GENERIC_NACK = 0x80000000
ENQUIRE_LINK = 0x15


async def next_answer(client: RawClient) -> tuple[int, int, int, int]:
    """The next PDU that is not a deliver_sm (receipts of earlier submits may come first: answer them)."""
    while (answer := parse_header(await client.read_pdu()))[1] == 0x05:
        await client.send(header(0x80000005, answer[3], b"\x00"))
    return answer


async def assert_alive(client: RawClient, sequence: int = 99) -> None:
    """enquire_link gets its response."""
    await client.send(header(ENQUIRE_LINK, sequence))
    assert (await next_answer(client))[1:] == (0x80000015, 0, sequence)


async def test_unknown_command_id_is_nacked_and_the_connection_lives(bound_raw: RawClient) -> None:
    await bound_raw.send(header(0x00000777, 42, b"junk"))
    assert parse_header(await bound_raw.read_pdu()) == (16, GENERIC_NACK, S.ESME_RINVCMDID, 42)
    await assert_alive(bound_raw)


@pytest.mark.parametrize("command_id", [0x03, 0x07, 0x08, 0x0B, 0x102, 0x05])
async def test_unsupported_commands_are_nacked(bound_raw: RawClient, command_id: int) -> None:
    """query_sm, replace_sm, cancel_sm, outbind, alert_notification, and deliver_sm from an ESME."""
    await bound_raw.send(header(command_id, 7, b"\x00" * 20))
    assert parse_header(await bound_raw.read_pdu()) == (16, GENERIC_NACK, S.ESME_RINVCMDID, 7)
    await assert_alive(bound_raw)


@pytest.mark.parametrize("length", [0, 8, 15, 1_000_000, 0xFFFFFFFF])
async def test_bad_command_length_closes_only_that_connection(
    smsc: SmscEmulator, esme: EsmeFactory, raw: RawFactory, length: int
) -> None:
    client, hook = await esme()
    bad = await raw()
    await bad.send(struct.pack("!IIII", length, 0x04, 0, 5))
    assert parse_header(await bad.read_pdu()) == (16, GENERIC_NACK, S.ESME_RINVCMDLEN, 5)
    assert await bad.closed()
    await client.broker.enqueue(mt("still here"))
    await hook.wait(lambda: len(hook.receipts()) == 1)
    assert [m.text for m in smsc.handsets.inbox("+32470000001")] == ["still here"]


@pytest.mark.parametrize(
    ("pdu", "status"),
    [
        (header(0x04, 3, b"\x00\x03\x003311"), S.ESME_RINVCMDLEN),  # source_addr never terminated
        (header(0x04, 3, submit_sm_pdu(b"hi")[16:-1]), S.ESME_RINVCMDLEN),  # sm_length says 2, 1 octet left
        (submit_sm_pdu(b"hi", sequence=3, tlvs=tlv(0x0424, b"ab")), S.ESME_RINVMSGLEN),  # payload + sm
        (submit_sm_pdu(b"", sequence=3, tlvs=b"\x02\x04\x00\x09ab"), S.ESME_RINVCMDLEN),  # TLV overruns
        (submit_sm_pdu(b"", sequence=3), S.ESME_RINVMSGLEN),  # empty message
        (submit_sm_pdu(b"\x00h\x00", sequence=3, data_coding=8), S.ESME_RINVMSGLEN),  # odd UCS-2
        (submit_sm_pdu(b"\x80\x81", sequence=3), S.ESME_RINVMSGLEN),  # not GSM-7 septets
        (submit_sm_pdu(b"hi", sequence=3, data_coding=0x0B), S.ESME_RSUBMITFAIL),  # reserved data_coding
        (submit_sm_pdu(b"\x05\x00\x03", sequence=3, esm_class=0x40), S.ESME_RINVESMCLASS),  # UDH overruns
        (submit_sm_pdu(b"\x05\x00\x03\x01\x02\x03hi", sequence=3, esm_class=0x40), S.ESME_RINVESMCLASS),  # seq 3/2
    ],
)
async def test_undecodable_submit_sm_is_nacked(smsc: SmscEmulator, bound_raw: RawClient, pdu: bytes, status: S) -> None:
    await bound_raw.send(pdu)
    assert parse_header(await bound_raw.read_pdu()) == (16, GENERIC_NACK, status, 3)
    await assert_alive(bound_raw)
    assert smsc.pdus[-2].error


async def test_requests_before_bind(raw: RawFactory) -> None:
    client = await raw()
    await client.send(submit_sm_pdu(b"hi", sequence=4))
    assert parse_header(await client.read_pdu())[1:] == (0x80000004, S.ESME_RINVBNDSTS, 4)
    await assert_alive(client)  # enquire_link is allowed in any state


async def test_crlf_and_short_header_then_eof_is_harmless(smsc: SmscEmulator, raw: RawFactory) -> None:
    client = await raw()
    await client.send(b"GET / HTTP/1.1\r\n")  # 16 octets: a header claiming 0x47455420 octets
    assert parse_header(await client.read_pdu())[1:3] == (GENERIC_NACK, S.ESME_RINVCMDLEN)
    assert await client.closed()
    partial = await raw()
    await partial.send(b"\x00\x00\x00")
    partial.writer.write_eof()
    assert await partial.closed()
    assert smsc.health()["status"] == "ok"


def test_our_pdus_cross_decode_with_smpp_pdu3() -> None:
    """Independent check of the hand-built test PDUs: smpp.pdu3 reads them as we meant them."""
    decoded = PDUEncoder().decode(io.BytesIO(submit_sm_pdu("héllo".encode("utf-16-be"), data_coding=8)))
    assert decoded.params["destination_addr"] == b"32470000001"
    assert decoded.params["short_message"].decode("utf-16-be") == "héllo"


# --- fuzzing ----------------------------------------------------------------------------------------------------
KNOWN = [0x01, 0x02, 0x04, 0x06, 0x09, 0x15, 0x21, 0x103, 0x80000005, 0x80000000]
bodies = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda a, b: a + b, st.just(submit_sm_pdu(b"hello")[16:]), st.binary(max_size=40)),
    st.builds(lambda cut: submit_sm_pdu(b"hello", tlvs=tlv(0x0424, b"abc"))[16:cut], st.integers(0, 60)),
)


@settings(max_examples=300, deadline=None)
@given(command_id=st.sampled_from(KNOWN), body=bodies)
def test_decoders_raise_only_malformed_pdu(command_id: int, body: bytes) -> None:
    pdu = header(command_id, 1, body)
    raw = RawHeader.unpack(pdu)
    with contextlib.suppress(MalformedPdu):
        scan = scan_sm(pdu)
        concat_of(scan)
        decode_sm(pdu, raw.pdu_header(raw.command() or 0x04), scan)
    with contextlib.suppress(MalformedPdu):
        parse_submit_multi(pdu, raw.pdu_header(raw.command() or 0x21))
    with contextlib.suppress(MalformedPdu):
        rebuilt_header, rebuilt = as_submit_sm(pdu, raw.pdu_header(0x103))
        decode_sm(rebuilt, rebuilt_header, scan_sm(rebuilt))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command_id=st.sampled_from([*KNOWN, 0x12345678]), body=bodies)
async def test_fuzzed_pdus_over_a_socket(smsc: SmscEmulator, raw: RawFactory, command_id: int, body: bytes) -> None:
    """Every request gets exactly one answer (or, for unbind, an answer and a close); responses get none."""
    client = await raw()
    await client.send(bind_pdu() + header(command_id, 2, body))
    await client.read_pdu()  # bind_resp
    if not command_id & 0x80000000:
        _, answered, _, sequence = await next_answer(client)
        assert sequence == 2 and answered in (command_id | 0x80000000, GENERIC_NACK)
    if command_id == 0x06:
        assert await client.closed()
    else:
        await assert_alive(client)
    client.close()
    assert not [r.error for r in smsc.pdus if (r.error or "").startswith("internal")]


async def test_server_serves_after_fuzzing(smsc: SmscEmulator, raw: RawFactory, esme: EsmeFactory) -> None:
    for body in (b"\xff" * 50, submit_sm_pdu(b"hi")[16:-2], b""):
        client = await raw()
        await client.send(bind_pdu() + header(0x04, 2, body))
        await client.read_pdu()
        client.close()
    esme_client, hook = await esme()
    await esme_client.broker.enqueue(mt("after fuzz"))
    await hook.wait(lambda: len(hook.receipts()) == 1)
