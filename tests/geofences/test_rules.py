"""Promotion rules: each suppression reason, in order, and the template."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geofences.rules import (
    Facts,
    Outcome,
    Promotion,
    check_template,
    decide,
    local_day_start,
    render,
)
from lbs.errors import InvalidArgument

# Wednesday 25 November 2026, 14:00 in Brussels
NOW = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
PROMO = Promotion(
    id=1,
    application="PROMOCITY",
    brand="PROMOCITY",
    trigger="enter",
    status="active",
    valid_from=datetime(2026, 11, 1, tzinfo=UTC),
    valid_until=datetime(2026, 12, 31, tzinfo=UTC),
    days="12345",
    hours_from=time(9, 0),
    hours_until=time(20, 0),
    cap_count=1,
    budget_messages=100,
    budget_minor=500,
)
OK = Facts(
    now=NOW,
    geofencing_allowed=True,
    marketing_allowed=True,
    opted_out=False,
    subscriber_sends=0,
    promotion_sends=10,
    promotion_spent_minor=50,
    price_minor=5,
    marketing_open=True,
)


def test_fires_when_everything_allows() -> None:
    assert decide(PROMO, "enter", OK) is Outcome.FIRED


@pytest.mark.parametrize(
    ("promo", "transition", "facts", "outcome"),
    [
        (replace(PROMO, status="paused"), "enter", OK, Outcome.PAUSED),
        (replace(PROMO, status="deleted"), "enter", OK, Outcome.PAUSED),
        (PROMO, "exit", OK, Outcome.OTHER_TRANSITION),
        (PROMO, "enter", replace(OK, now=datetime(2026, 10, 31, 13, tzinfo=UTC)), Outcome.NOT_STARTED),
        (PROMO, "enter", replace(OK, now=datetime(2026, 12, 31, tzinfo=UTC)), Outcome.ENDED),
        (PROMO, "enter", replace(OK, now=datetime(2026, 11, 28, 13, tzinfo=UTC)), Outcome.OFF_DAY),  # Saturday
        (PROMO, "enter", replace(OK, now=datetime(2026, 11, 25, 7, 30, tzinfo=UTC)), Outcome.OFF_HOURS),  # 08:30
        (PROMO, "enter", replace(OK, now=datetime(2026, 11, 25, 19, 30, tzinfo=UTC)), Outcome.OFF_HOURS),
        (PROMO, "enter", replace(OK, geofencing_allowed=False), Outcome.NO_GEOFENCING_CONSENT),
        (PROMO, "enter", replace(OK, marketing_allowed=False), Outcome.NO_MARKETING_CONSENT),
        (PROMO, "enter", replace(OK, opted_out=True), Outcome.OPTED_OUT),
        (PROMO, "enter", replace(OK, subscriber_sends=1), Outcome.SUBSCRIBER_CAP),
        (PROMO, "enter", replace(OK, promotion_sends=100), Outcome.BUDGET),
        (PROMO, "enter", replace(OK, promotion_spent_minor=496), Outcome.BUDGET),
        (PROMO, "enter", replace(OK, marketing_open=False), Outcome.QUIET_HOURS),
    ],
)
def test_each_rule_suppresses(promo: Promotion, transition: str, facts: Facts, outcome: Outcome) -> None:
    assert decide(promo, transition, facts) is outcome


def test_first_failing_rule_is_the_reason() -> None:
    facts = replace(OK, geofencing_allowed=False, opted_out=True, subscriber_sends=9)
    assert decide(PROMO, "enter", facts) is Outcome.NO_GEOFENCING_CONSENT


def test_budgets_are_optional_and_caps_count() -> None:
    free = replace(PROMO, budget_messages=None, budget_minor=None, cap_count=3)
    assert decide(free, "enter", replace(OK, promotion_sends=10**6, subscriber_sends=2)) is Outcome.FIRED
    assert decide(free, "enter", replace(OK, subscriber_sends=3)) is Outcome.SUBSCRIBER_CAP


def test_local_day_start() -> None:
    start = local_day_start(PROMO, datetime(2026, 11, 25, 23, 30, tzinfo=UTC))  # already the 26th in Brussels
    assert start.isoformat() == "2026-11-26T00:00:00+01:00"


def test_template() -> None:
    assert check_template("{name} at {shop}, {distance} away: code {coupon}")
    for bad in ("Hello {msisdn}", "{0}", "{", "  "):
        with pytest.raises(InvalidArgument):
            check_template(bad)
    text = render("{name} at {shop}, {distance}: {coupon}", name="-20%", shop="Chez Léon", distance_m=120.4, coupon="X")
    assert text == "-20% at Chez Léon, 120 m: X"
    assert render("{distance}{coupon}", name="", shop="", distance_m=1520, coupon=None) == "1.5 km"
    assert render("{distance}", name="", shop="", distance_m=None, coupon=None) == ""


POISON = ("{name:d}", "{name:>999999999}", "{name:{x}}", "{name!r}", "{shop.__class__}", "{coupon[0]}", "{}", "}")


@pytest.mark.parametrize("template", POISON)
def test_format_specs_conversions_and_nesting_are_refused(template: str) -> None:
    with pytest.raises(InvalidArgument, match="not a placeholder"):
        check_template(f"Hello {template}")


@pytest.mark.parametrize("template", POISON)
def test_render_never_formats(template: str) -> None:
    # a row written before the check refused these: its odd parts stay literal text, nothing is formatted or grown
    assert render(template, name="N", shop="S", distance_m=1.0, coupon="C") == template


def test_literal_braces() -> None:
    assert check_template("{{code}}: {coupon}")
    assert render("{{code}}: {coupon}", name="", shop="", distance_m=None, coupon="X") == "{code}: X"


PIECES = ["{", "}", "{{", "}}", "name", "shop", ":", "!r", "x", "é", " "]


@given(st.lists(st.sampled_from(PIECES), max_size=20).map("".join))
def test_render_is_total_and_matches_format_on_accepted_templates(template: str) -> None:
    values = {"name": "-20%", "shop": "Chez {Léon}", "coupon": "AB12"}
    text = render(template, distance_m=None, **values)  # never raises
    try:
        check_template(template)
    except InvalidArgument:
        return
    # the oracle: on every template the check accepts, the substituter agrees with str.format
    assert text == template.format(distance="", **values)
