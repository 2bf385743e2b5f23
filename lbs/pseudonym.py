"""Pseudonyms: how the platform refers to a subscriber in events, audit, opt-outs and logs without the MSISDN.

Its own module because every part needs it (consent, messaging, geofences) and none should import another for it.
"""

from __future__ import annotations

import hashlib
import hmac


def pseudonym(key: str, msisdn: str) -> str:
    """The subject reference stored for ``msisdn``: HMAC-SHA256 under the platform's pseudonym key."""
    return hmac.new(key.encode(), msisdn.encode(), hashlib.sha256).hexdigest()
