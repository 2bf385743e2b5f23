"""Named failure modes, set through the control API, observed by real ESMEs and raw sockets."""

from __future__ import annotations

import asyncio
import re
import struct
import time
from datetime import timedelta
from typing import Any

from aiosmpplib import SmppCommandStatus, SubmitSmResp

from les_simulator.settings import SmscSettings
from les_simulator.smsc import SmscEmulator
from tests.smsc.conftest import EsmeFactory, RawClient, bind_pdu, eventually, header, submit_sm_pdu
from tests.smsc.test_smsc_flow import HANDSET, mt
from tests.smsc.test_smsc_mt import read_command


async def set_mode(control: Any, **body: Any) -> dict[str, Any]:
    reply = await control.post("/sim/mode", json=body)
    assert reply.status == 200, await reply.text()
    result: dict[str, Any] = await reply.json()
    return result


async def submit_burst(client: RawClient, count: int, registered_delivery: int = 0) -> list[int]:
    """Send ``count`` submit_sm back to back; return their response statuses in sequence order."""
    await client.send(
        b"".join(
            submit_sm_pdu(b"burst", sequence=seq, registered_delivery=registered_delivery)
            for seq in range(1, count + 1)
        )
    )
    statuses: dict[int, int] = {}
    while len(statuses) < count:
        response = await read_command(client, 0x80000004)
        _, _, status, sequence = struct.unpack("!IIII", response[:16])
        statuses[sequence] = status
    return [statuses[seq] for seq in sorted(statuses)]


async def test_happy_by_default(control: Any) -> None:
    modes = await (await control.get("/sim/mode")).json()
    assert modes["active"] == ["happy"]


async def test_slow_delays_every_response(control: Any, bound_raw: RawClient) -> None:
    assert (await set_mode(control, mode="slow", delay_s=0.3))["active"] == ["slow"]
    started = time.monotonic()
    await bound_raw.send(header(0x15, 5))
    await read_command(bound_raw, 0x80000015)
    assert time.monotonic() - started >= 0.3


async def test_throttled_per_bind(control: Any, bound_raw: RawClient) -> None:
    await set_mode(control, mode="throttled", rate=5)
    statuses = await submit_burst(bound_raw, 20)
    assert statuses[:5] == [0] * 5  # the one-second burst
    assert statuses.count(SmppCommandStatus.ESME_RTHROTTLED) >= 12  # refill while the burst is read


async def test_account_rate_from_settings(smsc_settings: SmscSettings, raw: Any) -> None:
    smsc = SmscEmulator(smsc_settings.model_copy(update={"smsc_account_tps": {"demo": 1.0}}))
    await smsc.start(port=0)
    try:
        client = RawClient(*await asyncio.open_connection("127.0.0.1", smsc.port))
        await client.send(bind_pdu())
        await client.read_pdu()
        statuses = await submit_burst(client, 5)
        assert statuses[0] == 0 and statuses.count(SmppCommandStatus.ESME_RTHROTTLED) >= 3
        client.close()
    finally:
        await smsc.stop()


async def test_reject_all(control: Any, bound_raw: RawClient) -> None:
    await set_mode(control, mode="reject_all", status="ESME_RSYSERR")
    assert await submit_burst(bound_raw, 2) == [SmppCommandStatus.ESME_RSYSERR] * 2
    await set_mode(control, mode="reject_all", off=True)
    assert await submit_burst(bound_raw, 1) == [0]


async def test_dlr_delayed(smsc: SmscEmulator, control: Any, esme: EsmeFactory) -> None:
    await set_mode(control, mode="dlr_delayed", delay_s=0.4)
    client, hook = await esme()
    started = time.monotonic()
    await client.broker.enqueue(mt("late"))
    await hook.wait(lambda: bool(hook.of(SubmitSmResp)))
    assert not smsc.handsets.inbox(HANDSET)
    await hook.wait(lambda: len(hook.receipts()) == 1)
    assert time.monotonic() - started >= 0.4


