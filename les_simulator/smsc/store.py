"""The SMSC's store on disk (``smsc_store_path``): what a stopped SMSC still owes, read back by the next one.

A real SMSC keeps accepted MTs, their receipts and undelivered MOs across a restart. ``save`` writes the parts
not yet delivered and the deliver_sm not yet answered as JSON when the emulator stops gracefully; ``load``
reads them back when an emulator (this process or another) starts with the same path, and removes the file so
nothing is delivered twice. A killed process writes nothing: that is a crash that lost its store.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from les_simulator.smsc.delivery import Delivery
from les_simulator.smsc.handsets import MtPart
from les_simulator.smsc.outbound import Outbound
from les_simulator.smsc.wire import Concat, DataCoding

FORMAT = 1


def _part_to_json(part: MtPart) -> dict[str, Any]:
    concat = part.concat
    return {
        "message_id": part.message_id,
        "system_id": part.system_id,
        "sender": part.sender,
        "recipient": part.recipient,
        "text": part.text,
        "coding": [part.coding.value, part.coding.alphabet, part.coding.message_class],
        "concat": None if concat is None else [concat.ref, concat.total, concat.seq, concat.ref_bits],
        "submitted_at": part.submitted_at.isoformat(),
        "payload": part.payload,
    }


def _part_from_json(data: dict[str, Any]) -> MtPart:
    return MtPart(
        message_id=data["message_id"],
        system_id=data["system_id"],
        sender=data["sender"],
        recipient=data["recipient"],
        text=data["text"],
        coding=DataCoding(*data["coding"]),
        concat=None if data["concat"] is None else Concat(*data["concat"]),
        submitted_at=datetime.fromisoformat(data["submitted_at"]),
        payload=data["payload"],
    )


def _delivery_to_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "part": _part_to_json(delivery.part),
        "stat": delivery.stat,
        "registered_delivery": delivery.registered_delivery,
        "expires_at": delivery.expires_at.isoformat(),
    }


def _delivery_from_json(data: dict[str, Any]) -> Delivery:
    return Delivery(
        _part_from_json(data["part"]),
        data["stat"],
        data["registered_delivery"],
        datetime.fromisoformat(data["expires_at"]),
    )


def save(path: Path, deliveries: list[Delivery], outbound: list[Outbound]) -> None:
    """Write what the SMSC still owes (an MO's progress record is not kept: its deliver_sm is)."""
    body = {
        "format": FORMAT,
        "deliveries": [_delivery_to_json(delivery) for delivery in deliveries],
        "outbound": [{"system_id": item.system_id, "pdu": item.pdu.hex()} for item in outbound],
    }
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(body))
    temporary.replace(path)  # atomic: a crash mid-write leaves the old store or none


def load(path: Path) -> tuple[list[Delivery], list[Outbound]]:
    """Read and remove the store (empty lists when there is none)."""
    if not path.exists():
        return [], []
    body = json.loads(path.read_text())
    path.unlink()
    if body.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown SMSC store format {body.get('format')!r}")
    deliveries = [_delivery_from_json(data) for data in body["deliveries"]]
    outbound = [Outbound(item["system_id"], bytes.fromhex(item["pdu"])) for item in body["outbound"]]
    return deliveries, outbound
