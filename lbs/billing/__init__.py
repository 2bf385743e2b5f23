"""Billing: rating and charging of locations and messages, prepaid balances, postpaid monthly statements.

The interface other parts call (see ``docs/billing.md``)::

    from lbs.billing import LocationKind, LocationResult, MtSegment, MoMessage, MoCharge
    from lbs.billing import record, on_receipt, reserve, release
"""

from lbs.billing.batch import record_many
from lbs.billing.errors import BalanceExpired, InsufficientBalance, MonthAlreadyClosed
from lbs.billing.events import (
    BillableEvent,
    Cdr,
    LocationKind,
    LocationResult,
    MoCharge,
    MoMessage,
    MtSegment,
    on_receipt,
    record,
)
from lbs.billing.prepaid import Reservation, release, reserve
from lbs.billing.rating import Account, ChargingPoint, EventType

__all__ = [
    "Account",
    "BalanceExpired",
    "BillableEvent",
    "Cdr",
    "ChargingPoint",
    "EventType",
    "InsufficientBalance",
    "LocationKind",
    "LocationResult",
    "MoCharge",
    "MoMessage",
    "MonthAlreadyClosed",
    "MtSegment",
    "Reservation",
    "on_receipt",
    "record",
    "record_many",
    "release",
    "reserve",
]
