"""Pure rating: price plans, volume tiers, free allowances, revenue shares, recurring fees, statement lines.

No I/O here. Every amount is an ``int`` in minor units (cents) of the plan's currency; there is no float
anywhere in billing. Rounding happens in exactly one place, :func:`share_of` (floor: the operator keeps the
fraction of a cent).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum

from lbs.errors import InvalidArgument


class EventType(StrEnum):
    """What a CDR bills. One CDR is one unit: a location, one SMS segment, one MO."""

    LOCATION_ACTIVE = "location_active"  # a subscriber's active query located them (MLP SLIR)
    LOCATION_PASSIVE = "location_passive"  # a periodic or area report position (MLP triggered report)
    LOCATION_REST = "location_rest"  # a REST device-location call (CAMARA style)
    MT = "mt"  # one MT segment, paid by the provider
    MT_R = "mt_r"  # reverse-charged MT: the subscriber pays, the provider earns a share
    MO = "mo"  # an MO to the provider's short code
    MO_R = "mo_r"  # reverse-charged MO: the provider pays for the subscriber's request
    MO_PREMIUM = "mo_premium"  # premium MO: the subscriber pays a premium, the provider earns a share


class ChargingPoint(StrEnum):
    """When an MT is billed: when the SMSC accepts it, or only once its receipt says DELIVRD."""

    SUBMISSION = "submission"
    DELIVERY = "delivery"


class Account(StrEnum):
    """Prepaid accounts pay from credits reserved before each action; postpaid ones get a monthly statement."""

    PREPAID = "prepaid"
    POSTPAID = "postpaid"


SUBSCRIBER_PAID = frozenset({EventType.MT_R, EventType.MO_PREMIUM})
MT_TYPES = frozenset({EventType.MT, EventType.MT_R})
BASIS_POINTS = 10_000  # shares are given in basis points: 10,000 bp = 100 %
MAX_UNIT_PRICE_MINOR = 100_000  # 1,000.00 per unit: anything above is a typo, not a tariff
PLAN_CODE_RE = re.compile(r"^[A-Z][A-Z0-9_-]{1,31}$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
PERIOD_RE = re.compile(r"^(\d{4})-(\d{2})$")

DESCRIPTIONS: dict[EventType, str] = {
    EventType.LOCATION_ACTIVE: "Location, active lookup",
    EventType.LOCATION_PASSIVE: "Location, passive report",
    EventType.LOCATION_REST: "Location, REST device-location",
    EventType.MT: "MT SMS segment",
    EventType.MT_R: "MT-R (subscriber pays)",
    EventType.MO: "MO SMS",
    EventType.MO_R: "MO-R (reverse-charged MO)",
    EventType.MO_PREMIUM: "Premium MO (subscriber pays)",
}


@dataclass(frozen=True)
class Tier:
    """From the ``from_units``-th unit of the month (0-based), each unit costs ``unit_price_minor``."""

    from_units: int
    unit_price_minor: int


@dataclass(frozen=True)
class EventRate:
    """Graduated tiers for one event type, after ``free_units`` free units per month."""

    tiers: tuple[Tier, ...]
    free_units: int = 0


@dataclass(frozen=True)
class RatePlan:
    """A price plan: unit prices per event type, the MT charging point and the provider's revenue shares."""

    code: str
    name: str
    currency: str
    charging_point: ChargingPoint
    rates: Mapping[EventType, EventRate] = field(default_factory=dict)
    mt_r_share_bp: int = 0
    mo_premium_share_bp: int = 0

    def rate(self, event_type: EventType) -> EventRate:
        """The rate of ``event_type``; an event type the plan does not price costs nothing."""
        return self.rates.get(event_type, FREE)

    def share_bp(self, event_type: EventType) -> int:
        """The provider's share of what the subscriber pays, for subscriber-paid event types."""
        return {EventType.MT_R: self.mt_r_share_bp, EventType.MO_PREMIUM: self.mo_premium_share_bp}.get(event_type, 0)


FREE = EventRate(tiers=(Tier(0, 0),))


def flat(price_minor: int, free_units: int = 0) -> EventRate:
    """One price for every unit after the allowance."""
    return EventRate(tiers=(Tier(0, price_minor),), free_units=free_units)


# Used for a provider without a contract, so every event is recorded and priced even before sales signs one.
DEFAULT_PLAN = RatePlan(
    code="DEFAULT",
    name="Default LBS tariff",
    currency="EUR",
    charging_point=ChargingPoint.DELIVERY,
    rates={
        EventType.LOCATION_ACTIVE: flat(5),
        EventType.LOCATION_PASSIVE: flat(2),
        EventType.LOCATION_REST: flat(5),
        EventType.MT: flat(3),
        EventType.MT_R: flat(25),
        EventType.MO: flat(0),
        EventType.MO_R: flat(5),
        EventType.MO_PREMIUM: flat(100),
    },
    mt_r_share_bp=5_000,
    mo_premium_share_bp=6_000,
)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_price(value: object, where: str) -> int:
    """An integer number of minor units, 0 or more (fractional, negative or absurd prices are refused)."""
    if not _is_int(value):
        raise InvalidArgument(f"{where}: a price is a whole number of minor units (cents), not {value!r}")
    assert isinstance(value, int)
    if value < 0:
        raise InvalidArgument(f"{where}: a price cannot be negative ({value})")
    if value > MAX_UNIT_PRICE_MINOR:
        raise InvalidArgument(f"{where}: {value} minor units per unit is above the {MAX_UNIT_PRICE_MINOR} limit")
    return value


