"""The minimal loop over real sockets: bind, MT with receipt into a handset's inbox, MO from the control API."""

from __future__ import annotations

import asyncio
from typing import Any

from aiosmpplib import NPI, TON, PhoneNumber, SubmitSm, SubmitSmResp

from les_simulator.smsc import SmscEmulator
from tests.smsc.conftest import EsmeFactory, eventually

HANDSET = "+32470000001"


def mt(text: str, to: str = "32470000001", **kw: Any) -> SubmitSm:
    return SubmitSm(
        short_message=text,
        source=PhoneNumber("3311", TON.NETWORK_SPECIFIC, NPI.UNKNOWN),
        destination=PhoneNumber(to, TON.INTERNATIONAL, NPI.ISDN),
        **kw,
    )


async def test_bind_submit_receipt_and_inbox(smsc: SmscEmulator, esme: EsmeFactory) -> None:
    client, hook = await esme()
    await client.broker.enqueue(mt("Hello from 3311", log_id="m1"))
    await hook.wait(lambda: len(hook.receipts()) == 1)
    [resp] = hook.of(SubmitSmResp)
    [receipt] = hook.receipts()
    assert resp.command_status == 0 and resp.message_id
    parsed = receipt.parse_receipt()
    assert parsed["id"] == resp.message_id and parsed["stat"] == "DELIVRD"
    assert receipt.log_id == "m1"  # aiosmpplib correlated it to the submit
    [message] = smsc.handsets.inbox(HANDSET)
    assert message.text == "Hello from 3311" and message.sender == "3311"
    assert message.message_ids == (resp.message_id,)


async def test_mo_from_control_api_reaches_the_bound_esme(smsc: SmscEmulator, esme: EsmeFactory, control: Any) -> None:
    _, hook = await esme()
    reply = await control.post("/sim/mo", json={"from": HANDSET, "to": "3311", "text": "PING"})
    assert reply.status == 202
    body = await reply.json()
    await hook.wait(lambda: len(hook.mos()) == 1)
    [mo] = hook.mos()
    assert mo.short_message == "PING"
    assert (mo.source.number, mo.source.ton, mo.source.npi) == ("32470000001", TON.INTERNATIONAL, NPI.ISDN)
    assert mo.destination.number == "3311"
    await eventually(lambda: smsc.mos[body["id"]].status == "delivered")
    state = await (await control.get(f"/sim/mo/{body['id']}")).json()
    assert state["status"] == "delivered"


async def test_inbox_over_http(smsc: SmscEmulator, esme: EsmeFactory, control: Any) -> None:
    client, _ = await esme()
    await client.broker.enqueue(mt("Pharmacy: Rue Neuve 1"))
    await smsc.handsets.wait_inbox(HANDSET)
    for path in ("/sim/handsets/+32470000001/inbox", "/sim/handsets/%2B32470000001/inbox"):
        inbox = await (await control.get(path)).json()
        assert [m["text"] for m in inbox] == ["Pharmacy: Rue Neuve 1"]
        assert {"from", "text", "received_at", "message_id"} <= inbox[0].keys()


async def test_mo_without_bind_is_503(control: Any) -> None:
    reply = await control.post("/sim/mo", json={"from": HANDSET, "to": "3311", "text": "PING"})
    assert reply.status == 503
    assert await reply.json() == {
        "status": 503,
        "code": "NO_BIND",
        "message": "no ESME of 'demo' is bound to receive for 3311",
    }


async def test_mo_to_unknown_short_code_is_404(control: Any) -> None:
    reply = await control.post("/sim/mo", json={"from": HANDSET, "to": "9999", "text": "PING"})
    assert reply.status == 404
    assert (await reply.json())["code"] == "UNKNOWN_SHORT_CODE"


async def test_idle_bind_gets_nothing(smsc: SmscEmulator, esme: EsmeFactory) -> None:
    _, hook = await esme()
    [session] = smsc.binds("demo")
    assert session.can_receive and session.can_transmit
    await asyncio.sleep(0.05)
    assert not hook.deliver_sms()
