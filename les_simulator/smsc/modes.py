"""Named failure modes of the SMSC emulator, settable at run time, and the token bucket behind rates.

Modes combine: ``slow`` and ``dlr_fail_ratio`` can be on together; ``happy`` turns every mode off. ``unbind``
is an action (the SMSC unbinds every ESME once) rather than a state, so it is not kept here.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

from aiosmpplib import SmppCommandStatus

ModeName = Literal[
    "happy",
    "slow",
    "throttled",
    "reject_all",
    "dlr_delayed",
    "dlr_fail_ratio",
    "drop_connection_after_n",
    "unbind",
    "dlr_seconds",
]
MODE_NAMES: Final[tuple[str, ...]] = ModeName.__args__  # type: ignore[attr-defined]
ReceiptStat = Literal["DELIVRD", "UNDELIV", "EXPIRED", "REJECTD"]

# Defaults when a mode is set without its parameter.
DEFAULT_SLOW_S: Final = 1.0
DEFAULT_THROTTLE_TPS: Final = 5.0
DEFAULT_DLR_DELAY_S: Final = 5.0
DEFAULT_DROP_AFTER_N: Final = 10


@dataclass
class FailureModes:
    """The emulator's current misbehaviour; every field at its default means ``happy``."""

    slow_s: float = 0.0  # slow: every response to the ESME waits this long
    throttle_tps: float | None = None  # throttled: submit_sm per second per bind, ESME_RTHROTTLED beyond
    reject_status: SmppCommandStatus | None = None  # reject_all: every submit_sm answered with this status
    dlr_delay_s: float | None = None  # dlr_delayed: receipts (and delivery to the handset) this late
    dlr_fail_ratio: float = 0.0  # dlr_fail_ratio: this share of MTs fail, with receipt stat ``dlr_fail_stat``
    dlr_fail_stat: ReceiptStat = "UNDELIV"
    drop_after_n: int | None = None  # drop_connection_after_n: a bind's n-th submit_sm is never answered
    dlr_seconds: bool = False  # dlr_seconds: receipt dates YYMMDDhhmmss (as SmscSettings.smsc_dlr_seconds)

    def active(self) -> list[str]:
        """Names of the modes now on (``["happy"]`` when none)."""
        flags = {
            "slow": self.slow_s > 0,
            "throttled": self.throttle_tps is not None,
            "reject_all": self.reject_status is not None,
            "dlr_delayed": self.dlr_delay_s is not None,
            "dlr_fail_ratio": self.dlr_fail_ratio > 0,
            "drop_connection_after_n": self.drop_after_n is not None,
            "dlr_seconds": self.dlr_seconds,
        }
        return [name for name, on in flags.items() if on] or ["happy"]

    def to_json(self) -> dict[str, Any]:
        """The modes and their parameters, for the control API."""
        body = asdict(self)
        body["reject_status"] = self.reject_status.name if self.reject_status is not None else None
        body["active"] = self.active()
        return body

    def reset(self) -> None:
        """Back to ``happy``."""
        for name, value in asdict(FailureModes()).items():
            setattr(self, name, value)


@dataclass(frozen=True, slots=True)
class ModeRequest:
    """One mode to switch on, with its optional parameters (validated by the control API)."""

    mode: ModeName
    delay_s: float | None = None
    rate: float | None = None
    status: str | None = None
    ratio: float | None = None
    stat: ReceiptStat | None = None
    n: int | None = None
    off: bool = False


def apply_mode(modes: FailureModes, request: ModeRequest) -> None:
    """Switch one mode on (or off with ``off=True``); ``unbind`` is handled by the emulator itself."""
    if request.mode == "happy":
        modes.reset()
    elif request.mode == "slow":
        modes.slow_s = 0.0 if request.off else request.delay_s if request.delay_s is not None else DEFAULT_SLOW_S
    elif request.mode == "throttled":
        modes.throttle_tps = None if request.off else request.rate or DEFAULT_THROTTLE_TPS
    elif request.mode == "reject_all":
        modes.reject_status = None if request.off else SmppCommandStatus[request.status or "ESME_RSUBMITFAIL"]
    elif request.mode == "dlr_delayed":
        modes.dlr_delay_s = None if request.off else DEFAULT_DLR_DELAY_S if request.delay_s is None else request.delay_s
    elif request.mode == "dlr_fail_ratio":
        modes.dlr_fail_ratio = 0.0 if request.off else request.ratio if request.ratio is not None else 1.0
        modes.dlr_fail_stat = request.stat or "UNDELIV"
    elif request.mode == "drop_connection_after_n":
        modes.drop_after_n = None if request.off else request.n or DEFAULT_DROP_AFTER_N
    elif request.mode == "dlr_seconds":
        modes.dlr_seconds = not request.off


class TokenBucket:
    """``rate`` requests per second with a one-second burst; ``take()`` says whether one may pass now."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def take(self) -> bool:
        """Spend one token if there is one."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False
