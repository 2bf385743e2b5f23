"""How a simulated handset encodes and splits the text it sends (GSM 03.38 / 23.040), apart from the platform's.

User data is 140 octets: 160 GSM-7 septets or 70 UCS-2 units in one message, 153 or 67 per part once a
concatenation UDH takes 6 octets. An extension-table character (``€``, ``{``...) is ESC plus a code: two septets,
never split; an astral character (most emoji) is a UTF-16 surrogate pair: two units, never split either.
"""

from __future__ import annotations

from typing import Final, Literal

Encoding = Literal["gsm0338", "ucs2"]

# The default alphabet (0x00..0x7F without 0x1B, the escape) and the extension table reached through ESC.
_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_EXTENSION: Final = frozenset("\f^{}\\[~]|€")
# (single message, per concatenated part) capacity in septets or UTF-16 units.
_CAPACITY: Final[dict[Encoding, tuple[int, int]]] = {"gsm0338": (160, 153), "ucs2": (70, 67)}


def encoding_for(text: str) -> Encoding:
    """GSM-7 when every character is in the default alphabet or its extension table, else UCS-2."""
    return "gsm0338" if all(c in _BASIC or c in _EXTENSION for c in text) else "ucs2"


def _cost(encoding: Encoding, char: str) -> int:
    if encoding == "gsm0338":
        return 2 if char in _EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1


def split_segments(text: str) -> list[str]:
    """The parts a handset sends ``text`` as: itself if it fits one message, else parts filled greedily.

    No character straddles two parts; ``"".join(parts) == text``; an empty text is one empty part.
    """
    encoding = encoding_for(text)
    single, per_part = _CAPACITY[encoding]
    costs = [_cost(encoding, c) for c in text]
    if sum(costs) <= single:
        return [text]
    parts, start, used = [], 0, 0
    for index, cost in enumerate(costs):
        if used + cost > per_part:
            parts.append(text[start:index])
            start, used = index, 0
        used += cost
    parts.append(text[start:])
    return parts
