"""The MLP result codes the LES emulator answers with (OMA-TS-MLP-V3_5, section "Result codes").

On the wire a result is the spec's number and upper-case text: ``<result resid="5">ABSENT SUBSCRIBER</result>``.
Only the codes this emulator produces are listed.
"""

from __future__ import annotations

from enum import IntEnum


class ResultCode(IntEnum):
    """An MLP 3.5 result code: the member name is the spec's text with ``_`` for spaces."""

    OK = 0
    SYSTEM_FAILURE = 1
    UNAUTHORIZED_APPLICATION = 3
    UNKNOWN_SUBSCRIBER = 4
    ABSENT_SUBSCRIBER = 5
    POSITION_METHOD_FAILURE = 6
    TIMEOUT = 7
    CONGESTION_IN_LOCATION_SERVER = 101
    UNSUPPORTED_VERSION = 103
    TOO_MANY_POSITION_ITEMS = 104
    FORMAT_ERROR = 105
    SYNTAX_ERROR = 106
    PROTOCOL_ELEMENT_NOT_SUPPORTED = 107
    SERVICE_NOT_SUPPORTED = 108
    INVALID_PROTOCOL_ELEMENT_VALUE = 110
    INVALID_PROTOCOL_ELEMENT_ATTRIBUTE_VALUE = 111
    PROTOCOL_ELEMENT_VALUE_NOT_SUPPORTED = 112
    PROTOCOL_ELEMENT_ATTRIBUTE_VALUE_NOT_SUPPORTED = 113
    QOP_NOT_ATTAINABLE = 201
    POSITIONING_NOT_ALLOWED = 202
    CONGESTION_IN_MOBILE_NETWORK = 203

    @property
    def text(self) -> str:
        """The spec's wire text, e.g. ``POSITION METHOD FAILURE``."""
        return self.name.replace("_", " ")
