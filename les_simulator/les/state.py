"""The emulator's mutable state: failure modes, moved subscribers, last known fixes, the received log."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from les_simulator.les.positioning import Fix

Mode = Literal[
    "happy",
    "slow",
    "congested",
    "absent",
    "unknown_subscriber",
    "position_method_failure",
    "system_failure",
    "drop_connection",
    "garbage_response",
]
MODES: tuple[Mode, ...] = (
    "happy",
    "slow",
    "congested",
    "absent",
    "unknown_subscriber",
    "position_method_failure",
    "system_failure",
    "drop_connection",
    "garbage_response",
)
# Modes that change the whole HTTP exchange rather than one subscriber's answer.
REQUEST_MODES: frozenset[Mode] = frozenset({"drop_connection", "garbage_response"})


@dataclass(slots=True)
class LesState:
    """Everything the control API can change or read."""

    received_max: int
    global_mode: Mode = "happy"
    subscriber_modes: dict[int, Mode] = field(default_factory=dict)
    overrides: dict[int, tuple[float, float]] = field(default_factory=dict)
    last_fix: dict[int, Fix] = field(default_factory=dict)
    received: deque[dict[str, Any]] = field(default_factory=deque)

    def mode_for(self, index: int | None) -> Mode:
        """The subscriber's own mode if set, else the global one."""
        if index is not None and index in self.subscriber_modes:
            return self.subscriber_modes[index]
        return self.global_mode

    def record(self, entry: dict[str, Any]) -> None:
        """Append to the received log, dropping the oldest beyond ``received_max``."""
        self.received.append(entry)
        while len(self.received) > self.received_max:
            self.received.popleft()
