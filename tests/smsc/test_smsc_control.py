"""The control API: every error path has the house shape; PDU log, health, reset; the deployable factory."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from les_simulator.settings import SmscSettings
from les_simulator.smsc import SmscEmulator, create_smsc_app
from les_simulator.smsc.keys import SMSC
from tests.smsc.conftest import EsmeFactory, eventually
from tests.smsc.test_smsc_flow import HANDSET, mt


def assert_error(body: dict[str, Any], status: int, code: str) -> None:
    assert set(body) == {"status", "code", "message"}
    assert (body["status"], body["code"]) == (status, code) and body["message"]


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "code"),
    [
        ("post", "/sim/mo", {"to": "3311", "text": "PING"}, 400, "INVALID_ARGUMENT"),
        ("post", "/sim/mo", {"from": HANDSET, "to": "3311", "text": ""}, 400, "INVALID_ARGUMENT"),
        ("post", "/sim/mo", {"from": HANDSET, "to": "3311", "text": "x" * 5000}, 400, "INVALID_ARGUMENT"),
        ("post", "/sim/mo", {"from": HANDSET, "to": "3311", "text": "bad \ud800"}, 400, "INVALID_ARGUMENT"),
        ("post", "/sim/mo", {"from": "+3247", "to": "3311", "text": "PING"}, 400, "INVALID_ARGUMENT"),
        ("post", "/sim/mo", {"from": HANDSET, "to": "+32470000002", "text": "PING"}, 404, "UNKNOWN_SHORT_CODE"),
        ("post", "/sim/mo", {"from": HANDSET, "to": "3311", "text": "x", "extra": 1}, 400, "INVALID_ARGUMENT"),
        ("post", "/sim/mo", {"from": HANDSET, "to": "9999", "text": "PING"}, 404, "UNKNOWN_SHORT_CODE"),
        ("post", "/sim/mo", {"from": HANDSET, "to": "3311", "text": "PING"}, 503, "NO_BIND"),
        ("post", "/sim/mode", {"mode": "sleepy"}, 400, "INVALID_ARGUMENT"),
        ("post", "/sim/mode", {"mode": "reject_all", "status": "ESME_NOPE"}, 400, "INVALID_ARGUMENT"),
        ("post", "/sim/mode", {"mode": "dlr_fail_ratio", "ratio": 2}, 400, "INVALID_ARGUMENT"),
        ("post", "/sim/mode", {"mode": "dlr_fail_ratio", "stat": "LOST"}, 400, "INVALID_ARGUMENT"),
        ("post", "/sim/mode", {"mode": "drop_connection_after_n", "n": 0}, 400, "INVALID_ARGUMENT"),
        ("get", "/sim/handsets/not-a-number/inbox", None, 400, "INVALID_ARGUMENT"),
        ("put", f"/sim/handsets/{HANDSET}", {"state": "asleep"}, 400, "INVALID_ARGUMENT"),
        ("get", "/sim/mo/mo-unknown", None, 404, "NOT_FOUND"),
        ("get", "/sim/nowhere", None, 404, "NOT_FOUND"),
        ("put", "/sim/mo", {}, 405, "METHOD_NOT_ALLOWED"),
    ],
)
async def test_error_shapes(
    control: Any, method: str, path: str, payload: dict[str, Any] | None, status: int, code: str
) -> None:
    reply = await getattr(control, method)(path, json=payload)
    assert reply.status == status
    assert_error(await reply.json(), status, code)


async def test_malformed_json_is_400(control: Any) -> None:
    reply = await control.post("/sim/mo", data=b"{not json", headers={"Content-Type": "application/json"})
    assert_error(await reply.json(), 400, "INVALID_ARGUMENT")


async def test_pdu_log_filters_and_clears(smsc: SmscEmulator, esme: EsmeFactory, control: Any) -> None:
    client, _ = await esme()
    await client.broker.enqueue(mt("logged"))
    await smsc.handsets.wait_inbox(HANDSET)
    submits = await (await control.get("/sim/pdus", params={"command": "submit_sm"})).json()
    [submit] = submits
    assert submit["text"] == "logged" and submit["destination"] == "32470000001" and submit["system_id"] == "demo"
    assert bytes.fromhex(submit["hex"])[4:8] == b"\x00\x00\x00\x04"
    everything = await (await control.get("/sim/pdus")).json()
    assert everything[0]["command"] == "bind_transceiver"
    assert await (await control.get("/sim/pdus", params={"system_id": "nobody"})).json() == []
    lean = await (await control.get("/sim/pdus", params={"command": "submit_sm", "hex": "false"})).json()
    assert "hex" not in lean[0] and lean[0]["text"] == "logged"
    assert (await control.delete("/sim/pdus")).status == 204
    assert await (await control.get("/sim/pdus")).json() == []


async def test_health_lists_binds(esme: EsmeFactory, control: Any) -> None:
    await esme()
    health = await (await control.get("/sim/health")).json()
    assert health["status"] == "ok" and health["modes"]["active"] == ["happy"]
    [bind] = health["binds"]
    assert (bind["system_id"], bind["bind"]) == ("demo", "transceiver")


async def test_reset_and_inbox_delete(smsc: SmscEmulator, esme: EsmeFactory, control: Any) -> None:
    client, _ = await esme()
    await client.broker.enqueue(mt("to be forgotten"))
    await smsc.handsets.wait_inbox(HANDSET)
    assert (await control.delete(f"/sim/handsets/{HANDSET}/inbox")).status == 204
    assert await (await control.get(f"/sim/handsets/{HANDSET}/inbox")).json() == []
    await control.post("/sim/mode", json={"mode": "slow", "delay_s": 0.01})
    assert (await control.post("/sim/reset")).status == 204
    assert smsc.modes.active() == ["happy"] and not smsc.pdus


async def test_national_msisdn_in_path_is_normalised(smsc: SmscEmulator, esme: EsmeFactory, control: Any) -> None:
    client, _ = await esme()
    await client.broker.enqueue(mt("national"))
    await smsc.handsets.wait_inbox(HANDSET)
    inbox = await (await control.get("/sim/handsets/0470000001/inbox")).json()
    assert [m["text"] for m in inbox] == ["national"]


async def test_deployable_app_starts_the_smpp_listener(smsc_settings: SmscSettings) -> None:
    app = create_smsc_app(smsc_settings)
    async with TestClient(TestServer(app)) as client:
        emulator = app[SMSC]
        assert emulator.port and emulator.port > 0
        health = await (await client.get("/sim/health")).json()
        assert health["status"] == "ok" and health["port"] == emulator.port
    assert emulator.health()["status"] == "stopped"


def test_every_smsc_setting_is_documented() -> None:
    for name, info in SmscSettings.model_fields.items():
        if name.startswith("smsc_"):
            assert info.description, name


async def test_inbox_keeps_the_newest(smsc: SmscEmulator, esme: EsmeFactory) -> None:
    smsc.handsets.inbox_size = 2
    client, _ = await esme()
    for n in range(3):
        await client.broker.enqueue(mt(f"n{n}"))
    await eventually(lambda: [m.text for m in smsc.handsets.inbox(HANDSET)] == ["n1", "n2"])
