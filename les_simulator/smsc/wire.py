"""SMPP 3.4 wire format on the SMSC side: framing, strict body scanning, data coding, UDH, decoding.

Decoding is aiosmpplib's own (``from_pdu`` of its PDU classes), with three things done here first because the
library gets them wrong or does not do them on a server: a strict scan that rejects bodies whose fields or
TLVs overrun ``command_length`` (the library slices silently); data_coding values with a message class
(0x10-0x1F, 0xF0-0xFF: flash SMS), which its enum rejects; and the concatenation UDH, whose 16-bit reference
it misreads (``'!I'`` instead of ``'!H'``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from aiosmpplib import DeliverSm, PduHeader, SmppCommand, SmppCommandStatus, SubmitSm

PDU_HEADER_LENGTH: Final = 16
# SMPP sets no maximum; message_payload carries up to 64 KiB, so anything far beyond is a broken stream.
MAX_PDU_LENGTH: Final = 70_000
DEFAULT_ENCODING: Final = "gsm0338"

# TLV tags (SMPP 3.4 §5.3.2).
TAG_RECEIPTED_MESSAGE_ID: Final = 0x001E
TAG_SAR_MSG_REF_NUM: Final = 0x020C
TAG_SAR_TOTAL_SEGMENTS: Final = 0x020E
TAG_SAR_SEGMENT_SEQNUM: Final = 0x020F
TAG_MESSAGE_STATE: Final = 0x0427
TAG_MESSAGE_PAYLOAD: Final = 0x0424

ESM_UDHI: Final = 0x40
# Information element ids of the concatenation UDH (3GPP TS 23.040 §9.2.3.24).
IE_CONCAT_8BIT: Final = 0x00
IE_CONCAT_16BIT: Final = 0x08

# SMPP data_coding alphabets we decode with (aiosmpplib codec names).
ALPHABET_GSM7: Final = 0x00
ALPHABET_LATIN1: Final = 0x03
ALPHABET_UCS2: Final = 0x08
# 8-bit data is kept byte for byte as latin-1 text (lossless), since the library has no codec for it.
_BASE_ALPHABETS: Final = {0x00: 0x00, 0x01: 0x01, 0x02: 0x03, 0x03: 0x03, 0x04: 0x03, 0x08: 0x08}


class MalformedPdu(Exception):
    """A PDU that cannot be decoded; ``status`` is what the generic_nack (or response) carries."""

    def __init__(self, message: str, status: SmppCommandStatus = SmppCommandStatus.ESME_RINVCMDLEN) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class RawHeader:
    """The four header fields as integers, before anything is known about them."""

    length: int
    command_id: int
    status: int
    sequence: int

    @classmethod
    def unpack(cls, data: bytes) -> RawHeader:
        """Read the 16-octet header."""
        return cls(*struct.unpack("!IIII", data[:PDU_HEADER_LENGTH]))

    def command(self) -> SmppCommand | None:
        """The command, or ``None`` if the id is not an SMPP 3.4 command."""
        try:
            return SmppCommand(self.command_id)
        except ValueError:
            return None

    def pdu_header(self, command: SmppCommand) -> PduHeader:
        """aiosmpplib's header object (an unknown status, meaningless in a request, reads as ROK)."""
        try:
            status = SmppCommandStatus(self.status)
        except ValueError:
            status = SmppCommandStatus.ESME_ROK
        return PduHeader(self.length, command, status, self.sequence)


@dataclass(frozen=True, slots=True)
class DataCoding:
    """A data_coding octet: the alphabet to decode with and the message class (0 = flash) if it sets one."""

    value: int
    alphabet: int
    message_class: int | None

    @property
    def flash(self) -> bool:
        """Class 0: shown at once on the handset, not stored."""
        return self.message_class == 0


