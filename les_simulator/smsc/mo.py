"""MO messages: what a simulated handset sends to a short code, as the deliver_sm PDUs an SMSC emits.

Long texts are split like a phone would (``les_simulator.smsc.gsm``: 153 septets or 67 UCS-2 units per part) and
carry a concatenation UDH, with an 8-bit reference by default or a 16-bit one on request (aiosmpplib 0.7.4
never reassembles those: the platform's workaround can be tested against it).
"""

from __future__ import annotations

import struct

from aiosmpplib import NPI, TON, DeliverSm, PhoneNumber
from aiosmpplib.codec import find_codec_info

from les_simulator.errors import InvalidArgument
from les_simulator.msisdn import is_short_code
from les_simulator.smsc.gsm import encoding_for, split_segments
from les_simulator.smsc.wire import ESM_UDHI, IE_CONCAT_8BIT, IE_CONCAT_16BIT


def concat_udh(ref: int, total: int, seq: int, ref_bits: int = 8) -> bytes:
    """The user data header of one part of a concatenated message."""
    if ref_bits == 16:
        return bytes([6, IE_CONCAT_16BIT, 4]) + struct.pack("!H", ref & 0xFFFF) + bytes([total, seq])
    return bytes([5, IE_CONCAT_8BIT, 3, ref & 0xFF, total, seq])


def handset_address(msisdn: str) -> PhoneNumber:
    """An E.164 MSISDN as SMPP sends it: international digits, TON 1 (international), NPI 1 (ISDN)."""
    return PhoneNumber(msisdn.lstrip("+"), TON.INTERNATIONAL, NPI.ISDN)


def service_address(number: str) -> PhoneNumber:
    """The MO destination: a short code (network specific, as operators number them) or a long number."""
    if is_short_code(number):
        return PhoneNumber(number, TON.NETWORK_SPECIFIC, NPI.UNKNOWN)
    return handset_address(number)


def mo_pdus(msisdn: str, short_code: str, text: str, ref: int, ref_bits: int = 8) -> list[DeliverSm]:
    """The deliver_sm PDUs of one MO: one, or one per part with a concatenation UDH.

    Raises :class:`InvalidArgument` for text no handset could send (a lone UTF-16 surrogate).
    """
    try:
        text.encode("utf-16-be")
    except UnicodeEncodeError as exc:
        raise InvalidArgument(f"text cannot be sent as UCS-2: {exc.reason}") from exc
    encoding = encoding_for(text)
    parts = split_segments(text)
    source, destination = handset_address(msisdn), service_address(short_code)
    if len(parts) == 1:
        return [
            DeliverSm(
                short_message=text, source=source, destination=destination, encoding=encoding, registered_delivery=0
            )
        ]
    codec = find_codec_info(encoding)
    pdus = []
    for seq, part in enumerate(parts, start=1):
        pdu = DeliverSm(
            short_message=part,
            source=source,
            destination=destination,
            encoding=encoding,
            esm_class=ESM_UDHI,
            registered_delivery=0,
        )
        pdu.set_encoded_message(concat_udh(ref, len(parts), seq, ref_bits) + codec.encode(part)[0])
        pdus.append(pdu)
    return pdus
