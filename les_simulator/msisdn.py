"""Subscriber numbers as the operator's network sees them: E.164 MSISDNs and short codes.

SMPP carries international numbers as digits without the ``+`` (TON 1); MLP ``msid`` elements and the control
APIs may carry either form, or a national number of the home network.
"""

from __future__ import annotations

import phonenumbers

from les_simulator.errors import InvalidArgument

# The emulated operator's home network: numbers without a country code are Belgian.
HOME_REGION = "BE"


def to_e164(raw: str, region: str = HOME_REGION) -> str:
    """``raw`` as E.164 (``+32470000001``); :class:`InvalidArgument` when it is no valid phone number."""
    text = raw.strip()
    if text.isdigit() and len(text) > 9 and not text.startswith("0"):
        text = "+" + text  # international digits as SMPP sends them
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidArgument(f"not a phone number: {raw!r} ({exc})") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidArgument(f"not a valid phone number: {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_short_code(raw: str) -> bool:
    """Short codes are 3 to 6 digits (3311, 36xxx), as the operator numbers its services."""
    return raw.isdigit() and 3 <= len(raw) <= 6