async def test_dlr_fail_ratio(smsc: SmscEmulator, control: Any, esme: EsmeFactory) -> None:
    await set_mode(control, mode="dlr_fail_ratio", ratio=1.0, stat="EXPIRED")
    client, hook = await esme()
    for n in range(3):
        await client.broker.enqueue(mt(f"fail {n}"))
    await hook.wait(lambda: len(hook.receipts()) == 3)
    assert {r.parse_receipt()["stat"] for r in hook.receipts()} == {"EXPIRED"}
    assert not smsc.handsets.inbox(HANDSET)  # never reached the handset


async def test_dlr_fail_ratio_is_a_share(smsc: SmscEmulator, control: Any, bound_raw: RawClient) -> None:
    await set_mode(control, mode="dlr_fail_ratio", ratio=0.5)
    await submit_burst(bound_raw, 40, registered_delivery=1)
    stats: list[str] = []
    while len(stats) < 40:
        pdu = await read_command(bound_raw, 0x05)
        stats.append(pdu.split(b"stat:")[1][:7].decode())
    assert 8 <= stats.count("UNDELIV") <= 32 and stats.count("UNDELIV") + stats.count("DELIVRD") == 40


async def test_drop_connection_after_n(smsc: SmscEmulator, control: Any, esme: EsmeFactory) -> None:
    await set_mode(control, mode="drop_connection_after_n", n=2)
    client, hook = await esme()
    await client.broker.enqueue(mt("one"))
    await client.broker.enqueue(mt("two"))
    await eventually(lambda: len(smsc.handsets.inbox(HANDSET)) == 2)  # the 2nd was accepted...
    assert len(hook.of(SubmitSmResp)) == 1  # ...but its response was never sent
    assert smsc.pdus[-1].error and "dropped" in smsc.pdus[-1].error
    await eventually(lambda: bool(smsc.binds("demo")), within_s=8.0)  # aiosmpplib reconnects


async def test_unbind_mode(smsc: SmscEmulator, control: Any, esme: EsmeFactory) -> None:
    await esme()
    [first] = smsc.binds("demo")
    body = await set_mode(control, mode="unbind")
    assert body["unbound"] == 1 and first.closed
    assert any(r.command == "unbind_resp" for r in smsc.pdus)  # the ESME answered
    await eventually(lambda: bool(smsc.binds("demo")), within_s=8.0)  # and came back


async def test_happy_resets_everything(control: Any) -> None:
    await set_mode(control, mode="slow", delay_s=2)
    await set_mode(control, mode="throttled")
    both = await set_mode(control, mode="dlr_fail_ratio", ratio=0.1)
    assert both["active"] == ["slow", "throttled", "dlr_fail_ratio"]
    assert (await set_mode(control, mode="happy"))["active"] == ["happy"]


async def test_handset_states(smsc: SmscEmulator, control: Any, esme: EsmeFactory) -> None:
    """An absent handset's MT expires at its validity_period; unknown and barred ones fail at once."""
    states = {"+32470000002": "absent", "+32470000003": "unknown", "+32470000004": "barred"}
    for msisdn, state in states.items():
        reply = await control.put(f"/sim/handsets/{msisdn}", json={"state": state})
        assert (await reply.json()) == {"msisdn": msisdn, "state": state, "delivered_now": 0}
    client, hook = await esme()
    for msisdn in states:
        await client.broker.enqueue(mt("state", to=msisdn.lstrip("+"), validity_period=timedelta(seconds=1)))
    await hook.wait(lambda: len(hook.receipts()) == 2)
    assert smsc.health()["deliveries"]["held"] == 1
    await hook.wait(lambda: len(hook.receipts()) == 3)
    by_number = {r.source.number: r.parse_receipt()["stat"] for r in hook.receipts()}
    assert by_number == {"32470000002": "EXPIRED", "32470000003": "UNDELIV", "32470000004": "REJECTD"}
    assert not any(smsc.handsets.inbox(msisdn) for msisdn in states)


