"""MLP result codes (OMA-TS-MLP-V3_5, section "Result codes") shared by the client and the LES emulator.

The numbers and the upper-case texts are the spec's; both travel on the wire as
``<result resid="5">ABSENT SUBSCRIBER</result>``.
"""

from __future__ import annotations

from enum import IntEnum


class ResultCode(IntEnum):
    """Every MLP 3.5 result code the platform and the emulator use."""

    OK = 0
    SYSTEM_FAILURE = 1
    UNSPECIFIED_ERROR = 2
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
    PROTOCOL_ELEMENT_ATTRIBUTE_NOT_SUPPORTED = 109
    INVALID_PROTOCOL_ELEMENT_VALUE = 110
    INVALID_PROTOCOL_ELEMENT_ATTRIBUTE_VALUE = 111
    PROTOCOL_ELEMENT_VALUE_NOT_SUPPORTED = 112
    PROTOCOL_ELEMENT_ATTRIBUTE_VALUE_NOT_SUPPORTED = 113
    CANCELLATION_OF_TRIGGERED_LOCATION_REQUEST = 114
    INVALID_MSID_IN_TLRSR = 115
    TLRSR_FOR_INDIVIDUAL_TARGET_NOT_SUPPORTED = 116
    QOP_NOT_ATTAINABLE = 201
    POSITIONING_NOT_ALLOWED = 202
    CONGESTION_IN_MOBILE_NETWORK = 203
    DISALLOWED_BY_LOCAL_REGULATIONS = 204
    MISCONFIGURATION_OF_LOCATION_SERVER = 207
    STANDARD_LOCATION_REPORT_SERVICE_NOT_SUPPORTED = 601
    MLS_CLIENT_ERROR = 602

    @property
    def text(self) -> str:
        """The spec's wire text, e.g. ``POSITION METHOD FAILURE``."""
        return self.name.replace("_", " ")

    @classmethod
    def parse(cls, resid: str | None) -> ResultCode:
        """Read a ``resid`` attribute; unknown or missing codes become UNSPECIFIED_ERROR."""
        try:
            return cls(int(resid or ""))
        except ValueError:
            return cls.UNSPECIFIED_ERROR


# Codes worth a retry: the server or the network was busy or broken, not the request.
TRANSIENT_CODES = frozenset(
    {
        ResultCode.SYSTEM_FAILURE,
        ResultCode.CONGESTION_IN_LOCATION_SERVER,
        ResultCode.CONGESTION_IN_MOBILE_NETWORK,
    }
)
