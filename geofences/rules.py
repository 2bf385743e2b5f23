"""Promotion rules, pure: does this transition fire this promotion now, and what does the SMS say?

A transition fires a promotion only if, in this order (the first failing rule is the reason counted):

1. the promotion is active (not paused or deleted) and the transition is the one it waits for;
2. now is within its validity period, on one of its days, within its hours (in its time zone);
3. the subscriber's consent allows geofencing *and* marketing for the promotion's application;
4. the subscriber has not opted out (STOP, globally or for the brand);
5. the per-subscriber cap (N per promotion, or N per local day) and the budget (messages, money) allow it;
6. the marketing window is open (08-22 on working days, :func:`lbs.messaging.rules.next_marketing_slot`): a
   geofence offer deferred to tomorrow morning would reach someone long gone, so it is suppressed, not deferred.

The one-per-brand-per-day rule is the messaging outbox's (``marketing_sends``); the caller counts its refusal too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum
from zoneinfo import ZoneInfo

from lbs.errors import InvalidArgument

PLACEHOLDERS = frozenset({"name", "shop", "distance", "coupon"})


class Outcome(StrEnum):
    """Why a trigger fired or not (the report's ``suppressed:<reason>`` counters)."""

    FIRED = "fired"
    PAUSED = "paused"
    OTHER_TRANSITION = "other_transition"
    NOT_STARTED = "not_started"
    ENDED = "ended"
    OFF_DAY = "off_day"
    OFF_HOURS = "off_hours"
    NO_GEOFENCING_CONSENT = "no_geofencing_consent"
    NO_MARKETING_CONSENT = "no_marketing_consent"
    OPTED_OUT = "opted_out"
    SUBSCRIBER_CAP = "subscriber_cap"
    BUDGET = "budget"
    QUIET_HOURS = "quiet_hours"
    DAILY_BRAND_CAP = "daily_brand_cap"


@dataclass(frozen=True, slots=True)
class Promotion:
    """What the rules need of a promotion (a row of ``promotions``)."""

    id: int
    application: str
    brand: str
    trigger: str  # enter | exit | dwell
    status: str  # active | paused | deleted
    valid_from: datetime
    valid_until: datetime
    days: str = "1234567"  # ISO weekdays, Monday = 1
    hours_from: time = time(0, 0)
    hours_until: time = time(23, 59, 59)
    timezone: str = "Europe/Brussels"
    cap_count: int = 1
    cap_period: str = "promotion"  # promotion | day
    budget_messages: int | None = None
    budget_minor: int | None = None


@dataclass(frozen=True, slots=True)
class Facts:
    """What the caller looked up for one (subscriber, promotion) at ``now``."""

    now: datetime
    geofencing_allowed: bool
    marketing_allowed: bool
    opted_out: bool
    subscriber_sends: int  # fired for this subscriber: in the promotion's life (cap 'promotion') or today ('day')
    promotion_sends: int  # fired in total
    promotion_spent_minor: int
    price_minor: int  # what one more message costs
    marketing_open: bool  # the marketing window is open now


def decide(promotion: Promotion, transition: str, facts: Facts) -> Outcome:
    """The first rule that refuses, or FIRED."""
    if promotion.status != "active":
        return Outcome.PAUSED
    if transition != promotion.trigger:
        return Outcome.OTHER_TRANSITION
    timing = _timing(promotion, facts.now)
    if timing is not None:
        return timing
    if not facts.geofencing_allowed:
        return Outcome.NO_GEOFENCING_CONSENT
    if not facts.marketing_allowed:
        return Outcome.NO_MARKETING_CONSENT
    if facts.opted_out:
        return Outcome.OPTED_OUT
    if facts.subscriber_sends >= promotion.cap_count:
        return Outcome.SUBSCRIBER_CAP
    if not _within_budget(promotion, facts):
        return Outcome.BUDGET
    if not facts.marketing_open:
        return Outcome.QUIET_HOURS
    return Outcome.FIRED


def _timing(promotion: Promotion, now: datetime) -> Outcome | None:
    if now < promotion.valid_from:
        return Outcome.NOT_STARTED
    if now >= promotion.valid_until:
        return Outcome.ENDED
    local = now.astimezone(ZoneInfo(promotion.timezone))
    if str(local.isoweekday()) not in promotion.days:
        return Outcome.OFF_DAY
    if not promotion.hours_from <= local.time() <= promotion.hours_until:
        return Outcome.OFF_HOURS
    return None


def _within_budget(promotion: Promotion, facts: Facts) -> bool:
    if promotion.budget_messages is not None and facts.promotion_sends >= promotion.budget_messages:
        return False
    return promotion.budget_minor is None or facts.promotion_spent_minor + facts.price_minor <= promotion.budget_minor


def local_day_start(promotion: Promotion, now: datetime) -> datetime:
    """Midnight of the promotion's local day containing ``now`` (for 'N per day' caps)."""
    local = now.astimezone(ZoneInfo(promotion.timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def check_template(template: str) -> str:
    """The template if it is plain text with the known placeholders ({name}, {shop}, {distance}, {coupon}).

    ``{{`` and ``}}`` stand for literal braces. Format specs, conversions and nesting (``{name:d}``,
    ``{name!r}``, ``{name:>999999999}``, ``{name:{x}}``) are refused: :func:`render` is no ``str.format``.
    """
    if not template.strip():
        raise InvalidArgument("template: empty")
    names = [value for kind, value in _tokens(template) if kind == "field"]
    bad = [value for kind, value in _tokens(template) if kind == "error"]
    if bad:
        raise InvalidArgument(
            f"template: {bad[0]!r} is not a placeholder; write {{name}}, {{shop}}, {{distance}} or {{coupon}}"
            " (no format specs, conversions or nesting) and {{{{ }}}} for literal braces"
        )
    unknown = sorted({n for n in names if n not in PLACEHOLDERS})
    if unknown:
        raise InvalidArgument(f"template: unknown placeholders {unknown}; use {sorted(PLACEHOLDERS)}")
    return template


def render(template: str, *, name: str, shop: str, distance_m: float | None, coupon: str | None) -> str:
    """The SMS text of a promotion (the opt-out mention is added by the outbox).

    Total: never raises, whatever the stored template (a row written before :func:`check_template` refused
    format specs keeps its odd parts as literal text).
    """
    distance = (
        "" if distance_m is None else (f"{distance_m:.0f} m" if distance_m < 1000 else f"{distance_m / 1000:.1f} km")
    )
    values = {"name": name, "shop": shop, "distance": distance, "coupon": coupon or ""}
    parts = []
    for kind, value in _tokens(template):
        if kind == "field":
            parts.append(values.get(value, "{" + value + "}"))
        else:
            parts.append(value)
    return "".join(parts)


_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _tokens(template: str) -> Iterator[tuple[str, str]]:
    """("text", literal) / ("field", name) / ("error", what) pieces of a template, left to right."""
    i, n = 0, len(template)
    while i < n:
        brace = min((j for j in (template.find("{", i), template.find("}", i)) if j >= 0), default=n)
        if brace > i:
            yield "text", template[i:brace]
            i = brace
            continue
        pair = template[i : i + 2]
        if pair in ("{{", "}}"):
            yield "text", pair[0]
            i += 2
            continue
        field = _FIELD.match(template, i)
        if field is not None:
            yield "field", field.group(1)
            i = field.end()
            continue
        end = template.find("}", i + 1)
        piece = template[i : end + 1] if template[i] == "{" and end > 0 else template[i]
        yield "error", piece
        i += len(piece)
