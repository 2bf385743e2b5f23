"""Subscriber numbers: parse anything a handset or a provider sends into E.164."""

from __future__ import annotations

import phonenumbers

from lbs.errors import InvalidArgument

# Numbers without a leading "+" are read as Belgian: the demo operator's home network.
DEFAULT_REGION = "BE"


def to_e164(raw: str, region: str = DEFAULT_REGION) -> str:
    """Return ``raw`` as an E.164 string (``+32470000001``) or raise :class:`InvalidArgument`."""
    text = raw.strip()
    if text.isdigit() and len(text) > 9 and not text.startswith("0"):
        text = "+" + text  # SMPP carries international numbers without the "+"
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidArgument(f"not a phone number: {raw!r} ({exc})") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidArgument(f"not a valid phone number: {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_short_code(raw: str) -> bool:
    """Short codes are 3 to 6 digits (3311, 36xxx)."""
    return raw.isdigit() and 3 <= len(raw) <= 6
