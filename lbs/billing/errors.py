"""Billing errors, in the house taxonomy (``lbs.errors``): each renders as ``{"status", "code", "message"}``.

Refusals for money are 402 Payment Required: the request is well formed and allowed, but the account cannot pay
for it now (a top-up fixes it). State clashes (a month closed twice, overlapping contracts) are 409.
"""

from __future__ import annotations

from lbs.errors import Conflict, LbsError


class PaymentRequired(LbsError):
    """The prepaid account cannot pay for the action; nothing was located or sent."""

    status = 402
    code = "PAYMENT_REQUIRED"


class InsufficientBalance(PaymentRequired):
    code = "INSUFFICIENT_BALANCE"


class BalanceExpired(PaymentRequired):
    code = "BALANCE_EXPIRED"


class MonthAlreadyClosed(Conflict):
    code = "MONTH_ALREADY_CLOSED"


class ContractOverlap(Conflict):
    code = "CONTRACT_OVERLAP"
