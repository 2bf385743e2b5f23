"""submit_sm counts and rates per account and per sender, as the SMSC saw them (``GET /sim/stats``).

Throughput benches read the rate here: it is measured where a real operator would measure it.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiosmpplib import SmppCommandStatus


@dataclass
class RateCounter:
    """submit_sm received by one account or sender: how many, how they were answered, over what time."""

    received: int = 0
    accepted: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    first: float = 0.0
    last: float = 0.0

    def add(self, status: SmppCommandStatus, now: float) -> None:
        """Count one submit_sm and its answer."""
        if not self.received:
            self.first = now
        self.received += 1
        self.last = now
        if status == SmppCommandStatus.ESME_ROK:
            self.accepted += 1
        else:
            self.refused[status.name] += 1

    def to_json(self) -> dict[str, Any]:
        """Counts, and the received rate between the first and the last submit_sm (None below two)."""
        span = self.last - self.first
        return {
            "received": self.received,
            "accepted": self.accepted,
            "refused": dict(self.refused),
            "span_s": round(span, 6),
            "received_per_s": round((self.received - 1) / span, 3) if self.received > 1 and span > 0 else None,
        }


class SubmitStats:
    """Rate counters per account (system_id) and per sender address."""

    def __init__(self) -> None:
        self.accounts: dict[str, RateCounter] = {}
        self.sources: dict[str, RateCounter] = {}

    def add(self, system_id: str, source: str, status: SmppCommandStatus) -> None:
        """Count one submit_sm of ``system_id`` from ``source``."""
        now = time.monotonic()
        self.accounts.setdefault(system_id, RateCounter()).add(status, now)
        self.sources.setdefault(source, RateCounter()).add(status, now)

    def to_json(self) -> dict[str, Any]:
        """Everything, for the control API."""
        return {
            "accounts": {name: counter.to_json() for name, counter in self.accounts.items()},
            "sources": {name: counter.to_json() for name, counter in self.sources.items()},
        }

    def clear(self) -> None:
        """Start counting afresh (e.g. between two bench runs)."""
        self.accounts.clear()
        self.sources.clear()