def parse_data_coding(value: int) -> DataCoding:
    """Decode data_coding: SMPP values 0x00-0x0F, GSM 03.38 groups 00xx (0x10-0x3F) and 1111 (0xF0-0xFF)."""
    if value in _BASE_ALPHABETS:
        return DataCoding(value, _BASE_ALPHABETS[value], None)
    if 0x10 <= value <= 0x3F and not value & 0x20:  # general group, uncompressed
        alphabet = {0: ALPHABET_GSM7, 1: ALPHABET_LATIN1, 2: ALPHABET_UCS2}.get((value >> 2) & 0x03)
        if alphabet is not None:
            return DataCoding(value, alphabet, value & 0x03 if value & 0x10 else None)
    if value >= 0xF0:
        return DataCoding(value, ALPHABET_LATIN1 if value & 0x04 else ALPHABET_GSM7, value & 0x03)
    raise MalformedPdu(f"unsupported data_coding 0x{value:02X}", SmppCommandStatus.ESME_RSUBMITFAIL)


@dataclass(frozen=True, slots=True)
class Concat:
    """Where one part sits in a concatenated message (from a UDH or the sar_* TLVs)."""

    ref: int
    total: int
    seq: int
    ref_bits: int


@dataclass(frozen=True, slots=True)
class SmScan:
    """Raw view of a submit_sm/deliver_sm body, checked against command_length."""

    esm_class: int
    dcs_offset: int
    data_coding: int
    short_message: bytes
    tlvs: dict[int, bytes]

    @property
    def user_data(self) -> bytes:
        """The octets carrying the text: short_message, or message_payload when short_message is empty."""
        return self.short_message or self.tlvs.get(TAG_MESSAGE_PAYLOAD, b"")


class BodyReader:
    """A cursor over a PDU body that refuses to read past the end."""

    def __init__(self, pdu: bytes, offset: int = PDU_HEADER_LENGTH) -> None:
        self.pdu, self.offset = pdu, offset

    def take(self, count: int) -> bytes:
        """The next ``count`` octets."""
        end = self.offset + count
        if end > len(self.pdu):
            raise MalformedPdu("field runs past command_length")
        data, self.offset = self.pdu[self.offset : end], end
        return data

    def octet(self) -> int:
        """The next octet as an integer."""
        return self.take(1)[0]

    def cstring(self, max_length: int) -> bytes:
        """A NUL-terminated string of at most ``max_length`` octets, NUL included; returned without it."""
        end = self.pdu.find(b"\x00", self.offset, self.offset + max_length)
        if end < 0:
            raise MalformedPdu("C-octet string not terminated within its maximum length")
        data, self.offset = self.pdu[self.offset : end], end + 1
        return data

    def tlvs(self) -> dict[int, bytes]:
        """Every optional parameter up to the end of the PDU, tag -> value."""
        found: dict[int, bytes] = {}
        while self.offset < len(self.pdu):
            tag, length = struct.unpack("!HH", self.take(4))
            found[tag] = self.take(length)
        return found


def skip_address(reader: BodyReader) -> bytes:
    """Skip TON and NPI, return the address octets."""
    reader.take(2)
    return reader.cstring(21)


def scan_sm(pdu: bytes) -> SmScan:
    """Check a submit_sm/deliver_sm body field by field and return its raw parts."""
    reader = BodyReader(pdu)
    reader.cstring(6)  # service_type
    skip_address(reader)
    skip_address(reader)
    return scan_sm_tail(reader)


def scan_sm_tail(reader: BodyReader) -> SmScan:
    """From esm_class to the end (shared with submit_multi, whose destinations come before it)."""
    esm_class = reader.octet()
    reader.take(2)  # protocol_id, priority_flag
    reader.cstring(17)  # schedule_delivery_time
    reader.cstring(17)  # validity_period
    reader.take(2)  # registered_delivery, replace_if_present_flag
    dcs_offset = reader.offset
    data_coding = reader.octet()
    reader.octet()  # sm_default_msg_id
    short_message = reader.take(reader.octet())
    scan = SmScan(esm_class, dcs_offset, data_coding, short_message, reader.tlvs())
    if scan.short_message and TAG_MESSAGE_PAYLOAD in scan.tlvs:
        raise MalformedPdu("short_message and message_payload both set", SmppCommandStatus.ESME_RINVMSGLEN)
    return scan


