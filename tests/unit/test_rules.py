"""The programme's arithmetic as pure functions (rules.py, money.py).

Every expected value is computed by hand and written as a literal; the comment
next to it shows the sum. Nothing here recomputes an expectation with the code
under test. The few property tests compare against exact rational arithmetic
(fractions.Fraction) or against invariants, never against the function itself.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_cli.domain.config import Currency, Level, Programme
from loyalty_cli.errors import LoyaltyError
from loyalty_cli.domain.money import (
    currency_decimals,
    format_amount,
    parse_amount,
    parse_decimal,
    parse_points,
)
from loyalty_cli.domain.rules import (
    Lot,
    available_date,
    consume,
    earned_points,
    expiry_date,
    month_end,
    next_level,
    percent_of,
    percent_share,
    period_bounds,
    points_value,
    proportional,
    quote_purchase,
    share_of,
    level_finder,
    tier_for,
    window_start,
)

D = Decimal
ONE = D(1)


# ---------------------------------------------------------------------------
# earned_points: round(net x points_per_unit x multiplier), once
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "net, decimals, ppu, mult, expected",
    [
        # exactly .5: 2.50 x 1 x 1 = 2.5 -> floor 2, half-up 3, ceil 3
        (250, 2, "1", "1", (2, 3, 3)),
        # half a point: 0.50 x 1 x 1 = 0.5 -> 0 / 1 / 1
        (50, 2, "1", "1", (0, 1, 1)),
        # 0.05 x 10 = 0.5 -> 0 / 1 / 1
        (5, 2, "10", "1", (0, 1, 1)),
        # just below half: 2.49 -> 2 / 2 / 3
        (249, 2, "1", "1", (2, 2, 3)),
        # whole numbers are never pushed up by ceil: 2.00 -> 2 / 2 / 2
        (200, 2, "1", "1", (2, 2, 2)),
        # nothing earns nothing
        (0, 2, "1", "1.5", (0, 0, 0)),
        # 19.99 x 1.25 = 24.9875 -> 24 / 25 / 25
        (1999, 2, "1", "1.25", (24, 25, 25)),
        # 33.33 x 1.5 = 49.995 -> 49 / 50 / 50
        (3333, 2, "1", "1.5", (49, 50, 50)),
        # 0.10 + 0.20 = 0.30 (30 minor units) x 10 = 3 exactly -> 3 / 3 / 3 (float: 3.0000000000000004, ceil 4)
        (30, 2, "10", "1", (3, 3, 3)),
        # 1.15 x 100 = 115 exactly (float: 114.99999999999999, floor 114)
        (115, 2, "100", "1", (115, 115, 115)),
        # 0.29 x 100 = 29 (float 28.999999999999996); 0.57 x 100 = 57 (float 56.99999999999999)
        (29, 2, "100", "1", (29, 29, 29)),
        (57, 2, "100", "1", (57, 57, 57)),
        # 4.35 x 100 = 435 (float 434.99999999999994)
        (435, 2, "100", "1", (435, 435, 435)),
        # 0.07 x 100 = 7 (float 7.000000000000001, ceil 8)
        (7, 2, "100", "1", (7, 7, 7)),
        # 1.15 x 10 = 11.5 -> 11 / 12 / 12
        (115, 2, "10", "1", (11, 12, 12)),
        # points_per_unit 0.1: 99.99 x 0.1 = 9.999 -> 9 / 10 / 10
        (9999, 2, "0.1", "1", (9, 10, 10)),
        # 30.00 x 0.1 = 3 exactly -> 3 / 3 / 3
        (3000, 2, "0.1", "1", (3, 3, 3)),
        # 0.1 per unit and x1.5: 25.00 x 0.1 x 1.5 = 3.75 -> 3 / 4 / 4
        (2500, 2, "0.1", "1.5", (3, 4, 4)),
        # JPY (0 decimals): 1999 yen x 0.01 = 19.99 -> 19 / 20 / 20
        (1999, 0, "0.01", "1", (19, 20, 20)),
        # JPY: 1950 yen x 0.01 = 19.5 -> 19 / 20 / 20
        (1950, 0, "0.01", "1", (19, 20, 20)),
        # JPY: 2000 yen x 0.01 = 20 -> 20 / 20 / 20
        (2000, 0, "0.01", "1", (20, 20, 20)),
        # KWD (3 decimals): 1.234 x 1.5 = 1.851 -> 1 / 2 / 2
        (1234, 3, "1", "1.5", (1, 2, 2)),
        # KWD: 12.345 x 1 = 12.345 -> 12 / 12 / 13
        (12345, 3, "1", "1", (12, 12, 13)),
        # KWD: 0.500 x 1 = 0.5 -> 0 / 1 / 1
        (500, 3, "1", "1", (0, 1, 1)),
        # big: 999999999999.99 x 1 = 999999999999.99 -> ...99 / 1000000000000 / 1000000000000
        (99999999999999, 2, "1", "1", (999999999999, 1000000000000, 1000000000000)),
    ],
)
def test_earned_points_by_rounding(net, decimals, ppu, mult, expected):
    got = tuple(earned_points(net, decimals, D(ppu), D(mult), r) for r in ("floor", "half-up", "ceil"))
    assert got == expected


def test_earned_points_with_rate_read_from_a_toml_float():
    # points_per_unit = 0.1 in TOML arrives as the float 0.1; read back it is exactly 0.1.
    ppu = parse_decimal(0.1, "points_per_unit")
    assert earned_points(9999, 2, ppu, ONE, "floor") == 9  # 99.99 x 0.1 = 9.999
    assert earned_points(3000, 2, ppu, ONE, "ceil") == 3  # 30.00 x 0.1 = 3 (float 3.0000000000000004)
    mult = parse_decimal(1.1, "multiplier")
    assert earned_points(5000, 2, ONE, mult, "ceil") == 55  # 50.00 x 1.1 = 55 (float 55.00000000000001, ceil 56)


def test_amounts_sum_exactly_in_minor_units():
    # 0.10 + 0.20 in minor units is 30, i.e. 0.30 exactly
    total = parse_amount("0.10", 2) + parse_amount("0.20", 2)
    assert total == 30
    assert format_amount(total, 2) == "0.30"
    # earning each separately at 10 per unit: 1 + 2 = 3
    assert earned_points(10, 2, D(10), ONE, "floor") == 1
    assert earned_points(20, 2, D(10), ONE, "floor") == 2


# ---------------------------------------------------------------------------
# percent_of (half-up), points_value (floor), share_of (floor)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount, percent, expected",
    [
        (10, "5", 1),  # 5% of 0.10 = 0.005 -> 0.01
        (30, "5", 2),  # 5% of 0.30 = 0.015 -> 0.02
        (50, "5", 3),  # 5% of 0.50 = 0.025 -> 0.03
        (70, "5", 4),  # 5% of 0.70 = 0.035 -> 0.04 (float 0.035 is 0.03499..., would give 0.03)
        (9, "5", 0),  # 5% of 0.09 = 0.0045 -> 0.00
        (1999, "5", 100),  # 5% of 19.99 = 0.9995 -> 1.00
        (2000, "5", 100),  # 5% of 20.00 = 1.00
        (1234, "10", 123),  # 10% of 12.34 = 1.234 -> 1.23
        (1235, "10", 124),  # 10% of 12.35 = 1.235 -> 1.24
        (100, "12.5", 13),  # 12.5% of 1.00 = 0.125 -> 0.13
        (20, "2.5", 1),  # 2.5% of 0.20 = 0.005 -> 0.01
        (0, "5", 0),
        (1999, "0", 0),
        (1999, "100", 1999),
        (550, "10", 55),  # 10% of 5.50 = 0.55
        (556, "10", 56),  # 10% of 5.56 = 0.556 -> 0.56
    ],
)
def test_percent_of_rounds_half_up(amount, percent, expected):
    assert percent_of(amount, D(percent)) == expected


@pytest.mark.parametrize(
    "points, value, decimals, expected",
    [
        (150, "0.01", 2, 150),  # 150 x 0.01 EUR = 1.50
        (1, "0.01", 2, 1),
        (0, "0.01", 2, 0),
        (1, "0.005", 2, 0),  # 0.005 EUR = 0.5 cent -> 0 (never worth more than it is)
        (3, "0.005", 2, 1),  # 0.015 EUR = 1.5 cents -> 1
        (2, "0.005", 2, 1),  # 0.010 EUR = 1 cent
        (1, "0.004", 2, 0),  # 0.4 cent -> 0
        (150, "1", 0, 150),  # JPY: 150 x 1 yen
        (3, "0.5", 0, 1),  # JPY: 1.5 yen -> 1
        (1000, "0.001", 3, 1000),  # KWD: 1000 x 0.001 = 1.000 = 1000 fils
        (7, "0.0015", 3, 10),  # KWD: 0.0105 = 10.5 fils -> 10
        (300, "0.01", 2, 300),  # 3.00
    ],
)
def test_points_value_rounds_down(points, value, decimals, expected):
    assert points_value(points, D(value), decimals) == expected


@pytest.mark.parametrize(
    "amount, share, expected",
    [
        (1999, "0.5", 999),  # 9.995 -> 9.99 (down)
        (1000, "0.5", 500),
        (1900, "0.5", 950),
        (333, "0.1", 33),  # 0.333 -> 0.33
        (100, "0.57", 57),  # float: 56.99999999999999 -> 56
        (100, "0.29", 29),  # float: 28.999999999999996 -> 28
        (1999, "1", 1999),
        (1999, "0", 0),
        (1, "0.99", 0),
    ],
)
def test_share_of_rounds_down(amount, share, expected):
    assert share_of(amount, D(share)) == expected


# ---------------------------------------------------------------------------
# proportional: shares of cumulative parts add up exactly
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "total, part, whole, rounding, expected",
    [
        (99, 3300, 9900, "floor", 33),  # 99 x 33/99
        (99, 9900, 9900, "floor", 99),
        (10, 100, 300, "floor", 3),  # 3.33
        (10, 200, 300, "floor", 6),  # 6.67
        (10, 200, 300, "half-up", 7),
        (10, 100, 300, "ceil", 4),
        (10, 150, 300, "floor", 5),
        (1, 1, 2, "half-up", 1),  # 0.5 -> 1
        (1, 1, 2, "floor", 0),
        (0, 5, 10, "ceil", 0),
        (5, 0, 0, "floor", 0),  # an order of 0: nothing refunded takes nothing
        (5, 1, 0, "floor", 5),
    ],
)
def test_proportional(total, part, whole, rounding, expected):
    assert proportional(total, part, whole, rounding) == expected


@pytest.mark.parametrize(
    "rounding, steps",
    [
        # earned 10 on 3.00, refunded 1.00 three times: cumulative 3.33, 6.67, 10
        ("floor", [3, 3, 4]),  # 3, 6, 10
        ("half-up", [3, 4, 3]),  # 3, 7, 10
        ("ceil", [4, 3, 3]),  # 4, 7, 10
    ],
)
def test_proportional_cumulative_shares_add_up(rounding, steps):
    done, got = 0, []
    for part in (100, 100, 100):
        got.append(proportional(10, done + part, 300, rounding) - proportional(10, done, 300, rounding))
        done += part
    assert got == steps
    assert sum(got) == 10


@settings(max_examples=200, deadline=None)
@given(
    total=st.integers(min_value=0, max_value=10**9),
    cuts=st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=12),
    rounding=st.sampled_from(["floor", "half-up", "ceil"]),
)
def test_property_cumulative_shares_sum_to_the_total(total, cuts, rounding):
    whole = sum(cuts)
    done, shares = 0, []
    for part in cuts:
        shares.append(proportional(total, done + part, whole, rounding) - proportional(total, done, whole, rounding))
        done += part
    assert sum(shares) == total
    assert all(s >= 0 for s in shares)


@settings(max_examples=300, deadline=None)
@given(
    net=st.integers(min_value=0, max_value=10**14),
    decimals=st.sampled_from([0, 2, 3]),
    ppu=st.sampled_from(["1", "0.1", "0.01", "10", "100", "2.5", "0.3"]),
    mult=st.sampled_from(["1", "1.25", "1.5", "2", "1.1"]),
)
def test_property_earned_points_match_exact_rationals(net, decimals, ppu, mult):
    exact = Fraction(net, 10**decimals) * Fraction(ppu) * Fraction(mult)
    floor = exact.numerator // exact.denominator
    ceil = -((-exact.numerator) // exact.denominator)
    half_up = (exact + Fraction(1, 2)).numerator // (exact + Fraction(1, 2)).denominator
    assert earned_points(net, decimals, D(ppu), D(mult), "floor") == floor
    assert earned_points(net, decimals, D(ppu), D(mult), "ceil") == ceil
    assert earned_points(net, decimals, D(ppu), D(mult), "half-up") == half_up


def test_percent_share():
    assert percent_share(1, 3) == D("33.3")
    assert percent_share(2, 3) == D("66.7")
    assert percent_share(1, 8) == D("12.5")
    assert percent_share(1, 16) == D("6.3")  # 6.25 -> 6.3
    assert percent_share(0, 0) == D("0.0")
    assert percent_share(4, 4) == D("100.0")


# ---------------------------------------------------------------------------
# tiers
# ---------------------------------------------------------------------------

BRONZE = Level("Bronze", 0, D(1), D(0))
SILVER = Level("Silver", 20000, D("1.25"), D(0))
GOLD = Level("Gold", 50000, D("1.5"), D(5))
LEVELS = (BRONZE, SILVER, GOLD)


@pytest.mark.parametrize(
    "total, expected",
    [(0, BRONZE), (19999, BRONZE), (20000, SILVER), (49999, SILVER), (50000, GOLD), (10**12, GOLD), (-500, BRONZE)],
)
def test_tier_for_is_the_highest_level_reached(total, expected):
    assert tier_for(LEVELS, total) == expected
    assert level_finder(LEVELS)(total) == expected  # the bisecting form whole-ledger reports use


def test_next_level():
    assert next_level(LEVELS, BRONZE) == SILVER
    assert next_level(LEVELS, SILVER) == GOLD
    assert next_level(LEVELS, GOLD) is None


@pytest.mark.parametrize(
    "window, as_of, expected",
    [
        ("lifetime", date(2026, 7, 15), None),
        ("calendar-year", date(2026, 7, 15), date(2026, 1, 1)),
        ("calendar-year", date(2026, 1, 1), date(2026, 1, 1)),
        ("calendar-year", date(2026, 12, 31), date(2026, 1, 1)),
        # rolling-365 = as_of - 364 days (the 365 days ending with as_of)
        ("rolling-365", date(2026, 11, 22), date(2025, 11, 23)),
        ("rolling-365", date(2026, 2, 28), date(2025, 3, 1)),
        # across Feb 29 2024: 2023-03-01 .. 2024-03-01 is 366 days, so 364 back is 2023-03-03
        ("rolling-365", date(2024, 3, 1), date(2023, 3, 3)),
        ("rolling-365", date(2024, 2, 29), date(2023, 3, 2)),
        # the leap year 2024 has 366 days: 364 back from Dec 31 is Jan 2
        ("rolling-365", date(2024, 12, 31), date(2024, 1, 2)),
        # 2024-02-29 + 365 = 2025-02-28, so the window ending 2025-02-28 starts 2024-03-01
        ("rolling-365", date(2025, 2, 28), date(2024, 3, 1)),
    ],
)
def test_window_start(window, as_of, expected):
    assert window_start(window, as_of) == expected


def test_window_start_refuses_an_unknown_window():
    with pytest.raises(ValueError):
        window_start("fortnight", date(2026, 1, 1))


# ---------------------------------------------------------------------------
# periods for action limits
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "per, on, expected",
    [
        ("ever", date(2026, 3, 15), None),
        ("day", date(2026, 3, 15), (date(2026, 3, 15), date(2026, 3, 16))),
        ("day", date(2024, 12, 31), (date(2024, 12, 31), date(2025, 1, 1))),
        ("day", date(2024, 2, 28), (date(2024, 2, 28), date(2024, 2, 29))),
        # ISO weeks start on Monday: 2026-11-22 is a Sunday, its Monday is 2026-11-16
        ("week", date(2026, 11, 22), (date(2026, 11, 16), date(2026, 11, 23))),
        ("week", date(2026, 11, 16), (date(2026, 11, 16), date(2026, 11, 23))),
        ("week", date(2026, 11, 10), (date(2026, 11, 9), date(2026, 11, 16))),  # a Tuesday
        # 2025-01-01 is a Wednesday: the week began on Monday 2024-12-30
        ("week", date(2025, 1, 1), (date(2024, 12, 30), date(2025, 1, 6))),
        ("month", date(2024, 2, 10), (date(2024, 2, 1), date(2024, 3, 1))),
        ("month", date(2024, 2, 29), (date(2024, 2, 1), date(2024, 3, 1))),
        ("month", date(2023, 2, 15), (date(2023, 2, 1), date(2023, 3, 1))),
        ("month", date(2026, 1, 31), (date(2026, 1, 1), date(2026, 2, 1))),
        ("month", date(2026, 12, 31), (date(2026, 12, 1), date(2027, 1, 1))),
        ("year", date(2024, 2, 29), (date(2024, 1, 1), date(2025, 1, 1))),
        ("year", date(2026, 12, 31), (date(2026, 1, 1), date(2027, 1, 1))),
    ],
)
def test_period_bounds(per, on, expected):
    assert period_bounds(per, on) == expected


@pytest.mark.parametrize(
    "d, expected",
    [
        (date(2024, 2, 3), date(2024, 2, 29)),
        (date(2023, 2, 3), date(2023, 2, 28)),
        (date(2000, 2, 1), date(2000, 2, 29)),  # divisible by 400: leap
        (date(2100, 2, 1), date(2100, 2, 28)),  # divisible by 100: not leap
        (date(2026, 4, 30), date(2026, 4, 30)),
        (date(2026, 12, 1), date(2026, 12, 31)),
    ],
)
def test_month_end(d, expected):
    assert month_end(d) == expected


# ---------------------------------------------------------------------------
# lots: FIFO by soonest expiry, never-expiring last, then oldest
# ---------------------------------------------------------------------------


def _lot(id, remaining, at, expires=None, available=None):
    return Lot(id, remaining, datetime.fromisoformat(at), expires and date.fromisoformat(expires),
               available and date.fromisoformat(available))


LOTS = [
    _lot(1, 10, "2026-01-05T10:00"),  # never expires, newer
    _lot(2, 20, "2026-02-01T10:00", "2026-12-01"),
    _lot(3, 30, "2026-01-01T10:00", "2026-06-01"),  # expires soonest
    _lot(4, 5, "2025-12-01T10:00"),  # never expires, oldest
]


@pytest.mark.parametrize(
    "points, plan, short",
    [
        (0, [], 0),
        (25, [(3, 25)], 0),
        (40, [(3, 30), (2, 10)], 0),  # lot 3 (expires 06-01), then lot 2 (12-01)
        (52, [(3, 30), (2, 20), (4, 2)], 0),  # then the oldest never-expiring lot
        (65, [(3, 30), (2, 20), (4, 5), (1, 10)], 0),
        (70, [(3, 30), (2, 20), (4, 5), (1, 10)], 5),  # 65 available: 5 short
    ],
)
def test_consume_fifo(points, plan, short):
    assert consume(LOTS, points) == (plan, short)


def test_consume_ties_go_to_the_oldest_then_the_lowest_id():
    lots = [
        _lot(7, 10, "2026-03-01T09:00", "2027-01-01"),
        _lot(5, 10, "2026-03-01T09:00", "2027-01-01"),
        _lot(6, 10, "2026-02-01T09:00", "2027-01-01"),
    ]
    assert consume(lots, 25) == ([(6, 10), (5, 10), (7, 5)], 0)


def test_consume_from_nothing_is_all_shortfall():
    assert consume([], 7) == ([], 7)
    assert consume([_lot(1, 0, "2026-01-01T00:00")], 3) == ([], 3)  # an empty lot pays nothing


@pytest.mark.parametrize(
    "on, days, expected",
    [
        (date(2026, 1, 31), 0, None),
        (date(2026, 1, 31), 30, date(2026, 3, 2)),  # 28 days of February in 2026
        (date(2024, 1, 31), 30, date(2024, 3, 1)),  # 29 days of February in 2024
        (date(2024, 2, 29), 365, date(2025, 2, 28)),
        (date(2025, 3, 1), 365, date(2026, 3, 1)),
        (date(2026, 12, 31), 1, date(2027, 1, 1)),
    ],
)
def test_expiry_date(on, days, expected):
    assert expiry_date(on, days) == expected


@pytest.mark.parametrize(
    "on, days, expected",
    [
        (date(2026, 1, 1), 0, None),
        (date(2026, 1, 1), 14, date(2026, 1, 15)),
        (date(2024, 2, 20), 14, date(2024, 3, 5)),  # through Feb 29
    ],
)
def test_available_date(on, days, expected):
    assert available_date(on, days) == expected


# ---------------------------------------------------------------------------
# quote_purchase
# ---------------------------------------------------------------------------


def programme(**kw) -> Programme:
    base = dict(path=Path("loyalty.toml"), name="T", currency=Currency("EUR", 2), timezone="UTC",
                database="loyalty.db", points_per_unit=D(1), rounding="floor", point_value=D("0.01"),
                min_points=100, max_share=D("0.5"), levels=LEVELS)
    base.update(kw)
    return Programme(**base)


def test_quote_with_tier_discount():
    # Gold: 5% of 20.00 = 1.00 off; net 19.00 x 1.5 = 28.5 -> floor 28
    q = quote_purchase(programme(), 2000, GOLD)
    assert (q.amount, q.discount, q.points_redeemed, q.points_paid, q.net, q.multiplier, q.points_earned) == (
        2000, 100, 0, 0, 1900, D("1.5"), 28)


def test_quote_with_tier_discount_half_up():
    q = quote_purchase(programme(rounding="half-up"), 2000, GOLD)
    assert q.points_earned == 29  # 28.5 -> 29


def test_quote_redeem_within_the_rules():
    # 20.00 - 1.00 discount = 19.00 payable; 500 points = 5.00 <= 50% of 19.00 = 9.50
    # net 14.00 x 1.5 = 21
    q = quote_purchase(programme(), 2000, GOLD, redeem=500, available=1000)
    assert (q.discount, q.points_redeemed, q.points_paid, q.net, q.points_earned) == (100, 500, 500, 1400, 21)


def test_quote_redeem_up_to_exactly_max_share():
    # 950 points = 9.50 = exactly 50% of 19.00: allowed; net 9.50 x 1.5 = 14.25 -> 14
    q = quote_purchase(programme(), 2000, GOLD, redeem=950, available=1000)
    assert (q.points_paid, q.net, q.points_earned) == (950, 950, 14)


def test_quote_refuses_beyond_max_share():
    # 951 points = 9.51 > 9.50
    with pytest.raises(LoyaltyError, match="at most 50%"):
        quote_purchase(programme(), 2000, GOLD, redeem=951, available=1000)


def test_quote_max_share_on_an_odd_amount_rounds_the_cap_down():
    # Bronze, 19.99: cap = 50% of 19.99 = 9.995 -> 9.99; 999 points ok, 1000 (10.00) refused
    q = quote_purchase(programme(), 1999, BRONZE, redeem=999, available=5000)
    assert (q.points_paid, q.net, q.points_earned) == (999, 1000, 10)
    with pytest.raises(LoyaltyError):
        quote_purchase(programme(), 1999, BRONZE, redeem=1000, available=5000)


def test_quote_refuses_below_min_points():
    with pytest.raises(LoyaltyError, match="minimum is 100"):
        quote_purchase(programme(), 5000, BRONZE, redeem=99, available=1000)


def test_quote_refuses_more_than_available():
    with pytest.raises(LoyaltyError, match="only 599 available"):
        quote_purchase(programme(), 5000, BRONZE, redeem=600, available=599)
    # available None means the caller does not limit it
    q = quote_purchase(programme(), 5000, BRONZE, redeem=600, available=None)
    assert (q.points_paid, q.net, q.points_earned) == (600, 4400, 44)


def test_quote_min_purchase_applies_to_the_net():
    prog = programme(min_purchase=1000)  # 10.00
    assert quote_purchase(prog, 1000, BRONZE).points_earned == 10
    assert quote_purchase(prog, 999, BRONZE).points_earned == 0
    # Gold: 10.50 - 5% (0.525 -> 0.53) = 9.97 < 10.00: nothing
    q = quote_purchase(prog, 1050, GOLD)
    assert (q.discount, q.net, q.points_earned) == (53, 997, 0)
    # Gold: 10.53 - 5% (0.5265 -> 0.53) = 10.00: 10 x 1.5 = 15
    q = quote_purchase(prog, 1053, GOLD)
    assert (q.discount, q.net, q.points_earned) == (53, 1000, 15)
    # points paying part of it also lower the net: 20.00 - 1.00 (100 points) = 19.00 ok;
    # 15.00 - 5.01 (501 points) = 9.99 < 10.00: nothing
    assert quote_purchase(prog, 2000, BRONZE, redeem=100, available=1000).points_earned == 19
    assert quote_purchase(prog, 1500, BRONZE, redeem=501, available=1000).points_earned == 0


def test_quote_zero_purchase_earns_nothing():
    q = quote_purchase(programme(), 0, GOLD)
    assert (q.amount, q.discount, q.net, q.points_earned) == (0, 0, 0, 0)


def test_quote_jpy_and_kwd():
    jpy = programme(currency=Currency("JPY", 0), points_per_unit=D("0.01"), point_value=D(1), min_points=0)
    # 1999 yen, 5% = 99.95 -> 100 yen off, net 1899 x 0.01 x 1.5 = 28.485 -> 28
    q = quote_purchase(jpy, 1999, GOLD)
    assert (q.discount, q.net, q.points_earned) == (100, 1899, 28)
    # 200 points = 200 yen of 1899 payable (cap 949)
    q = quote_purchase(jpy, 1999, GOLD, redeem=200, available=500)
    assert (q.points_paid, q.net, q.points_earned) == (200, 1699, 25)  # 16.99 x 1.5 = 25.485 -> 25
    kwd = programme(currency=Currency("KWD", 3), point_value=D("0.001"), min_points=0)
    # 1.234 KWD at Silver (x1.25): 1.5425 -> 1; at Gold 5% = 0.0617 -> 0.062 off, net 1.172 x 1.5 = 1.758 -> 1
    assert quote_purchase(kwd, 1234, SILVER).points_earned == 1
    q = quote_purchase(kwd, 1234, GOLD)
    assert (q.discount, q.net, q.points_earned) == (62, 1172, 1)


# ---------------------------------------------------------------------------
# money.py: parsing and formatting
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, decimals, expected",
    [
        ("12.50", 2, 1250),
        ("12.5", 2, 1250),
        ("12", 2, 1200),
        ("0", 2, 0),
        ("0.00", 2, 0),
        ("0.10", 2, 10),
        ("0.20", 2, 20),
        ("19.99", 2, 1999),
        (" 7.00 ", 2, 700),
        ("007.50", 2, 750),
        ("1999", 0, 1999),
        ("12.345", 3, 12345),
        ("1.234", 3, 1234),
        ("1.2", 3, 1200),
        ("999999999999.99", 2, 99999999999999),
    ],
)
def test_parse_amount(text, decimals, expected):
    assert parse_amount(text, decimals) == expected


@pytest.mark.parametrize(
    "text, decimals, why",
    [
        ("12.345", 2, "too many decimals"),
        ("12.5", 0, "too many decimals"),
        ("1.2345", 3, "too many decimals"),
        ("-5", 2, "negative"),
        ("-0.01", 2, "negative"),
        ("+5", 2, "without a sign"),
        ("1e3", 2, "exponents"),
        ("1E3", 2, "exponents"),
        ("NaN", 2, "not a finite number"),
        ("nan", 2, "not a finite number"),
        ("inf", 2, "not a finite number"),
        ("-Infinity", 2, "not a finite number"),
        ("1,000.00", 2, "thousands separators"),
        ("1 000", 2, "thousands separators"),
        ("1_000", 2, "thousands separators"),
        ("12,50", 2, "thousands separators"),
        ("", 2, "empty"),
        ("abc", 2, "expected digits"),
        (".5", 2, "expected digits"),
        ("1000000000000", 2, "too large"),  # 13 digits before the point
        ("0x10", 2, "expected digits"),
        ("\u0661\u0662", 2, "expected digits"),  # Arabic-Indic digits: only ASCII digits are amounts
        ("\uff11\uff12.50", 2, "expected digits"),  # full-width digits
    ],
)
def test_parse_amount_refuses(text, decimals, why):
    with pytest.raises(LoyaltyError, match=why):
        parse_amount(text, decimals)


@pytest.mark.parametrize(
    "minor, decimals, expected",
    [
        (1250, 2, "12.50"),
        (5, 2, "0.05"),
        (0, 2, "0.00"),
        (-5, 2, "-0.05"),
        (-1250, 2, "-12.50"),
        (1999, 0, "1999"),
        (0, 0, "0"),
        (12345, 3, "12.345"),
        (1, 3, "0.001"),
        (99999999999999, 2, "999999999999.99"),
    ],
)
def test_format_amount(minor, decimals, expected):
    assert format_amount(minor, decimals) == expected


@st.composite
def amount_texts(draw):
    decimals = draw(st.sampled_from([0, 2, 3]))
    whole = draw(st.integers(min_value=0, max_value=10**12 - 1))
    if decimals == 0:
        return str(whole), decimals
    frac = draw(st.integers(min_value=0, max_value=10**decimals - 1))
    return f"{whole}.{frac:0{decimals}d}", decimals


@settings(max_examples=300, deadline=None)
@given(amount_texts())
def test_property_format_parse_round_trip(case):
    text, decimals = case
    assert format_amount(parse_amount(text, decimals), decimals) == text


@settings(max_examples=300, deadline=None)
@given(data=st.data(), decimals=st.sampled_from([0, 2, 3]))
def test_property_parse_format_round_trip(data, decimals):
    # up to 12 digits before the point, whatever the decimals
    minor = data.draw(st.integers(min_value=0, max_value=10 ** (12 + decimals) - 1))
    assert parse_amount(format_amount(minor, decimals), decimals) == minor


@pytest.mark.parametrize(
    "text, signed, expected",
    [("150", False, 150), ("1", False, 1), (" 20 ", False, 20), ("-20", True, -20), ("20", True, 20),
     ("999999999999", False, 999999999999)],
)
def test_parse_points(text, signed, expected):
    assert parse_points(text, signed=signed) == expected


@pytest.mark.parametrize(
    "text, signed",
    [("-20", False), ("0", False), ("1.5", False), ("1e3", False), ("abc", False), ("", False),
     ("+5", False), ("1,000", False), ("1000000000000", False), ("\uff11\uff12", False), ("1.0", True),
     ("--5", True), ("NaN", True)],
)
def test_parse_points_refuses(text, signed):
    with pytest.raises(LoyaltyError):
        parse_points(text, signed=signed)


@pytest.mark.parametrize(
    "code, expected",
    [("EUR", 2), ("USD", 2), ("GBP", 2), ("JPY", 0), ("KRW", 0), ("ISK", 0), ("KWD", 3), ("BHD", 3),
     ("TND", 3), ("CLF", 4)],
)
def test_currency_decimals(code, expected):
    assert currency_decimals(code) == expected


@pytest.mark.parametrize("code", ["XXX", "EURO", "", "ZZZ"])
def test_currency_decimals_refuses_unknown(code):
    with pytest.raises(LoyaltyError, match="unknown currency"):
        currency_decimals(code)


@pytest.mark.parametrize(
    "value, expected",
    [
        (0.1, D("0.1")),  # a TOML float, read back exactly as written
        (0.3, D("0.3")),
        (1.25, D("1.25")),
        (1.1, D("1.1")),
        (1.0, D("1.0")),
        (1, D(1)),
        (0, D(0)),
        ("0.01", D("0.01")),
        (" 1.5 ", D("1.5")),
        ("2", D(2)),
    ],
)
def test_parse_decimal(value, expected):
    got = parse_decimal(value, "rate")
    assert got == expected
    assert isinstance(got, Decimal)
    assert str(got) == str(expected)  # no binary noise such as 0.1000000000000000055511151231257827


@pytest.mark.parametrize(
    "value",
    [True, False, None, [1], "abc", "1e3", "-0.5", -0.5, float("nan"), float("inf"), "NaN", "1,5", "", "\u0661",
     -1],  # a negative whole number is as wrong as a negative decimal
)
def test_parse_decimal_refuses(value):
    with pytest.raises(LoyaltyError):
        parse_decimal(value, "rate")


# --- e-mail addresses (members.normalise_email) -----------------------------------

from loyalty_cli.ledger.members import normalise_email  # noqa: E402

_ascii_local = st.text(st.sampled_from("abcXYZ019.+_-"), min_size=1, max_size=12)
_ascii_domain = st.lists(st.text(st.sampled_from("abcXYZ019-"), min_size=1, max_size=8), min_size=2, max_size=3)
_any_local = st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zs", "Zl", "Zp"),
                                   blacklist_characters="@"), min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(local=_ascii_local, labels=_ascii_domain)
def test_an_ascii_address_is_lower_cased_as_before(local, labels):
    address = f"{local}@{'.'.join(labels)}"  # (no xn-- label: the alphabet has no n)
    assert normalise_email(f"  {address} ") == address.lower()


@settings(max_examples=300, deadline=None)
@given(local=_any_local)
def test_a_non_ascii_local_part_never_becomes_an_ascii_one_and_the_form_is_stable(local):
    try:
        once = normalise_email(f"{local}@example.com")
    except LoyaltyError:
        return
    assert normalise_email(once) == once  # stored, then typed again: the same
    if not local.isascii():
        assert not once.partition("@")[0].isascii()


def test_email_normalising_by_hand():
    assert normalise_email("\u212aim@Example.com") == "\u212aim@example.com"  # KELVIN SIGN kept, not K
    assert normalise_email("a\u037e@x.ee") == "a\u037e@x.ee"  # GREEK QUESTION MARK is not ';'
    assert normalise_email("ju\u0308ri@x.ee") == "j\u00fcri@x.ee"  # NFC
    assert normalise_email("\u00dcLO@x.ee") == "\u00dclo@x.ee"  # only ASCII letters fold
    assert normalise_email("a@M\u00dcLLER.EE") == normalise_email("a@xn--mller-kva.ee") == "a@m\u00fcller.ee"
    assert normalise_email("a@\uff45xample.com") == "a@example.com"  # full-width: one domain, as DNS has it
    with pytest.raises(LoyaltyError, match="U\\+200B"):
        normalise_email("a\u200b@x.ee")