async def test_absent_handset_gets_its_mt_when_back_on(smsc: SmscEmulator, control: Any, esme: EsmeFactory) -> None:
    await control.put("/sim/handsets/+32470000002", json={"state": "absent"})
    client, hook = await esme()
    await client.broker.enqueue(mt("while you were away", to="32470000002"))
    await eventually(lambda: smsc.health()["deliveries"]["held"] == 1)
    assert not hook.receipts()
    reply = await control.put("/sim/handsets/+32470000002", json={"state": "on"})
    assert (await reply.json())["delivered_now"] == 1
    assert (await smsc.handsets.wait_inbox("+32470000002"))[0].text == "while you were away"
    await hook.wait(lambda: len(hook.receipts()) == 1)
    assert hook.receipts()[0].parse_receipt()["stat"] == "DELIVRD"


async def test_held_mt_survives_a_restart(smsc: SmscEmulator, esme: EsmeFactory) -> None:
    smsc.set_handset_state("+32470000002", "absent")
    client, hook = await esme()
    await client.broker.enqueue(mt("kept", to="32470000002"))
    await eventually(lambda: smsc.health()["deliveries"]["held"] == 1)
    await smsc.restart()
    await eventually(lambda: smsc.health()["deliveries"]["held"] == 1)
    assert smsc.set_handset_state("+32470000002", "on") == 1
    await hook.wait(lambda: len(hook.receipts()) == 1, within_s=8.0)


async def test_peak_outstanding_shows_the_esme_window(smsc: SmscEmulator, control: Any, esme: EsmeFactory) -> None:
    """Stock aiosmpplib has no window: with slow responses, all 30 submits are outstanding at once."""
    await set_mode(control, mode="slow", delay_s=0.5)
    client, hook = await esme()
    for n in range(30):
        await client.broker.enqueue(mt(f"w{n}", registered_delivery=0))
    await hook.wait(lambda: len(hook.of(SubmitSmResp)) == 30)
    [bind] = (await (await control.get("/sim/health")).json())["binds"]
    assert bind["peak_outstanding"] == 30 and bind["outstanding"] == 0


async def test_max_outstanding_is_enforced(smsc: SmscEmulator, control: Any, bound_raw: RawClient) -> None:
    smsc.settings.smsc_max_outstanding = 5
    await set_mode(control, mode="slow", delay_s=0.2)
    statuses = await submit_burst(bound_raw, 8)
    assert statuses == [0] * 5 + [SmppCommandStatus.ESME_RMSGQFUL] * 3


async def test_dlr_seconds_mode(control: Any, bound_raw: RawClient) -> None:
    assert (await set_mode(control, mode="dlr_seconds"))["active"] == ["dlr_seconds"]
    await bound_raw.send(submit_sm_pdu(b"secs", sequence=3))
    receipt = await read_command(bound_raw, 0x05)
    assert re.search(rb"submit date:\d{12} done date:\d{12} ", receipt)
    await set_mode(control, mode="dlr_seconds", off=True)
    await bound_raw.send(submit_sm_pdu(b"mins", sequence=4))
    receipt = await read_command(bound_raw, 0x05)
    assert re.search(rb"submit date:\d{10} done date:\d{10} ", receipt)


async def test_stats_measure_the_rate(control: Any, bound_raw: RawClient) -> None:
    await set_mode(control, mode="throttled", rate=1)
    await submit_burst(bound_raw, 3)
    stats = await (await control.get("/sim/stats")).json()
    demo, sender = stats["accounts"]["demo"], stats["sources"]["3311"]
    assert demo == sender
    assert demo["received"] == 3 and demo["accepted"] == 1 and demo["refused"] == {"ESME_RTHROTTLED": 2}
    assert demo["received_per_s"] > 1  # a burst: far faster than the throttle
    assert (await control.delete("/sim/stats")).status == 204
    assert await (await control.get("/sim/stats")).json() == {"accounts": {}, "sources": {}}
