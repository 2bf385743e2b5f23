"""submit_multi (SMPP 3.4 §4.5), which aiosmpplib has no class for: one message to up to 255 destinations.

The emulator handles it as one submit_sm per SME destination: ``parse_submit_multi`` returns the destinations
and a function that rebuilds the equivalent submit_sm PDU for one of them, so every check and failure mode of
submit_sm applies unchanged. Distribution lists (dest_flag 2) are not provisioned: each fails with
``ESME_RINVDLNAME``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final

from aiosmpplib import PduHeader, SmppCommand, SmppCommandStatus

from les_simulator.smsc.wire import PDU_HEADER_LENGTH, BodyReader, MalformedPdu, scan_sm_tail

DEST_SME: Final = 1
DEST_LIST: Final = 2
# A distribution list "destination" is reported back under this prefix so the failure can be listed.
LIST_PREFIX: Final = "list:"

Rebuild = Callable[[str], tuple[PduHeader, bytes]]


def parse_submit_multi(pdu: bytes, header: PduHeader) -> tuple[list[str], Rebuild]:
    """The destinations (``list:NAME`` for distribution lists) and a submit_sm builder for one of them."""
    reader = BodyReader(pdu)
    reader.cstring(6)  # service_type
    reader.take(2)
    reader.cstring(21)  # source_addr
    head_end = reader.offset
    count = reader.octet()
    if not 1 <= count <= 255:
        raise MalformedPdu("number_of_dests outside 1..255", SmppCommandStatus.ESME_RINVNUMDESTS)
    destinations: dict[str, bytes] = {}
    for _ in range(count):
        name, address = _destination(reader)
        destinations[name] = address
    tail_start = reader.offset
    scan_sm_tail(reader)  # the rest must be a well-formed submit_sm tail
    head, tail = pdu[PDU_HEADER_LENGTH:head_end], pdu[tail_start:]

    def rebuild(destination: str) -> tuple[PduHeader, bytes]:
        """The submit_sm of this message to ``destination``."""
        body = head + destinations[destination] + tail
        length = PDU_HEADER_LENGTH + len(body)
        raw = struct.pack("!IIII", length, SmppCommand.SUBMIT_SM, 0, header.sequence_num) + body
        return PduHeader(length, SmppCommand.SUBMIT_SM, SmppCommandStatus.ESME_ROK, header.sequence_num), raw

    return list(destinations), rebuild


def _destination(reader: BodyReader) -> tuple[str, bytes]:
    """One dest_address: its name and, for an SME address, its TON+NPI+address octets."""
    flag = reader.octet()
    if flag == DEST_SME:
        start = reader.offset
        reader.take(2)
        number = reader.cstring(21)
        return number.decode("ascii", "replace"), reader.pdu[start : reader.offset]
    if flag == DEST_LIST:
        return LIST_PREFIX + reader.cstring(21).decode("ascii", "replace"), b""
    raise MalformedPdu(f"dest_flag {flag} is neither 1 (SME) nor 2 (list)", SmppCommandStatus.ESME_RINVDESTFLAG)


def submit_multi_resp(
    sequence: int, status: SmppCommandStatus, message_id: str, failed: list[tuple[str, SmppCommandStatus]]
) -> bytes:
    """submit_multi_resp: message_id, then each unsuccessful destination with its error."""
    body = message_id.encode("ascii") + b"\x00" + bytes([len(failed)])
    for destination, error in failed:
        name = destination.removeprefix(LIST_PREFIX).encode("ascii", "replace")[:20]
        body += bytes([1, 1]) + name + b"\x00" + struct.pack("!I", error)
    length = PDU_HEADER_LENGTH + len(body)
    return struct.pack("!IIII", length, SmppCommand.SUBMIT_MULTI_RESP, status, sequence) + body
