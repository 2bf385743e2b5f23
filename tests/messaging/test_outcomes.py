"""What a response or an error means for an MT: pure classification."""

from __future__ import annotations

from aiosmpplib.state import SmppCommandStatus

from lbs.messaging.outcomes import Deferred, Failed, MtRef, Submitted, of_response, of_send_error

REF = MtRef(42, 3)


def test_a_claim_round_trips_through_log_id_and_extra_data() -> None:
    assert MtRef.of(REF.log_id, "3") == REF
    assert MtRef.of("b:1", "3") is None and MtRef.of("mt:x", "3") is None
    assert MtRef.of("mt:7", "") == MtRef(7, 0)


def test_responses() -> None:
    assert of_response("mt:42", "3", SmppCommandStatus.ESME_ROK, "abc") == Submitted(REF, "abc")
    throttled = of_response("mt:42", "3", SmppCommandStatus.ESME_RTHROTTLED, "")
    assert throttled == Deferred(REF, "SMSC ESME_RTHROTTLED")
    assert of_response("mt:42", "3", SmppCommandStatus.ESME_RINVDSTADR, "") == Failed(REF, "SMSC ESME_RINVDSTADR")
    assert of_response("", "", SmppCommandStatus.ESME_ROK, "abc") is None  # not ours (or expired correlation)


def test_send_errors() -> None:
    assert isinstance(of_send_error("mt:42", "3", ValueError("cannot encode")), Failed)
    assert isinstance(of_send_error("mt:42", "3", TimeoutError("no response")), Deferred)
    assert isinstance(of_send_error("mt:42", "3", OSError("reset")), Deferred)
    assert of_send_error("enquire", "", OSError("reset")) is None