def validate_rate(rate: EventRate, where: str) -> None:
    """Tiers start at unit 0, rise strictly, and carry valid prices; the allowance is a whole number >= 0."""
    if not rate.tiers:
        raise InvalidArgument(f"{where}: at least one tier is needed")
    if rate.tiers[0].from_units != 0:
        raise InvalidArgument(f"{where}: the first tier must start at unit 0")
    for i, tier in enumerate(rate.tiers):
        if not _is_int(tier.from_units) or tier.from_units < 0:
            raise InvalidArgument(f"{where}: tier {i} from_units must be a whole number >= 0")
        if i and tier.from_units <= rate.tiers[i - 1].from_units:
            raise InvalidArgument(f"{where}: tiers must start at strictly increasing units")
        validate_price(tier.unit_price_minor, f"{where} tier {i}")
    if not _is_int(rate.free_units) or rate.free_units < 0:
        raise InvalidArgument(f"{where}: free_units must be a whole number >= 0")


def validate_plan(plan: RatePlan) -> None:
    """Raise :class:`InvalidArgument` naming the first problem of ``plan``."""
    if not PLAN_CODE_RE.match(plan.code):
        raise InvalidArgument(f"plan code {plan.code!r} must match {PLAN_CODE_RE.pattern}")
    if not CURRENCY_RE.match(plan.currency):
        raise InvalidArgument(f"currency {plan.currency!r} must be an ISO 4217 code such as EUR")
    for name, bp in (("mt_r_share_bp", plan.mt_r_share_bp), ("mo_premium_share_bp", plan.mo_premium_share_bp)):
        if not _is_int(bp) or not 0 <= bp <= BASIS_POINTS:
            raise InvalidArgument(f"{name} must be a whole number of basis points from 0 to {BASIS_POINTS}")
    for event_type, rate in plan.rates.items():
        validate_rate(rate, f"rates.{event_type.value}")


def price_of_unit(rate: EventRate, n: int) -> int:
    """The price of the ``n``-th unit of the month (0-based): free within the allowance, else its tier's price."""
    if n < rate.free_units:
        return 0
    price = rate.tiers[0].unit_price_minor
    for tier in rate.tiers:
        if tier.from_units > n:
            break
        price = tier.unit_price_minor
    return price


def rate_units(rate: EventRate, start: int, count: int) -> int:
    """The price of units ``start .. start+count-1``, summed tier by tier (no per-unit loop)."""
    total = 0
    end = start + count
    bounds = [*(t.from_units for t in rate.tiers[1:]), end]
    for tier, upper in zip(rate.tiers, bounds, strict=True):
        lo = max(start, tier.from_units, rate.free_units)
        hi = min(end, upper)
        if hi > lo:
            total += (hi - lo) * tier.unit_price_minor
    return total


def share_of(amount_minor: int, bp: int) -> int:
    """The provider's share of ``amount_minor`` at ``bp`` basis points, rounded down to the cent."""
    return amount_minor * bp // BASIS_POINTS


def format_minor(amount_minor: int, currency: str) -> str:
    """``12345, 'EUR'`` -> ``'123.45 EUR'``; integer arithmetic only."""
    sign = "-" if amount_minor < 0 else ""
    units, cents = divmod(abs(amount_minor), 100)
    return f"{sign}{units:,}.{cents:02d} {currency}"


# --- periods (calendar months, UTC) -------------------------------------------------------------------------


def parse_period(text: str) -> date:
    """``'2026-11'`` -> ``date(2026, 11, 1)``; anything else is an :class:`InvalidArgument`."""
    m = PERIOD_RE.match(text)
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 2000:
        raise InvalidArgument(f"a billing month is written YYYY-MM (e.g. 2026-11), not {text!r}")
    return date(int(m.group(1)), int(m.group(2)), 1)


def period_of(at: datetime) -> date:
    """The billing month of an instant (months are UTC calendar months)."""
    utc = at.astimezone(UTC)
    return date(utc.year, utc.month, 1)


