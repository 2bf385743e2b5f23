"""The on-disk store round-trips every field of what the SMSC owes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from les_simulator.smsc import store
from les_simulator.smsc.delivery import Delivery
from les_simulator.smsc.handsets import MtPart
from les_simulator.smsc.outbound import Outbound
from les_simulator.smsc.wire import Concat, DataCoding


def test_round_trip(tmp_path: Path) -> None:
    now = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
    part = MtPart(
        "ab12", "demo", "3311", "+32470000001", "Флэш 😀", DataCoding(0x18, 8, 0), Concat(0x1234, 3, 2, 16), now
    )
    deliveries = [Delivery(part, "EXPIRED", 1, now + timedelta(hours=1))]
    outbound = [Outbound("demo", b"\x00\x00\x00\x10\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x07")]
    path = tmp_path / "store.json"
    store.save(path, deliveries, outbound)
    loaded_deliveries, loaded_outbound = store.load(path)
    assert loaded_deliveries == deliveries
    assert [(item.system_id, item.pdu) for item in loaded_outbound] == [("demo", outbound[0].pdu)]
    assert not path.exists()
    assert store.load(path) == ([], [])


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    path.write_text('{"format": 99}')
    with pytest.raises(ValueError, match="unknown SMSC store format"):
        store.load(path)
