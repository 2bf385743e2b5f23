"""Binds, enquire_link, unbind, MO delivery (concatenated, windowed, redelivered) and an SMSC restart."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from aiosmpplib import BindMode, SmppCommandStatus, SmppError, SubmitSmResp
from aiosmpplib.retrytimer import SimpleExponentialBackoff
from smpp.pdu.pdu_encoding import PDUEncoder

from les_simulator.settings import SmscSettings
from les_simulator.smsc import SmscEmulator
from tests.smsc.conftest import (
    ClosingEsme,
    EsmeFactory,
    RawClient,
    RawFactory,
    bind_pdu,
    eventually,
    fast_stop,
    header,
    parse_header,
    submit_sm_pdu,
)
from tests.smsc.test_smsc_flow import HANDSET, mt
from tests.smsc.test_smsc_mt import deliver_sm, read_command


@pytest.mark.parametrize(("command_id", "kind"), [(0x01, "receiver"), (0x02, "transmitter"), (0x09, "transceiver")])
async def test_bind_kinds(smsc: SmscEmulator, raw: RawFactory, command_id: int, kind: str) -> None:
    client = await raw()
    await client.send(bind_pdu(command_id=command_id))
    response = await client.read_pdu()
    decoded = PDUEncoder().decode(io.BytesIO(response))
    assert (
        decoded.commandId.name
        == {1: "bind_receiver_resp", 2: "bind_transmitter_resp", 9: "bind_transceiver_resp"}[command_id]
    )
    assert decoded.params["system_id"] == b"LBS-SMSC" and decoded.status.name == "ESME_ROK"
    [session] = smsc.binds()
    assert session.kind == kind
    await client.send(submit_sm_pdu(b"x", sequence=2, registered_delivery=0))
    expected = SmppCommandStatus.ESME_RINVBNDSTS if kind == "receiver" else SmppCommandStatus.ESME_ROK
    assert parse_header(await client.read_pdu())[2] == expected


@pytest.mark.parametrize(("system_id", "password"), [("demo", "wrong"), ("nobody", "demo"), ("", "")])
async def test_wrong_credentials_get_bindfail(smsc: SmscEmulator, system_id: str, password: str) -> None:
    client = ClosingEsme("127.0.0.1", smsc.port, system_id, password, socket_timeout=2.0, log_level="CRITICAL")
    with pytest.raises(SmppError) as failure:
        await client.connect()
    client.close_transport()
    assert failure.value.command_status == SmppCommandStatus.ESME_RBINDFAIL
    assert not smsc.binds()


async def test_second_bind_on_a_session_is_already_bound(bound_raw: RawClient) -> None:
    await bound_raw.send(bind_pdu(sequence=2))
    assert parse_header(await bound_raw.read_pdu())[2:] == (SmppCommandStatus.ESME_RALYBND, 2)


async def test_two_accounts_are_separate(smsc: SmscEmulator, esme: EsmeFactory, control: Any) -> None:
    _, demo = await esme()
    _, other = await esme("other", "secret")
    for short_code in ("3311", "4422", "+3225550100"):
        reply = await control.post("/sim/mo", json={"from": HANDSET, "to": short_code, "text": f"to {short_code}"})
        assert reply.status == 202
    await demo.wait(lambda: len(demo.mos()) == 2)
    await other.wait(lambda: len(other.mos()) == 1)
    assert sorted(m.short_message for m in demo.mos()) == ["to +3225550100", "to 3311"]
    assert other.mos()[0].short_message == "to 4422"
    long_number = next(m for m in demo.mos() if m.short_message == "to +3225550100").destination
    assert (long_number.number, long_number.ton) == ("3225550100", 1)


async def test_enquire_link_and_unbind(smsc: SmscEmulator, bound_raw: RawClient) -> None:
    await bound_raw.send(header(0x15, 8))
    assert parse_header(await bound_raw.read_pdu()) == (16, 0x80000015, 0, 8)
    await bound_raw.send(header(0x06, 9))
    assert parse_header(await bound_raw.read_pdu()) == (16, 0x80000006, 0, 9)
    assert await bound_raw.closed()
    await eventually(lambda: not smsc.binds())


async def test_transmitter_gets_no_mo(smsc: SmscEmulator, esme: EsmeFactory, control: Any) -> None:
    await esme(bind_mode=BindMode.TRANSMITTER)
    reply = await control.post("/sim/mo", json={"from": HANDSET, "to": "3311", "text": "PING"})
    assert reply.status == 503


@pytest.mark.parametrize(
    ("text", "parts"),
    [("LOC " + "x" * 200, 2), ("Где ближайшая аптека? " * 5, 2), ("€" * 81, 2)],
)
async def test_long_mo_is_concatenated_and_reassembled_by_aiosmpplib(
    smsc: SmscEmulator, esme: EsmeFactory, control: Any, text: str, parts: int
) -> None:
    _, hook = await esme()
    body = await (await control.post("/sim/mo", json={"from": HANDSET, "to": "3311", "text": text})).json()
    assert body["segments"] == parts
    await hook.wait(lambda: len(hook.mos()) == 1)
    assert hook.mos()[0].short_message == text
    await eventually(lambda: smsc.mos[body["id"]].status == "delivered")


async def test_mo_with_16bit_reference(smsc: SmscEmulator, bound_raw: RawClient, control: Any) -> None:
    """aiosmpplib 0.7.4 never reassembles these (bug 2); the wire carries a proper 16-bit concat IE."""
    text = "STOP " + "y" * 200
    reply = await control.post("/sim/mo", json={"from": HANDSET, "to": "3311", "text": text, "udh_ref_bits": 16})
    assert reply.status == 202
    received = []
    for _ in range(2):
        pdu = await read_command(bound_raw, 0x05)
        decoded = PDUEncoder().decode(io.BytesIO(pdu))
        assert decoded.params["esm_class"].gsmFeatures  # UDHI
        udh = decoded.params["short_message"][:7]
        assert udh[:3] == bytes([6, 0x08, 4]) and udh[5] == 2
        received.append((udh[6], deliver_sm(pdu).short_message))
    assert "".join(part for _, part in sorted(received)) == text


async def test_mo_window_is_honoured(smsc: SmscEmulator, bound_raw: RawClient) -> None:
    """With nothing answered, the SMSC stops at its window (10) and sends the next one per answer."""
    for n in range(15):
        smsc.send_mo(HANDSET, "3311", f"m{n}")
    sequences = [parse_header(await bound_raw.read_pdu())[3] for _ in range(10)]
    with pytest.raises(TimeoutError):
        await bound_raw.read_pdu(within_s=0.2)
    await bound_raw.send(header(0x80000005, sequences[0], b"\x00"))
    assert parse_header(await bound_raw.read_pdu())[1] == 0x05
    with pytest.raises(TimeoutError):
        await bound_raw.read_pdu(within_s=0.2)


async def test_unanswered_mo_is_redelivered_to_the_next_bind(
    smsc: SmscEmulator, raw: RawFactory, esme: EsmeFactory
) -> None:
    first = await raw()
    await first.send(bind_pdu())
    await first.read_pdu()
    mo = smsc.send_mo(HANDSET, "3311", "WHERE")
    assert parse_header(await first.read_pdu())[1] == 0x05  # taken, never answered
    first.close()
    _, hook = await esme()
    await hook.wait(lambda: len(hook.mos()) == 1)
    assert hook.mos()[0].short_message == "WHERE"
    await eventually(lambda: mo.status == "delivered")


async def test_unanswered_mo_is_resent_after_the_response_timeout(smsc: SmscEmulator, bound_raw: RawClient) -> None:
    smsc.settings.smsc_response_timeout_s = 0.2
    smsc.send_mo(HANDSET, "3311", "again")
    first = await bound_raw.read_pdu()
    second = await bound_raw.read_pdu(within_s=2.0)
    assert first[16:] == second[16:] and parse_header(first)[3] != parse_header(second)[3]


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(SmppCommandStatus.ESME_RX_T_APPN, "delivered"), (SmppCommandStatus.ESME_RX_P_APPN, "failed")],
)
async def test_esme_errors_on_mo(smsc: SmscEmulator, bound_raw: RawClient, status: int, outcome: str) -> None:
    """A temporary error is retried (then answered OK here); a permanent one fails the MO."""
    mo = smsc.send_mo(HANDSET, "3311", "HELP")
    sequence = parse_header(await bound_raw.read_pdu())[3]
    await bound_raw.send(header(0x80000005, sequence, b"\x00", status=status))
    if outcome == "delivered":
        sequence = parse_header(await bound_raw.read_pdu())[3]
        await bound_raw.send(header(0x80000005, sequence, b"\x00"))
    await eventually(lambda: mo.status == outcome)


async def test_smsc_restart_mid_stream(smsc_settings: SmscSettings, esme: EsmeFactory) -> None:
    """Stop the SMSC with binds up and start a new one on the same port: the ESME rebinds and carries on."""
    first = SmscEmulator(smsc_settings)
    port = await first.start(port=0)
    smsc_settings.smsc_port = port
    client = ClosingEsme("127.0.0.1", port, "demo", "demo", socket_timeout=2.0, log_level="CRITICAL")
    client.retry_timer = SimpleExponentialBackoff(min_delay=50, max_increases=1)
    task = asyncio.create_task(client.start())
    try:
        await eventually(lambda: bool(first.binds("demo")))
        await first.stop()
        second = SmscEmulator(smsc_settings)
        await second.start(port=port)
        await eventually(lambda: bool(second.binds("demo")), within_s=8.0)
        await client.broker.enqueue(mt("after restart"))
        await second.handsets.wait_inbox(HANDSET)
        await second.stop()
    finally:
        await fast_stop(client, task)
        client.close_transport()


async def test_submit_response_carries_the_message_id_of_the_inbox(smsc: SmscEmulator, esme: EsmeFactory) -> None:
    client, hook = await esme()
    await client.broker.enqueue(mt("id check"))
    await hook.wait(lambda: bool(hook.of(SubmitSmResp)))
    [message] = await smsc.handsets.wait_inbox(HANDSET)
    assert message.message_ids == (hook.of(SubmitSmResp)[0].message_id,)


async def test_restart_keeps_the_store(smsc: SmscEmulator, esme: EsmeFactory) -> None:
    """An MT accepted before a restart still reaches the handset, and its receipt reaches the rebound ESME."""
    smsc.modes.dlr_delay_s = 0.3
    client, hook = await esme()
    await client.broker.enqueue(mt("before restart"))
    await hook.wait(lambda: bool(hook.of(SubmitSmResp)))
    assert smsc.health()["pending_deliveries"] == 1
    port = smsc.port
    assert await smsc.restart() == port
    await smsc.handsets.wait_inbox(HANDSET)
    await hook.wait(lambda: len(hook.receipts()) == 1, within_s=8.0)
    assert hook.receipts()[0].parse_receipt()["id"] == hook.of(SubmitSmResp)[0].message_id


async def test_restart_over_http_without_store(smsc: SmscEmulator, esme: EsmeFactory, control: Any) -> None:
    """A crash that loses the store: the pending delivery never happens, the ESME rebinds all the same."""
    smsc.modes.dlr_delay_s = 0.3
    client, hook = await esme()
    await client.broker.enqueue(mt("lost in the crash"))
    await hook.wait(lambda: bool(hook.of(SubmitSmResp)))
    reply = await control.post("/sim/restart", json={"down_s": 0.2, "keep_store": False})
    assert (await reply.json()) == {"port": smsc.port, "pending_deliveries": 0}
    await eventually(lambda: bool(smsc.binds("demo")), within_s=8.0)
    await asyncio.sleep(0.4)
    assert not smsc.handsets.inbox(HANDSET) and not hook.receipts()


async def test_smsc_enquire_link_keeps_a_live_bind(smsc: SmscEmulator, esme: EsmeFactory) -> None:
    smsc.settings.smsc_enquire_link_s = 0.15
    await esme()
    await eventually(lambda: sum(r.command == "enquire_link_resp" for r in smsc.pdus) >= 2)
    assert smsc.binds("demo")  # aiosmpplib answered each one


async def test_smsc_enquire_link_drops_a_silent_bind(smsc: SmscEmulator, raw: RawFactory) -> None:
    smsc.settings.smsc_enquire_link_s = 0.15
    client = await raw()
    await client.send(bind_pdu())
    await client.read_pdu()
    assert parse_header(await client.read_pdu())[1] == 0x15  # enquire_link, never answered
    assert await client.closed()
    await eventually(lambda: not smsc.binds())


async def test_generic_nack_from_the_esme_fails_the_mo(smsc: SmscEmulator, bound_raw: RawClient) -> None:
    mo = smsc.send_mo(HANDSET, "3311", "INFO")
    sequence = parse_header(await bound_raw.read_pdu())[3]
    await bound_raw.send(header(0x80000000, sequence, status=SmppCommandStatus.ESME_RINVCMDLEN))
    await eventually(lambda: mo.status == "failed")
    assert mo.errors == ["ESME_RINVCMDLEN"]


async def test_store_on_disk_carries_over_to_a_new_emulator(smsc_settings: SmscSettings, tmp_path: Any) -> None:
    """A graceful stop writes what the SMSC owes; the next emulator on that path delivers it, once."""
    settings = smsc_settings.model_copy(update={"smsc_store_path": str(tmp_path / "smsc.json")})
    first = SmscEmulator(settings)
    port = await first.start(port=0)
    first.modes.dlr_delay_s = 5.0  # still scheduled at the stop
    sender = RawClient(*await asyncio.open_connection("127.0.0.1", port))
    await sender.send(bind_pdu(command_id=0x02) + submit_sm_pdu(b"scheduled", sequence=2))
    await read_command(sender, 0x80000004)
    first.modes.dlr_delay_s = 0.0  # delivered at once; its receipt waits for a receiver bind
    await sender.send(submit_sm_pdu(b"receipted", sequence=3, destination="32470000002"))
    await read_command(sender, 0x80000004)
    await eventually(lambda: first.outbound.waiting() == {"demo": 1})
    await first.stop()
    sender.close()
    assert (tmp_path / "smsc.json").exists()

    second = SmscEmulator(settings)
    await second.start(port=port)
    try:
        assert not (tmp_path / "smsc.json").exists()
        receiver = RawClient(*await asyncio.open_connection("127.0.0.1", port))
        await receiver.send(bind_pdu(command_id=0x01))
        texts = {deliver_sm(await read_command(receiver, 0x05)).short_message.split("Text:")[1] for _ in range(2)}
        assert texts == {"receipted", "scheduled"}
        assert [m.text for m in second.handsets.inbox(HANDSET)] == ["scheduled"]
        receiver.close()
    finally:
        await second.stop()
