"""What the SMSC made of an MT, as small values: the bind's callbacks produce them, the result writer applies them.

Each outcome names the MT row and the claim it belongs to (``attempt``, the row's ``attempts`` when it was
claimed), so an outcome that arrives late, after the row was claimed again, cannot change the newer attempt.
Classifying a response is pure and lives here, next to the types, so it is tested without a socket.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiosmpplib.state import SmppCommandStatus

# The SMSC asks us to slow down: the MT is sent again later, never failed.
THROTTLED = frozenset({SmppCommandStatus.ESME_RTHROTTLED, SmppCommandStatus.ESME_RMSGQFUL})


@dataclass(frozen=True, slots=True)
class MtRef:
    """One claim of one outbox row: the row id and the value of its ``attempts`` when it was claimed."""

    mt_id: int
    attempt: int

    @property
    def log_id(self) -> str:
        """What the SubmitSm carries, so that its response and errors find the row again."""
        return f"mt:{self.mt_id}"

    @classmethod
    def of(cls, log_id: str, extra_data: str) -> MtRef | None:
        """The claim a response or error belongs to; None for anything that is not one of our MTs."""
        if not log_id.startswith("mt:") or not log_id[3:].isdigit():
            return None
        return cls(int(log_id[3:]), int(extra_data) if extra_data.isdigit() else 0)


@dataclass(frozen=True, slots=True)
class Submitted:
    """The SMSC accepted the MT (``submit_sm_resp`` OK) and named it ``smsc_id``."""

    ref: MtRef
    smsc_id: str


@dataclass(frozen=True, slots=True)
class Deferred:
    """Send the MT again later: throttled, transport error, timeout, bind lost, or never sent."""

    ref: MtRef
    reason: str


@dataclass(frozen=True, slots=True)
class Failed:
    """The SMSC refused the MT for good (or it could not be encoded): it ends ``failed`` with ``reason``."""

    ref: MtRef
    reason: str


@dataclass(frozen=True, slots=True)
class Receipt:
    """A delivery receipt: the SMSC's id of the MT and its ``stat`` (DELIVRD, UNDELIV, ...)."""

    smsc_id: str
    stat: str


Outcome = Submitted | Deferred | Failed | Receipt


def of_response(log_id: str, extra_data: str, status: SmppCommandStatus, smsc_id: str) -> Outcome | None:
    """A ``submit_sm_resp`` or ``generic_nack`` as an outcome; None when it answers no MT of ours."""
    ref = MtRef.of(log_id, extra_data)
    if ref is None:
        return None
    if status == SmppCommandStatus.ESME_ROK:
        return Submitted(ref, smsc_id)
    if status in THROTTLED:
        return Deferred(ref, f"SMSC {status.name}")
    return Failed(ref, f"SMSC {status.name}")


def of_send_error(log_id: str, extra_data: str, error: Exception) -> Outcome | None:
    """A submit the library could not send: a PDU it cannot build fails; transport and timeouts are retried."""
    ref = MtRef.of(log_id, extra_data)
    if ref is None:
        return None
    if isinstance(error, ValueError):
        return Failed(ref, repr(error))
    return Deferred(ref, repr(error))
