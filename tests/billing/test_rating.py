"""Pure rating: tiers, allowances, rounding, plan validation, fees and statement totals (exhaustive + hypothesis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbs.billing.rating import (
    DEFAULT_PLAN,
    Account,
    ChargingPoint,
    EventRate,
    EventType,
    FeeSchedule,
    Line,
    RatedUnit,
    RatePlan,
    ShortCodeHolding,
    Tier,
    flat,
    format_minor,
    group_units,
    next_period,
    parse_period,
    period_of,
    price_of_unit,
    rate_units,
    share_of,
    short_code_fee_lines,
    totals,
    usage_lines,
    validate_plan,
)
from lbs.errors import InvalidArgument

TIERED = EventRate((Tier(0, 5), Tier(1000, 4), Tier(10_000, 3)), free_units=100)


@pytest.mark.parametrize(
    ("n", "price"),
    [(0, 0), (99, 0), (100, 5), (999, 5), (1000, 4), (9_999, 4), (10_000, 3), (10**9, 3)],
)
def test_price_of_unit_allowance_then_tiers(n: int, price: int) -> None:
    assert price_of_unit(TIERED, n) == price


def test_allowance_larger_than_a_tier_boundary() -> None:
    rate = EventRate((Tier(0, 5), Tier(10, 2)), free_units=20)
    assert [price_of_unit(rate, n) for n in (0, 9, 10, 19, 20, 21)] == [0, 0, 0, 0, 2, 2]
    assert rate_units(rate, 0, 25) == 5 * 2


def test_rate_units_examples() -> None:
    assert rate_units(TIERED, 0, 100) == 0
    assert rate_units(TIERED, 0, 1000) == 900 * 5
    assert rate_units(TIERED, 990, 20) == 10 * 5 + 10 * 4
    assert rate_units(TIERED, 0, 0) == 0
    assert rate_units(flat(3), 0, 7) == 21


rates = st.builds(
    lambda starts, prices, free: EventRate(
        tuple(Tier(s, p) for s, p in zip([0, *sorted(set(starts))], prices, strict=False)), free
    ),
    st.lists(st.integers(1, 500), max_size=4),
    st.lists(st.integers(0, 1000), min_size=5, max_size=5),
    st.integers(0, 300),
)


@given(rates, st.integers(0, 600), st.integers(0, 200))
def test_rate_units_equals_the_sum_of_unit_prices(rate: EventRate, start: int, count: int) -> None:
    assert rate_units(rate, start, count) == sum(price_of_unit(rate, n) for n in range(start, start + count))


@given(rates, st.integers(0, 600), st.integers(0, 100), st.integers(0, 100))
def test_rate_units_is_additive(rate: EventRate, start: int, a: int, b: int) -> None:
    assert rate_units(rate, start, a + b) == rate_units(rate, start, a) + rate_units(rate, start + a, b)


@given(st.integers(0, 10**9), st.integers(0, 10_000))
def test_share_is_floor_and_never_exceeds_the_amount(amount: int, bp: int) -> None:
    share = share_of(amount, bp)
    assert 0 <= share <= amount
    assert share * 10_000 <= amount * bp < (share + 1) * 10_000


def test_share_rounding_examples() -> None:
    assert share_of(25, 5_000) == 12  # 12.5 -> 12: the operator keeps the half cent
    assert share_of(100, 6_000) == 60
    assert share_of(1, 9_999) == 0
    assert share_of(7, 10_000) == 7


def plan(**kw: object) -> RatePlan:
    base: dict[str, object] = {
        "code": "P1",
        "name": "p",
        "currency": "EUR",
        "charging_point": ChargingPoint.DELIVERY,
        "rates": {EventType.MT: flat(3)},
    }
    base.update(kw)
    return RatePlan(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"rates": {EventType.MT: flat(-1)}}, "negative"),
        ({"rates": {EventType.MT: EventRate((Tier(0, 2.5),))}}, "whole number"),  # type: ignore[arg-type]
        ({"rates": {EventType.MT: EventRate((Tier(0, True),))}}, "whole number"),
        ({"rates": {EventType.MT: flat(10**7)}}, "limit"),
        ({"rates": {EventType.MT: EventRate(())}}, "at least one tier"),
        ({"rates": {EventType.MT: EventRate((Tier(5, 1),))}}, "unit 0"),
        ({"rates": {EventType.MT: EventRate((Tier(0, 3), Tier(10, 2), Tier(10, 1)))}}, "increasing"),
        ({"rates": {EventType.MT: EventRate((Tier(0, 3),), free_units=-1)}}, "free_units"),
        ({"code": "lower"}, "plan code"),
        ({"code": ""}, "plan code"),
        ({"currency": "euro"}, "currency"),
        ({"mt_r_share_bp": 10_001}, "mt_r_share_bp"),
        ({"mo_premium_share_bp": -1}, "mo_premium_share_bp"),
    ],
)
def test_bad_plans_are_refused(kw: dict[str, object], needle: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        validate_plan(plan(**kw))
    assert needle in err.value.message


def test_good_plans_pass() -> None:
    validate_plan(DEFAULT_PLAN)
    validate_plan(plan(rates={EventType.MT: TIERED}, mt_r_share_bp=10_000))


def test_unpriced_event_types_cost_nothing() -> None:
    assert price_of_unit(plan().rate(EventType.LOCATION_REST), 5) == 0
    assert plan(mt_r_share_bp=300).share_bp(EventType.MT) == 0
    assert plan(mt_r_share_bp=300).share_bp(EventType.MT_R) == 300


@pytest.mark.parametrize(
    ("amount", "text"),
    [(0, "0.00 EUR"), (3, "0.03 EUR"), (12345, "123.45 EUR"), (-150, "-1.50 EUR"), (123456789, "1,234,567.89 EUR")],
)
def test_format_minor(amount: int, text: str) -> None:
    assert format_minor(amount, "EUR") == text


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-11", "2026-1", "november", "1999-12", "2026-11-01"])
def test_bad_periods(text: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_period(text)


def test_periods() -> None:
    assert parse_period("2026-11") == date(2026, 11, 1)
    assert next_period(date(2026, 12, 1)) == date(2027, 1, 1)
    assert next_period(date(2026, 1, 1)) == date(2026, 2, 1)
    # Months are UTC: 00:30 on 1 December in Brussels is still November in UTC.
    brussels = timezone(timedelta(hours=1))
    assert period_of(datetime(2026, 12, 1, 0, 30, tzinfo=brussels)) == date(2026, 11, 1)
    assert period_of(datetime(2026, 12, 1, 0, 30, tzinfo=UTC)) == date(2026, 12, 1)


def test_short_code_fees_first_twenty_then_dearer() -> None:
    holdings = [ShortCodeHolding(f"{3000 + i}", 10) for i in range(22)]
    lines = short_code_fee_lines(holdings, FeeSchedule())
    assert [ln.amount_minor for ln in lines] == [15_000] * 20 + [50_000] * 2
    assert "beyond 20" in lines[-1].description


@pytest.mark.parametrize(("tps", "fee"), [(10, None), (20, 80_000), (50, 160_000), (100, 250_000), (150, 300_000)])
def test_throughput_options(tps: int, fee: int | None) -> None:
    lines = short_code_fee_lines([ShortCodeHolding("3311", tps)], FeeSchedule())
    assert lines[0].amount_minor == 15_000
    assert [ln.amount_minor for ln in lines[1:]] == ([fee] if fee else [])


def test_usage_and_share_lines() -> None:
    units = [
        RatedUnit(EventType.MT, "3311", "provider", 3, 0),
        RatedUnit(EventType.MT, "3311", "provider", 3, 0),
        RatedUnit(EventType.MT_R, "3311", "subscriber", 25, 12),
        RatedUnit(EventType.LOCATION_REST, None, "provider", 5, 0, Account.PREPAID),
    ]
    lines = usage_lines(group_units(units))
    assert [(ln.kind, ln.quantity, ln.amount_minor) for ln in lines] == [
        ("usage", 1, 5),
        ("usage", 2, 6),
        ("share", 1, -12),
    ]
    t = totals([*lines, Line("fee", "rent", 1, 15_000)], prepaid_minor=5)
    assert (t.usage_minor, t.fees_minor, t.share_minor, t.total_minor, t.due_minor) == (11, 15_000, 12, 14_999, 14_994)


unit_st = st.builds(
    lambda et, code, amount, bp, account: RatedUnit(
        et,
        code,
        "subscriber" if et in (EventType.MT_R, EventType.MO_PREMIUM) else "provider",
        amount,
        share_of(amount, bp) if et in (EventType.MT_R, EventType.MO_PREMIUM) else 0,
        account,
    ),
    st.sampled_from(list(EventType)),
    st.sampled_from([None, "3311", "4444"]),
    st.integers(0, 100_000),
    st.integers(0, 10_000),
    st.sampled_from(list(Account)),
)


@given(st.lists(unit_st, max_size=60), st.lists(st.integers(1, 500_000), max_size=5))
def test_statement_total_is_the_sum_of_cdrs_and_fees(units: list[RatedUnit], fees: list[int]) -> None:
    groups = group_units(units)
    fee_lines = [Line("fee", f"fee {i}", 1, amount) for i, amount in enumerate(fees)]
    prepaid = sum(g.prepaid_minor for g in groups)
    t = totals(usage_lines(groups) + fee_lines, prepaid)
    assert t.total_minor == sum(u.net_minor for u in units) + sum(fees)
    assert t.total_minor == t.usage_minor + t.fees_minor - t.share_minor
    assert t.due_minor == t.total_minor - sum(
        u.amount_minor for u in units if u.account is Account.PREPAID and u.payer == "provider"
    )
    assert sum(g.units for g in groups) == len(units)
