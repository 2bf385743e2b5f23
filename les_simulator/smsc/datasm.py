"""data_sm (SMPP 3.4 §4.7), which aiosmpplib has no class for: handled as the equivalent submit_sm.

data_sm has no protocol_id, priority, schedule, validity, replace flag or short_message: the text travels in
``message_payload``. ``as_submit_sm`` fills those fields with their defaults so every check and failure mode
of submit_sm applies unchanged; ``data_sm_resp`` answers with the message_id.
"""

from __future__ import annotations

import struct

from aiosmpplib import PduHeader, SmppCommand, SmppCommandStatus

from les_simulator.smsc.wire import PDU_HEADER_LENGTH, BodyReader

# protocol_id, priority_flag, schedule_delivery_time "", validity_period "" (between esm_class and the rest)
_SUBMIT_ONLY_AFTER_ESM = bytes([0, 0, 0, 0])


def as_submit_sm(pdu: bytes, header: PduHeader) -> tuple[PduHeader, bytes]:
    """The submit_sm that says what this data_sm says."""
    reader = BodyReader(pdu)
    reader.cstring(6)  # service_type
    reader.take(2)
    reader.cstring(65)  # source_addr
    reader.take(2)
    reader.cstring(65)  # destination_addr
    esm_class, registered_delivery, data_coding = reader.take(3)
    addresses = pdu[PDU_HEADER_LENGTH : reader.offset - 3]
    body = addresses + bytes([esm_class]) + _SUBMIT_ONLY_AFTER_ESM
    body += bytes([registered_delivery, 0, data_coding, 0, 0]) + pdu[reader.offset :]
    length = PDU_HEADER_LENGTH + len(body)
    raw = struct.pack("!IIII", length, SmppCommand.SUBMIT_SM, 0, header.sequence_num) + body
    return PduHeader(length, SmppCommand.SUBMIT_SM, SmppCommandStatus.ESME_ROK, header.sequence_num), raw


def data_sm_resp(sequence: int, status: SmppCommandStatus, message_id: str) -> bytes:
    """data_sm_resp: the message_id, no TLVs."""
    body = message_id.encode("ascii") + b"\x00"
    return struct.pack("!IIII", PDU_HEADER_LENGTH + len(body), SmppCommand.DATA_SM_RESP, status, sequence) + body