def parse_concat_udh(user_data: bytes) -> Concat | None:
    """The concatenation IE of a UDH (8- or 16-bit reference), or ``None`` if the UDH has none."""
    if not user_data or user_data[0] + 1 > len(user_data):
        raise MalformedPdu("UDH longer than the user data", SmppCommandStatus.ESME_RINVESMCLASS)
    header, offset, found = user_data[1 : user_data[0] + 1], 0, None
    while offset + 2 <= len(header):
        iei, length = header[offset], header[offset + 1]
        data = header[offset + 2 : offset + 2 + length]
        if len(data) != length:
            raise MalformedPdu("UDH information element overruns the UDH", SmppCommandStatus.ESME_RINVESMCLASS)
        if iei == IE_CONCAT_8BIT and length == 3:
            found = Concat(data[0], data[1], data[2], 8)
        elif iei == IE_CONCAT_16BIT and length == 4:
            found = Concat(struct.unpack("!H", data[:2])[0], data[2], data[3], 16)
        offset += 2 + length
    return found


def concat_from_sar(tlvs: dict[int, bytes]) -> Concat | None:
    """Concatenation from the sar_* TLVs (the SAR path), if all three are present."""
    try:
        ref = struct.unpack("!H", tlvs[TAG_SAR_MSG_REF_NUM])[0]
        total, seq = tlvs[TAG_SAR_TOTAL_SEGMENTS][0], tlvs[TAG_SAR_SEGMENT_SEQNUM][0]
    except (KeyError, IndexError, struct.error):
        return None
    return Concat(ref, total, seq, 16)


def concat_of(scan: SmScan) -> Concat | None:
    """Concatenation info of a part: from its UDH when UDHI is set, else from sar_* TLVs."""
    concat = parse_concat_udh(scan.user_data) if scan.esm_class & ESM_UDHI else concat_from_sar(scan.tlvs)
    if concat is not None and not 1 <= concat.seq <= concat.total:
        raise MalformedPdu("concatenation seq outside 1..total", SmppCommandStatus.ESME_RINVESMCLASS)
    return concat


def decode_sm(pdu: bytes, header: PduHeader, scan: SmScan, cls: type[SubmitSm] = SubmitSm) -> SubmitSm:
    """Decode with aiosmpplib, after rewriting a class-carrying data_coding to its bare alphabet."""
    if not scan.user_data:
        raise MalformedPdu("empty message", SmppCommandStatus.ESME_RINVMSGLEN)
    coding = parse_data_coding(scan.data_coding)
    udh_length = scan.user_data[0] + 1 if scan.esm_class & ESM_UDHI else 0
    if coding.alphabet == ALPHABET_UCS2 and (len(scan.user_data) - udh_length) % 2:
        # the library's UTF-16 decoder is not final: it would drop the odd octet silently
        raise MalformedPdu("UCS-2 text of an odd number of octets", SmppCommandStatus.ESME_RINVMSGLEN)
    if coding.alphabet != scan.data_coding:
        pdu = pdu[: scan.dcs_offset] + bytes([coding.alphabet]) + pdu[scan.dcs_offset + 1 :]
    try:
        message = cls.from_pdu(pdu, header, DEFAULT_ENCODING)
    except UnicodeError as exc:
        raise MalformedPdu(f"text does not decode: {exc}", SmppCommandStatus.ESME_RINVMSGLEN) from exc
    except (ValueError, IndexError, KeyError, struct.error, TypeError) as exc:
        raise MalformedPdu(f"undecodable body: {exc!r}") from exc
    assert isinstance(message, SubmitSm)
    return message


def decode_deliver_sm(pdu: bytes, header: PduHeader) -> DeliverSm:
    """Decode a deliver_sm (used by tests and by anything that reads what the SMSC sent)."""
    message = decode_sm(pdu, header, scan_sm(pdu), DeliverSm)
    assert isinstance(message, DeliverSm)
    return message
