"""SMS text encoding: GSM 03.38 default alphabet or UCS-2, septet counting and concatenation (pure, no I/O).

An SMS carries 140 octets of user data: 160 GSM-7 septets or 70 UCS-2 code units. A concatenated part gives
6 octets to its UDH, leaving 153 septets or 67 units. A GSM-7 extension character (``€``, ``{``, ``[``...) is
sent as ESC plus a code, so it costs two septets, and the pair is never split across parts; a character
outside the Basic Multilingual Plane (most emoji) is a UTF-16 surrogate pair, two units, never split either.
aiosmpplib 0.7.4 counts characters instead of septets (``'€' * 100`` is one part for it); count here.
"""

from __future__ import annotations

from typing import Final, Literal

Encoding = Literal["gsm0338", "ucs2"]

# GSM 03.38 default alphabet in code order (0x00..0x7F), without 0x1B: that code is the escape, not a character.
GSM7_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each is sent as ESC (0x1B) + a code, so it costs two septets.
GSM7_EXTENSION: Final = frozenset("\f^{}\\[~]|€")

# Single-part limits and per-part limits once a 6-octet concatenation UDH (8-bit reference) takes its share.
GSM7_SINGLE: Final = 160
GSM7_PART: Final = 153
UCS2_SINGLE: Final = 70
UCS2_PART: Final = 67

# SMPP data_coding values for each encoding (SMPP 3.4 §5.2.19).
DATA_CODING: Final[dict[Encoding, int]] = {"gsm0338": 0x00, "ucs2": 0x08}


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` is in the GSM 03.38 default alphabet or its extension table."""
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)


def char_septets(char: str) -> int:
    """Septets one GSM-7 character costs: 2 for the extension table, else 1 (the caller checked it is GSM-7)."""
    return 2 if char in GSM7_EXTENSION else 1


def septets(text: str) -> int:
    """Septets ``text`` takes in GSM-7 (extension characters count 2); ``ValueError`` if it is not GSM-7."""
    if not is_gsm7(text):
        raise ValueError("text is not in the GSM 03.38 alphabet")
    return sum(char_septets(char) for char in text)


def utf16_units(text: str) -> int:
    """UTF-16 code units of ``text``: what UCS-2 on the wire (really UTF-16BE) costs, 2 per astral character."""
    return sum(2 if ord(char) > 0xFFFF else 1 for char in text)


def encoding_for(text: str) -> Encoding:
    """The encoding to send ``text`` with: GSM-7 when it fits the alphabet, otherwise UCS-2."""
    return "gsm0338" if is_gsm7(text) else "ucs2"


def _unit_cost(encoding: Encoding, char: str) -> int:
    if encoding == "gsm0338":
        return char_septets(char)
    return 2 if ord(char) > 0xFFFF else 1


def split_segments(text: str) -> list[str]:
    """Split ``text`` into the parts it is sent as: one part if it fits a single SMS, else UDH-sized parts.

    Parts are filled greedily, and a character never straddles two parts, so an escape pair or a surrogate
    pair stays whole. ``"".join(parts) == text`` always; an empty text is one empty part.
    """
    encoding = encoding_for(text)
    single, part_limit = (GSM7_SINGLE, GSM7_PART) if encoding == "gsm0338" else (UCS2_SINGLE, UCS2_PART)
    costs = [_unit_cost(encoding, char) for char in text]
    if sum(costs) <= single:
        return [text]
    parts: list[str] = []
    start, used = 0, 0
    for index, cost in enumerate(costs):
        if used + cost > part_limit:
            parts.append(text[start:index])
            start, used = index, 0
        used += cost
    parts.append(text[start:])
    return parts


def segment_count(text: str) -> int:
    """How many SMS ``text`` is billed and sent as (GSM-7: 160, then 153 per part; UCS-2: 70, then 67)."""
    return len(split_segments(text))