def next_period(period: date) -> date:
    """The first day of the month after ``period``."""
    return date(period.year + period.month // 12, period.month % 12 + 1, 1)


def previous_period(period: date) -> date:
    """The first day of the month before ``period``."""
    return date(period.year - (period.month == 1), (period.month - 2) % 12 + 1, 1)


def period_label(period: date) -> str:
    return f"{period.year:04d}-{period.month:02d}"


# --- recurring fees --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeeSchedule:
    """The operator's monthly fees, in minor units (defaults: the published tariff)."""

    currency: str = "EUR"
    short_code_minor: int = 15_000  # 150 EUR a month per short code ...
    short_code_over_limit_minor: int = 50_000  # ... and 500 EUR from the 21st
    short_code_limit: int = 20
    throughput_minor: Mapping[int, int] = field(
        default_factory=lambda: {20: 80_000, 50: 160_000, 100: 250_000, 150: 300_000}
    )
    oadc_minor: int = 15_000  # 150 EUR a month for an alphanumeric originator (OADC)


@dataclass(frozen=True)
class ShortCodeHolding:
    """A short code a provider holds during a month, with its throughput option (SMS/s; 10 is the base)."""

    code: str
    throughput_tps: int


@dataclass(frozen=True)
class Line:
    """One statement line. ``amount_minor`` is signed: positive is owed by the provider, negative is a credit."""

    kind: str  # usage | fee | share
    description: str
    quantity: int
    amount_minor: int
    event_type: str | None = None
    short_code: str | None = None


def short_code_fee_lines(holdings: Sequence[ShortCodeHolding], schedule: FeeSchedule) -> list[Line]:
    """Monthly rent per short code and each throughput option; ``holdings`` in the order the provider acquired
    them, so the first ``short_code_limit`` codes are the cheaper ones and the later ones the dearer."""
    lines: list[Line] = []
    for i, holding in enumerate(holdings):
        over = i >= schedule.short_code_limit
        rent = schedule.short_code_over_limit_minor if over else schedule.short_code_minor
        label = f"Short code {holding.code} monthly fee" + (f" (beyond {schedule.short_code_limit})" if over else "")
        lines.append(Line("fee", label, 1, rent, short_code=holding.code))
        option = schedule.throughput_minor.get(holding.throughput_tps)
        if option:
            text = f"Throughput option {holding.throughput_tps} SMS/s on {holding.code}"
            lines.append(Line("fee", text, 1, option, short_code=holding.code))
    return lines


# --- usage aggregation and totals ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RatedUnit:
    """What a statement needs of one CDR."""

    event_type: EventType
    short_code: str | None
    payer: str  # provider | subscriber
    amount_minor: int
    share_minor: int
    account: Account = Account.POSTPAID

    @property
    def net_minor(self) -> int:
        """What this CDR adds to the provider's statement: its price, or minus the provider's share."""
        return self.amount_minor if self.payer == "provider" else -self.share_minor


@dataclass(frozen=True)
class UsageGroup:
    """CDRs summed per event type, short code and payer (what ``GROUP BY`` returns)."""

    event_type: EventType
    short_code: str | None
    payer: str
    units: int
    amount_minor: int
    share_minor: int
    prepaid_minor: int = 0


def group_units(units: Iterable[RatedUnit]) -> list[UsageGroup]:
    """Sum rated units the way the statement query does, in a stable order."""
    acc: dict[tuple[str, str, str], list[int]] = {}
    for u in units:
        key = (u.event_type.value, u.short_code or "", u.payer)
        row = acc.setdefault(key, [0, 0, 0, 0])
        row[0] += 1
        row[1] += u.amount_minor
        row[2] += u.share_minor
        row[3] += u.amount_minor if u.account is Account.PREPAID and u.payer == "provider" else 0
    return [UsageGroup(EventType(k[0]), k[1] or None, k[2], v[0], v[1], v[2], v[3]) for k, v in sorted(acc.items())]


def usage_lines(groups: Iterable[UsageGroup]) -> list[Line]:
    """One usage line per provider-paid group; one (negative) revenue-share line per subscriber-paid group."""
    lines = []
    for g in groups:
        where = f" via {g.short_code}" if g.short_code else ""
        label = DESCRIPTIONS[g.event_type] + where
        if g.payer == "provider":
            lines.append(Line("usage", label, g.units, g.amount_minor, g.event_type.value, g.short_code))
        else:
            lines.append(
                Line("share", f"Revenue share: {label}", g.units, -g.share_minor, g.event_type.value, g.short_code)
            )
    return lines


@dataclass(frozen=True)
class Totals:
    """Statement totals, excluding tax. ``due = total - prepaid`` (usage already paid from prepaid credits)."""

    usage_minor: int
    fees_minor: int
    share_minor: int
    total_minor: int
    prepaid_minor: int
    due_minor: int


def totals(lines: Iterable[Line], prepaid_minor: int = 0) -> Totals:
    """Add up statement lines: usage + fees - revenue shares."""
    usage = fees = share = 0
    for line in lines:
        if line.kind == "usage":
            usage += line.amount_minor
        elif line.kind == "fee":
            fees += line.amount_minor
        else:
            share -= line.amount_minor
    total = usage + fees - share
    return Totals(usage, fees, share, total, prepaid_minor, total - prepaid_minor)
