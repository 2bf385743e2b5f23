"""Delivery receipts: the deliver_sm an SMSC sends back when registered_delivery asks for one.

The text is the de-facto standard of SMPP 3.4 Appendix B::

    id:IIIIIIIIII sub:001 dlvrd:001 submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DELIVRD err:000 Text:...

Dates have 10 digits by default. Many real SMSCs add seconds (12 digits), which aiosmpplib 0.7.4's
``parse_receipt`` cannot read; ``SmscSettings.smsc_dlr_seconds`` (or the ``dlr_seconds`` mode, at run time) turns
them on so the platform's workaround can be tested.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from aiosmpplib import NPI, TON, DeliverSm, OptionalParam, PhoneNumber

from les_simulator.smsc.handsets import MtPart
from les_simulator.smsc.modes import ReceiptStat
from les_simulator.smsc.wire import TAG_MESSAGE_STATE, TAG_RECEIPTED_MESSAGE_ID

ESM_CLASS_RECEIPT: Final = 0x04
# registered_delivery bits 0-1 (SMPP 3.4 §5.2.17): 1 = receipt on success or failure, 2 = on failure only.
RECEIPT_ALWAYS: Final = 1
RECEIPT_ON_FAILURE: Final = 2

# message_state TLV values (SMPP 3.4 §5.2.28) and the err: code each outcome carries.
MESSAGE_STATE: Final[dict[str, int]] = {"DELIVRD": 2, "EXPIRED": 3, "UNDELIV": 5, "REJECTD": 8}
ERROR_CODE: Final[dict[str, int]] = {"DELIVRD": 0, "UNDELIV": 1, "EXPIRED": 27, "REJECTD": 11}
RECEIPT_TEXT_CHARS: Final = 20


def wants_receipt(registered_delivery: int, stat: ReceiptStat) -> bool:
    """Whether the ESME asked for a receipt of this outcome."""
    requested = registered_delivery & 0x03
    return requested == RECEIPT_ALWAYS or (requested == RECEIPT_ON_FAILURE and stat != "DELIVRD")


def smpp_date(moment: datetime, seconds: bool = False) -> str:
    """``YYMMDDhhmm`` (or ``YYMMDDhhmmss`` with ``seconds``)."""
    return moment.strftime("%y%m%d%H%M%S" if seconds else "%y%m%d%H%M")


def receipt_text(part: MtPart, stat: ReceiptStat, done: datetime, seconds: bool = False) -> str:
    """The standard receipt text for one submitted part."""
    delivered = 1 if stat == "DELIVRD" else 0
    return (
        f"id:{part.message_id} sub:001 dlvrd:{delivered:03d}"
        f" submit date:{smpp_date(part.submitted_at, seconds)} done date:{smpp_date(done, seconds)}"
        f" stat:{stat} err:{ERROR_CODE[stat]:03d} Text:{part.text[:RECEIPT_TEXT_CHARS]}"
    )


def receipt_pdu(part: MtPart, stat: ReceiptStat, done: datetime, seconds: bool = False) -> DeliverSm:
    """The receipt deliver_sm: from the handset to the short code that sent the MT (addresses swapped)."""
    source_is_number = part.recipient.startswith("+")
    return DeliverSm(
        short_message=receipt_text(part, stat, done, seconds),
        source=PhoneNumber(part.recipient.lstrip("+"), TON.INTERNATIONAL, NPI.ISDN)
        if source_is_number
        else PhoneNumber(part.recipient),
        destination=PhoneNumber(part.sender),
        esm_class=ESM_CLASS_RECEIPT,
        registered_delivery=0,
        error_handling="replace",  # the Text: excerpt may hold characters GSM-7 lacks
        optional_params=[
            OptionalParam(TAG_RECEIPTED_MESSAGE_ID, part.message_id),
            OptionalParam(TAG_MESSAGE_STATE, MESSAGE_STATE[stat]),
        ],
    )
