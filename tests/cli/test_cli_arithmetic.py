"""The meaning of the numbers, end to end: small programmes, real ledgers, the
real CLI. Every expected figure is worked out by hand in the comment beside it
(spec.md, "Meaning of the numbers"); none is recomputed with the product's code.
Each scenario ends with `loyalty check`, which must print nothing.
"""

from __future__ import annotations


import pytest

from tests.conftest import clean, programme_file
from tests.conftest import programme as shared_programme

pytestmark = [pytest.mark.backends("sqlite", "postgresql"), pytest.mark.pg_full]  # PostgreSQL: the whole run


def programme(body: str = "", currency: str = "EUR") -> str:
    return shared_programme(body, currency, name="Arithmetic")


def enroll(shop, member: str, date: str = "2025-01-01") -> None:
    shop.run("enroll", member, "--name", member.title(), "--date", date)


def buy(shop, member: str, amount: str, date: str, *extra: str) -> dict:
    return shop.json("purchase", member, amount, "--date", date, *extra)


def history(shop, member: str, *extra: str) -> list[tuple]:
    return [(h["kind"], h["points"], h["balance"], h["order"]) for h in shop.json("history", member, *extra)
            if h["kind"] != "tier"]  # point entries only


TIERS_125_15 = """
[earning]
points_per_unit = 1
rounding = "{rounding}"

[[tiers.levels]]
name = "Bronze"
min = "0"

[[tiers.levels]]
name = "Silver"
min = "200"
multiplier = 1.25

[[tiers.levels]]
name = "Gold"
min = "500"
multiplier = 1.5
"""

def gold_at_100(window: str = "lifetime", downgrade: str = "true") -> str:
    return programme(programme_file("gold_at_100", window=window, downgrade=downgrade == "true"))


# ---------------------------------------------------------------------------
# earning and rounding
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rounding, on_250, on_050",
    [
        ("floor", 2, 0),  # 2.50 x 1 = 2.5 -> 2; 0.50 -> 0
        ("half-up", 3, 1),  # 2.5 -> 3; 0.5 -> 1
        ("ceil", 3, 1),  # 2.5 -> 3; 0.5 -> 1
    ],
)
def test_rounding_at_exactly_half(make_shop, rounding, on_250, on_050):
    s = make_shop(programme(f'[earning]\npoints_per_unit = 1\nrounding = "{rounding}"\n'))
    enroll(s, "anna")
    r = buy(s, "anna", "2.50", "2026-01-02", "--order", "A1")
    assert (r["amount"], r["points_earned"], r["points"]) == ("2.50", on_250, on_250)
    r = buy(s, "anna", "0.50", "2026-01-03", "--order", "A2")
    assert (r["amount"], r["points_earned"], r["points"]) == ("0.50", on_050, on_250 + on_050)
    # the rule in force is kept with the purchase (refunds use it)
    assert s.sql("SELECT order_id, amount, net, points_earned, rounding FROM purchases ORDER BY id") == [
        ("A1", 250, 250, on_250, rounding), ("A2", 50, 50, on_050, rounding)]
    clean(s)


def test_ten_cents_then_twenty_cents(make_shop):
    s = make_shop(programme("[earning]\npoints_per_unit = 10\n"))
    enroll(s, "anna")
    assert buy(s, "anna", "0.10", "2026-01-02")["points_earned"] == 1  # 0.10 x 10 = 1
    assert buy(s, "anna", "0.20", "2026-01-03")["points_earned"] == 2  # 0.20 x 10 = 2
    shown = s.json("show", "anna")
    assert (shown["points"], shown["lifetime_spend"]) == (3, "0.30")  # 1 + 2; 0.10 + 0.20 = 0.30 exactly
    assert s.sql("SELECT amount, net FROM purchases ORDER BY id") == [(10, 10), (20, 20)]
    clean(s)


@pytest.mark.parametrize("rounding", ["floor", "ceil"])
def test_amounts_that_trap_floats(make_shop, rounding):
    s = make_shop(programme(f'[earning]\npoints_per_unit = 100\nrounding = "{rounding}"\n'))
    enroll(s, "anna")
    # every product is a whole number, so floor and ceil agree
    assert buy(s, "anna", "0.07", "2026-01-02")["points_earned"] == 7  # float 7.000000000000001 would ceil to 8
    assert buy(s, "anna", "1.15", "2026-01-03")["points_earned"] == 115  # float 114.99999999999999 would floor to 114
    assert buy(s, "anna", "0.29", "2026-01-04")["points_earned"] == 29  # float 28.999999999999996
    assert buy(s, "anna", "0.57", "2026-01-05")["points_earned"] == 57  # float 56.99999999999999
    shown = s.json("show", "anna")
    # 7 + 115 + 29 + 57 = 208; 0.07 + 1.15 + 0.29 + 0.57 = 2.08
    assert (shown["points"], shown["lifetime_spend"]) == (208, "2.08")
    clean(s)


@pytest.mark.parametrize("rounding, on_9999, on_3000", [("floor", 9, 3), ("half-up", 10, 3), ("ceil", 10, 3)])
def test_one_point_per_ten_units_from_a_toml_float(make_shop, rounding, on_9999, on_3000):
    s = make_shop(programme(f'[earning]\npoints_per_unit = 0.1\nrounding = "{rounding}"\n'))
    enroll(s, "anna")
    assert buy(s, "anna", "99.99", "2026-01-02")["points_earned"] == on_9999  # 9.999
    assert buy(s, "anna", "30.00", "2026-01-03")["points_earned"] == on_3000  # 3 exactly (float 3.0000000000000004)
    clean(s)


@pytest.mark.parametrize(
    "rounding, at_silver_1999, at_silver_28001, at_gold_3333",
    [
        ("floor", 24, 350, 49),  # 19.99 x 1.25 = 24.9875; 280.01 x 1.25 = 350.0125; 33.33 x 1.5 = 49.995
        ("half-up", 25, 350, 50),
        ("ceil", 25, 351, 50),
    ],
)
def test_tier_multipliers(make_shop, rounding, at_silver_1999, at_silver_28001, at_gold_3333):
    s = make_shop(programme(TIERS_125_15.format(rounding=rounding)))
    enroll(s, "anna")
    r = buy(s, "anna", "200.00", "2026-01-02")
    # earned at Bronze (x1), Silver only after this purchase
    assert (r["points_earned"], r["tier"]) == (200, "Silver")
    r = buy(s, "anna", "19.99", "2026-01-03")
    assert (r["multiplier"], r["points_earned"], r["tier"]) == ("1.25", at_silver_1999, "Silver")
    r = buy(s, "anna", "280.01", "2026-01-04")  # spend 200 + 19.99 + 280.01 = 500.00: Gold after it
    assert (r["points_earned"], r["tier"]) == (at_silver_28001, "Gold")
    r = buy(s, "anna", "33.33", "2026-01-05")
    assert (r["multiplier"], r["points_earned"]) == ("1.5", at_gold_3333)
    total = 200 + at_silver_1999 + at_silver_28001 + at_gold_3333  # 623 / 625 / 626
    shown = s.json("show", "anna")
    assert shown == {**shown, "points": total, "tier": "Gold", "lifetime_spend": "533.33",
                     "next_tier": None, "to_next_tier": None}
    assert s.sql("SELECT from_tier, to_tier FROM tier_changes ORDER BY id") == [
        ("Bronze", "Silver"), ("Silver", "Gold")]
    clean(s)


def test_yen_have_no_decimals(make_shop):
    s = make_shop(programme('[earning]\npoints_per_unit = "0.01"\n\n[redemption]\npoint_value = "1"\n',
                            currency="JPY"))
    enroll(s, "anna")
    r = buy(s, "anna", "1999", "2026-01-02", "--order", "J1")
    # 1999 yen x 0.01 = 19.99 -> 19
    assert (r["amount"], r["discount"], r["net"], r["points_earned"]) == ("1999", "0", "1999", 19)
    r = buy(s, "anna", "1950", "2026-01-03", "--order", "J2")
    assert (r["amount"], r["points_earned"], r["points"]) == ("1950", 19, 38)  # 19.5 -> 19; 19 + 19
    s.fail("purchase", "anna", "1999.5", "--date", "2026-01-04", contains="too many decimals")
    s.fail("purchase", "anna", "1999.0", "--date", "2026-01-04", contains="too many decimals")
    assert s.json("show", "anna")["lifetime_spend"] == "3949"  # 1999 + 1950
    r = s.json("refund", "J1", "--amount", "999", "--date", "2026-01-05")
    # 19 x 999 / 1999 = 9.495 -> floor 9 taken back; 38 - 9 = 29
    assert (r["amount"], r["order_amount"], r["points_taken_back"], r["points"]) == ("999", "1999", 9, 29)
    assert s.json("show", "anna")["lifetime_spend"] == "2950"  # 3949 - 999
    # 2 x 0.5 yen would be a fraction of a yen: refused
    s.fail("refund", "J1", "--amount", "0.5", "--date", "2026-01-05", contains="too many decimals")
    clean(s)


def test_dinars_have_three_decimals(make_shop):
    s = make_shop(programme("""
        [earning]
        points_per_unit = 1

        [[tiers.levels]]
        name = "Member"
        min = "0"
        multiplier = 1.5
        """, currency="KWD"))
    enroll(s, "anna")
    r = buy(s, "anna", "1.234", "2026-01-02")
    assert (r["amount"], r["discount"], r["points_earned"]) == ("1.234", "0.000", 1)  # 1.234 x 1.5 = 1.851 -> 1
    r = buy(s, "anna", "12.345", "2026-01-03")
    assert (r["amount"], r["points_earned"]) == ("12.345", 18)  # 12.345 x 1.5 = 18.5175 -> 18
    r = buy(s, "anna", "0.5", "2026-01-04")
    assert (r["amount"], r["points_earned"]) == ("0.500", 0)  # 0.5 x 1.5 = 0.75 -> 0
    s.fail("purchase", "anna", "12.3456", "--date", "2026-01-05", contains="too many decimals")
    shown = s.json("show", "anna")
    # 1.234 + 12.345 + 0.500 = 14.079; 1 + 18 + 0 = 19
    assert (shown["lifetime_spend"], shown["points"]) == ("14.079", 19)
    clean(s)


def test_min_purchase_is_checked_on_the_net(make_shop):
    s = make_shop(programme('[earning]\npoints_per_unit = 1\nmin_purchase = "5.00"\n'))
    enroll(s, "anna")
    assert buy(s, "anna", "4.99", "2026-01-02", "--order", "M1")["points_earned"] == 0  # below 5.00
    assert buy(s, "anna", "5.00", "2026-01-03", "--order", "M2")["points_earned"] == 5  # exactly the minimum
    r = buy(s, "anna", "0", "2026-01-04", "--order", "M3")  # a visit
    assert (r["amount"], r["points_earned"], r["points"]) == ("0.00", 0, 5)
    assert s.sql("SELECT order_id, amount, net, points_earned FROM purchases ORDER BY id") == [
        ("M1", 499, 499, 0), ("M2", 500, 500, 5), ("M3", 0, 0, 0)]
    assert history(s, "anna") == [("earn", 5, 5, "M2")]  # no entry for what earned nothing
    assert s.json("show", "anna")["lifetime_spend"] == "9.99"  # 4.99 + 5.00 + 0
    clean(s)

    # the tier's discount counts: 10% of 5.50 = 0.55 -> net 4.95 < 5.00
    t = make_shop(programme("""
        [earning]
        points_per_unit = 1
        min_purchase = "5.00"

        [[tiers.levels]]
        name = "Member"
        min = "0"
        discount_percent = 10
        """))
    enroll(t, "anna")
    r = buy(t, "anna", "5.50", "2026-01-02")
    assert (r["discount"], r["net"], r["points_earned"]) == ("0.55", "4.95", 0)
    # 10% of 5.56 = 0.556 -> 0.56; net 5.00 reaches the minimum
    r = buy(t, "anna", "5.56", "2026-01-03")
    assert (r["discount"], r["net"], r["points_earned"]) == ("0.56", "5.00", 5)
    clean(t)


def test_tier_discount_lowers_the_net_and_the_points(make_shop):
    s = make_shop(programme("""
        [earning]
        points_per_unit = 100

        [[tiers.levels]]
        name = "Member"
        min = "0"
        discount_percent = 5
        """))
    enroll(s, "anna")
    cases = [
        ("20.00", "1.00", "19.00", 1900),  # 5% of 20.00 = 1.00
        ("0.10", "0.01", "0.09", 9),  # 5% of 0.10 = 0.005 -> 0.01
        ("0.30", "0.02", "0.28", 28),  # 5% of 0.30 = 0.015 -> 0.02
        ("0.70", "0.04", "0.66", 66),  # 5% of 0.70 = 0.035 -> 0.04
    ]
    for day, (amount, discount, net, points) in enumerate(cases, start=2):
        r = buy(s, "anna", amount, f"2026-01-{day:02d}")
        assert (r["amount"], r["discount"], r["net"], r["points_earned"]) == (amount, discount, net, points)
    shown = s.json("show", "anna")
    # 1900 + 9 + 28 + 66 = 2003; net spend 19.00 + 0.09 + 0.28 + 0.66 = 20.03
    assert (shown["points"], shown["lifetime_spend"]) == (2003, "20.03")
    clean(s)


# ---------------------------------------------------------------------------
# paying with points
# ---------------------------------------------------------------------------

REDEEM = """
[earning]
points_per_unit = 1

[redemption]
point_value = "0.01"
min_points = 100
max_share = 0.5
"""


def test_redeem_within_max_share_and_min_points(make_shop):
    s = make_shop(programme(REDEEM))
    enroll(s, "anna")
    assert buy(s, "anna", "500.00", "2026-01-02", "--order", "O1")["points"] == 500
    before = s.snapshot()
    s.fail("purchase", "anna", "40.00", "--redeem", "99", "--date", "2026-01-03", contains="minimum is 100")
    s.fail("purchase", "anna", "40.00", "--redeem", "600", "--date", "2026-01-03", contains="500 available")
    # 300 points = 3.00 > 50% of 5.00
    s.fail("purchase", "anna", "5.00", "--redeem", "300", "--date", "2026-01-03", contains="at most 50%")
    s.fail("purchase", "anna", "40.00", "--redeem", "0", "--date", "2026-01-03")
    s.fail("purchase", "anna", "40.00", "--redeem", "1.5", "--date", "2026-01-03")
    assert s.snapshot() == before

    r = buy(s, "anna", "40.00", "2026-01-03", "--redeem", "300", "--order", "R1")
    # 300 points = 3.00; net 40.00 - 3.00 = 37.00 -> 37 points; 500 - 300 + 37 = 237
    assert r == {**r, "amount": "40.00", "discount": "0.00", "paid_with_points": "3.00", "net": "37.00",
                 "points_redeemed": 300, "points_earned": 37, "points": 237}
    r = buy(s, "anna", "4.00", "2026-01-04", "--redeem", "200", "--order", "R2")
    # 200 points = 2.00 = exactly 50% of 4.00; net 2.00 -> 2; 237 - 200 + 2 = 39
    assert (r["paid_with_points"], r["net"], r["points_redeemed"], r["points_earned"], r["points"]) == (
        "2.00", "2.00", 200, 2, 39)
    assert history(s, "anna") == [
        ("earn", 500, 500, "O1"),
        ("redeem", -300, 200, "R1"),
        ("earn", 37, 237, "R1"),
        ("redeem", -200, 37, "R2"),
        ("earn", 2, 39, "R2"),
    ]
    shown = s.json("show", "anna")
    assert (shown["points"], shown["lifetime_spend"]) == (39, "539.00")  # net spend 500 + 37 + 2
    # both redemptions came out of O1's 500 points
    assert s.sql("""SELECT d.order_id, c.order_id, a.points FROM allocations a
                    JOIN entries d ON d.id = a.debit_id JOIN entries c ON c.id = a.credit_id
                    ORDER BY a.id""") == [("R1", "O1", 300), ("R2", "O1", 200)]
    clean(s)


def test_tier_crossed_by_the_purchase_then_discount_and_redeem(make_shop):
    s = make_shop(programme("""
        [earning]
        points_per_unit = 1

        [redemption]
        max_share = 0.5

        [[tiers.levels]]
        name = "Bronze"
        min = "0"

        [[tiers.levels]]
        name = "Gold"
        min = "100"
        multiplier = 2
        discount_percent = 10
        """))
    enroll(s, "anna")
    r = buy(s, "anna", "150.00", "2026-01-02")
    # earned at Bronze, before the purchase's own spend counts: no discount, x1
    assert (r["discount"], r["points_earned"], r["points"], r["tier"]) == ("0.00", 150, 150, "Gold")
    assert s.sql("SELECT from_tier, to_tier FROM tier_changes") == [("Bronze", "Gold")]
    r = buy(s, "anna", "100.00", "2026-01-03", "--redeem", "100")
    # 10% off = 10.00; 100 points = 1.00; net 100.00 - 10.00 - 1.00 = 89.00; x2 = 178
    assert (r["discount"], r["paid_with_points"], r["net"], r["points_earned"], r["points"]) == (
        "10.00", "1.00", "89.00", 178, 228)  # 150 - 100 + 178
    shown = s.json("show", "anna")
    assert (shown["tier"], shown["lifetime_spend"], shown["next_tier"]) == ("Gold", "239.00", None)  # 150 + 89
    clean(s)


# ---------------------------------------------------------------------------
# refunds
# ---------------------------------------------------------------------------


def test_partial_refunds_take_back_in_proportion(make_shop):
    s = make_shop(programme("[earning]\npoints_per_unit = 1\n"))
    enroll(s, "anna")
    assert buy(s, "anna", "99.00", "2026-01-02", "--order", "O1")["points_earned"] == 99
    r = s.json("refund", "O1", "--amount", "33.00", "--date", "2026-01-03")
    # 99 x 33/99 = 33
    assert r == {**r, "amount": "33.00", "refunded_total": "33.00", "order_amount": "99.00",
                 "points_taken_back": 33, "points": 66}
    s.fail("refund", "O1", "--amount", "66.01", "--date", "2026-01-04", contains="66.00")
    r = s.json("refund", "O1", "--date", "2026-01-04")  # the rest: 66.00
    assert (r["amount"], r["refunded_total"], r["points_taken_back"], r["points"]) == ("66.00", "99.00", 66, 0)
    s.fail("refund", "O1", "--date", "2026-01-05", contains="already fully refunded")
    assert s.sql("SELECT sum(points), sum(net), sum(amount) FROM refunds") == [(99, 9900, 9900)]
    assert history(s, "anna") == [("earn", 99, 99, "O1"), ("refund", -33, 66, "O1"), ("refund", -66, 0, "O1")]
    assert s.json("show", "anna")["lifetime_spend"] == "0.00"
    clean(s)


@pytest.mark.parametrize(
    "rounding, earned, steps",
    [
        # 3.00 x 3.4 = 10.2; refund 1.00 three times: cumulative 1/3, 2/3, 3/3 of the points
        ("floor", 10, [3, 3, 4]),  # 3.33 -> 3, 6.67 -> 6, 10
        ("half-up", 10, [3, 4, 3]),  # 3, 7, 10
        ("ceil", 11, [4, 4, 3]),  # 10.2 -> 11; 3.67 -> 4, 7.33 -> 8, 11
    ],
)
def test_odd_partial_refunds_add_up_to_what_was_earned(make_shop, rounding, earned, steps):
    s = make_shop(programme(f'[earning]\npoints_per_unit = 3.4\nrounding = "{rounding}"\n'))
    enroll(s, "anna")
    assert buy(s, "anna", "3.00", "2026-01-02", "--order", "O1")["points_earned"] == earned
    got = [s.json("refund", "O1", "--amount", "1.00", "--date", f"2026-01-0{3 + i}")["points_taken_back"]
           for i in range(3)]
    assert got == steps
    assert sum(got) == earned
    assert s.json("balance", "anna")[0]["points"] == 0
    assert s.sql("SELECT net FROM refunds ORDER BY id") == [(100,), (100,), (100,)]
    clean(s)


def test_refund_uses_the_rounding_in_force_when_the_points_were_earned(make_shop):
    s = make_shop(programme('[earning]\npoints_per_unit = 3.4\nrounding = "floor"\n'))
    enroll(s, "anna")
    assert buy(s, "anna", "3.00", "2026-01-02", "--order", "O1")["points_earned"] == 10  # 10.2 -> floor 10
    s.config.write_text(programme('[earning]\npoints_per_unit = 3.4\nrounding = "ceil"\n'), encoding="utf-8")
    # earned under floor: 10 x 1/3 = 3.33 -> 3 (ceil would take 4)
    assert s.json("refund", "O1", "--amount", "1.00", "--date", "2026-01-03")["points_taken_back"] == 3
    assert buy(s, "anna", "3.00", "2026-01-04", "--order", "O2")["points_earned"] == 11  # now ceil: 10.2 -> 11
    assert s.json("refund", "O2", "--amount", "1.00", "--date", "2026-01-05")["points_taken_back"] == 4  # 3.67 -> 4
    clean(s)


def test_refund_after_the_points_were_spent_leaves_a_debt(make_shop):
    s = make_shop(programme("[earning]\npoints_per_unit = 1\n"))
    enroll(s, "anna")
    buy(s, "anna", "100.00", "2026-01-02", "--order", "O1")  # +100
    s.run("redeem", "anna", "100", "--date", "2026-01-03")  # 0
    r = s.json("refund", "O1", "--date", "2026-01-04")
    assert (r["points_taken_back"], r["points"]) == (100, -100)
    assert s.json("balance")[0]["points"] == -100
    s.fail("redeem", "anna", "1", "--date", "2026-01-04")
    assert buy(s, "anna", "30.00", "2026-01-05", "--order", "O2")["points"] == -70  # -100 + 30
    assert buy(s, "anna", "80.00", "2026-01-06", "--order", "O3")["points"] == 10  # -70 + 80
    s.fail("redeem", "anna", "11", "--date", "2026-01-07")
    s.run("redeem", "anna", "10", "--date", "2026-01-07")
    assert history(s, "anna") == [
        ("earn", 100, 100, "O1"),
        ("redeem", -100, 0, None),
        ("refund", -100, -100, "O1"),
        ("earn", 30, -70, "O2"),
        ("earn", 80, 10, "O3"),
        ("redeem", -10, 0, None),
    ]
    # the debt was paid by O2's 30 and 70 of O3's 80; the last 10 of O3 were spent
    assert s.sql("""SELECT d.kind, c.order_id, a.points FROM allocations a
                    JOIN entries d ON d.id = a.debit_id JOIN entries c ON c.id = a.credit_id
                    ORDER BY a.id""") == [("redeem", "O1", 100), ("refund", "O2", 30), ("refund", "O3", 70),
                                          ("redeem", "O3", 10)]
    shown = s.json("show", "anna")
    assert (shown["points"], shown["lifetime_spend"]) == (0, "110.00")  # 100 - 100 + 30 + 80
    clean(s)


def test_refund_gives_back_the_points_that_paid_for_the_order(make_shop):
    s = make_shop(programme("[earning]\npoints_per_unit = 1\n"))
    enroll(s, "anna")
    buy(s, "anna", "200.00", "2026-01-02", "--order", "O1")  # +200
    r = buy(s, "anna", "50.00", "2026-01-03", "--order", "O2", "--redeem", "100")
    # 100 points = 1.00; net 49.00 -> 49; 200 - 100 + 49 = 149
    assert (r["net"], r["points_earned"], r["points"]) == ("49.00", 49, 149)
    r = s.json("refund", "O2", "--amount", "25.00", "--date", "2026-01-04")
    # half the order: 49 x 1/2 = 24.5 -> 24 back; 100 x 1/2 = 50 restored; 149 - 24 + 50 = 175
    assert (r["points_taken_back"], r["points_restored"], r["points"]) == (24, 50, 175)
    r = s.json("refund", "O2", "--date", "2026-01-05")
    # the rest: 49 - 24 = 25 back, 100 - 50 = 50 restored; 175 - 25 + 50 = 200
    assert (r["points_taken_back"], r["points_restored"], r["points"]) == (25, 50, 200)
    assert history(s, "anna") == [
        ("earn", 200, 200, "O1"),
        ("redeem", -100, 100, "O2"),
        ("earn", 49, 149, "O2"),
        ("refund", -24, 125, "O2"),
        ("restore", 50, 175, "O2"),
        ("refund", -25, 150, "O2"),
        ("restore", 50, 200, "O2"),
    ]
    assert s.json("show", "anna")["lifetime_spend"] == "200.00"  # 200 + 49 - 24.50 - 24.50
    s.run("redeem", "anna", "200", "--date", "2026-01-06")  # restored points are spendable
    assert s.json("balance", "anna")[0]["points"] == 0
    clean(s)


# ---------------------------------------------------------------------------
# spending, adjusting, awarding
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("expiry_days", [0, 365])
def test_redeem_consumes_the_oldest_lots_first(make_shop, expiry_days):
    s = make_shop(programme(f"[earning]\npoints_per_unit = 1\n\n[expiry]\ndays = {expiry_days}\n"))
    enroll(s, "anna", "2026-01-01")
    buy(s, "anna", "30.00", "2026-03-01", "--order", "O3")  # recorded first, but the newest
    buy(s, "anna", "10.00", "2026-01-10", "--order", "O1")
    buy(s, "anna", "20.00", "2026-02-10", "--order", "O2")
    s.run("adjust", "anna", "5", "--reason", "goodwill", "--date", "2026-02-15")
    s.run("redeem", "anna", "25", "--date", "2026-04-01")  # O1's 10, then 15 of O2
    s.run("redeem", "anna", "20", "--date", "2026-04-02")  # O2's last 5, the adjustment's 5, 10 of O3
    assert s.sql("""SELECT date(d.at), c.kind, c.order_id, a.points FROM allocations a
                    JOIN entries d ON d.id = a.debit_id JOIN entries c ON c.id = a.credit_id
                    ORDER BY a.id""") == [
        ("2026-04-01", "earn", "O1", 10),
        ("2026-04-01", "earn", "O2", 15),
        ("2026-04-02", "earn", "O2", 5),
        ("2026-04-02", "adjust", None, 5),
        ("2026-04-02", "earn", "O3", 10),
    ]
    assert s.json("balance", "anna")[0]["points"] == 20  # 30 + 10 + 20 + 5 - 25 - 20
    expected_expiry = [("O3", "2027-03-01"), ("O1", "2027-01-10"), ("O2", "2027-02-10")] if expiry_days else [
        ("O3", None), ("O1", None), ("O2", None)]
    assert s.sql("SELECT order_id, expires_on FROM entries WHERE kind = 'earn' ORDER BY id") == expected_expiry
    clean(s)


def test_redeem_a_reward(make_shop):
    s = make_shop(programme("""
        [earning]
        points_per_unit = 1

        [[rewards]]
        name = "Free coffee"
        points = 150

        [[rewards]]
        name = "Cake"
        points = 400
        """))
    enroll(s, "anna")
    buy(s, "anna", "200.00", "2026-01-02")  # +200
    r = s.json("redeem", "anna", "--reward", "free coffee", "--date", "2026-01-03")
    assert r == {**r, "points_redeemed": 150, "reward": "Free coffee", "points": 50}  # 200 - 150
    s.fail("redeem", "anna", "--reward", "Cake", "--date", "2026-01-03", contains="50 available")
    s.fail("redeem", "anna", "--reward", "Pizza", "--date", "2026-01-03", contains="unknown reward")
    s.fail("redeem", "anna", "10", "--reward", "Cake", "--date", "2026-01-03", code=2)
    last = s.json("history", "anna")[-1]
    assert (last["kind"], last["points"], last["balance"], last["note"]) == ("redeem", -150, 50, "Free coffee")
    clean(s)


def test_adjust_both_ways(make_shop):
    s = make_shop(programme())
    enroll(s, "anna")
    r = s.json("adjust", "anna", "50", "--reason", "sorry for the wait", "--date", "2026-01-02")
    assert r == {**r, "adjusted": 50, "points": 50}
    r = s.json("adjust", "anna", "-20", "--reason", "double-scanned receipt", "--date", "2026-01-03")
    assert r == {**r, "adjusted": -20, "points": 30}  # 50 - 20
    before = s.snapshot()
    s.fail("adjust", "anna", "-31", "--reason", "too much", "--date", "2026-01-04")  # only 30
    s.fail("adjust", "anna", "0", "--reason", "nothing", "--date", "2026-01-04")
    s.fail("adjust", "anna", "5", "--reason", "   ", "--date", "2026-01-04")
    s.fail("adjust", "anna", "1.5", "--reason", "half", "--date", "2026-01-04")
    assert s.snapshot() == before
    s.run("adjust", "anna", "-30", "--reason", "all of it", "--date", "2026-01-04")
    assert [(h["kind"], h["points"], h["balance"], h["note"]) for h in s.json("history", "anna")] == [
        ("adjust", 50, 50, "sorry for the wait"),
        ("adjust", -20, 30, "double-scanned receipt"),
        ("adjust", -30, 0, "all of it"),
    ]
    clean(s)


def test_award_within_and_beyond_its_limits(make_shop):
    s = make_shop(programme("""
        [earning.actions]
        review = { points = 20, limit = 1, per = "year" }
        feedback = { points = 10 }
        checkin = { points = 1, limit = 1, per = "week" }
        """))
    enroll(s, "anna", "2025-06-01")
    r = s.json("award", "anna", "review", "--date", "2025-12-31")
    assert (r["points_awarded"], r["points"]) == (20, 20)
    s.fail("award", "anna", "review", "--date", "2025-12-31T18:00", contains="limit is 1 per year")
    assert s.json("award", "anna", "review", "--date", "2026-01-01")["points"] == 40  # a new calendar year
    s.fail("award", "anna", "review", "--date", "2026-11-01", contains="limit is 1 per year")
    for _ in range(3):  # no limit
        s.run("award", "anna", "feedback", "--date", "2026-01-02")
    assert s.json("balance", "anna")[0]["points"] == 70  # 20 + 20 + 3 x 10
    assert s.json("award", "anna", "checkin", "--date", "2026-11-15")["points"] == 71  # Sunday
    s.fail("award", "anna", "checkin", "--date", "2026-11-10", contains="per week")  # Tuesday, same ISO week
    assert s.json("award", "anna", "checkin", "--date", "2026-11-16")["points"] == 72  # Monday: a new week
    s.fail("award", "anna", "tweet", "--date", "2026-11-16", contains="unknown action")
    assert s.sql("SELECT action, count(*) FROM entries WHERE kind = 'award' GROUP BY action ORDER BY action") == [
        ("checkin", 2), ("feedback", 3), ("review", 2)]
    clean(s)


# ---------------------------------------------------------------------------
# tiers over time
# ---------------------------------------------------------------------------


def test_calendar_year_window(make_shop):
    s = make_shop(gold_at_100(window="calendar-year"))
    enroll(s, "anna", "2025-01-01")
    assert buy(s, "anna", "150.00", "2025-06-01")["tier"] == "Gold"  # 150 points at Bronze
    assert buy(s, "anna", "10.00", "2025-07-01")["points_earned"] == 20  # Gold: 10 x 2
    last_year = s.json("show", "anna", "--as-of", "2025-12-31")
    assert last_year == {**last_year, "tier": "Gold", "qualifying_total": "160.00", "lifetime_spend": "160.00"}
    this_year = s.json("show", "anna", "--as-of", "2026-01-01")
    # last year's 160.00 does not count in 2026
    assert this_year == {**this_year, "tier": "Bronze", "qualifying_total": "0.00", "next_tier": "Gold",
                         "to_next_tier": "100.00", "lifetime_spend": "160.00"}
    r = buy(s, "anna", "10.00", "2026-02-01")
    assert (r["points_earned"], r["tier"], r["points"]) == (10, "Bronze", 180)  # x1 again; 150 + 20 + 10
    assert s.sql("SELECT from_tier, to_tier FROM tier_changes ORDER BY id") == [("Bronze", "Gold"), ("Gold", "Bronze")]
    clean(s)


def test_rolling_365_window(make_shop):
    s = make_shop(gold_at_100(window="rolling-365"))
    enroll(s, "anna", "2025-01-01")
    buy(s, "anna", "150.00", "2025-03-01")
    # 2026-02-28 is 364 days after 2025-03-01: the window 2025-03-01..2026-02-28 holds it
    day_364 = s.json("show", "anna", "--as-of", "2026-02-28")
    assert (day_364["tier"], day_364["qualifying_total"]) == ("Gold", "150.00")
    # 2026-03-01 is 365 days after: the window starts 2025-03-02
    day_365 = s.json("show", "anna", "--as-of", "2026-03-01")
    assert (day_365["tier"], day_365["qualifying_total"], day_365["to_next_tier"]) == ("Bronze", "0.00", "100.00")
    assert buy(s, "anna", "10.00", "2026-02-28")["points_earned"] == 20  # still Gold: x2
    assert buy(s, "anna", "10.00", "2026-03-01")["points_earned"] == 10  # window holds 10.00 only: Bronze
    assert s.json("show", "anna", "--as-of", "2026-02-28")["qualifying_total"] == "160.00"
    assert s.json("show", "anna", "--as-of", "2026-03-01")["qualifying_total"] == "20.00"
    assert s.json("balance", "anna")[0]["points"] == 180  # 150 + 20 + 10

    # across Feb 29 2024: 2023-03-10 + 364 days = 2024-03-08
    enroll(s, "ben", "2023-01-01")
    buy(s, "ben", "150.00", "2023-03-10")
    assert s.json("show", "ben", "--as-of", "2024-03-08")["tier"] == "Gold"
    assert s.json("show", "ben", "--as-of", "2024-03-09")["tier"] == "Bronze"
    clean(s)


@pytest.mark.parametrize(
    "downgrade, tier_after_refund, next_points, changes",
    [
        ("true", "Bronze", 10, [("Bronze", "Gold"), ("Gold", "Bronze")]),  # 50.00 < 100.00: back to x1
        # downgrade = false keeps a tier once reached, but spend is net of refunds and a refund
        # counts against the purchase it refunds: net 50.00 never reached Gold, so no loophole
        # in buying big, taking the tier and returning the goods.
        ("false", "Bronze", 10, [("Bronze", "Gold"), ("Gold", "Bronze")]),
    ],
)
def test_downgrade_after_a_refund(make_shop, downgrade, tier_after_refund, next_points, changes):
    s = make_shop(gold_at_100(downgrade=downgrade))
    enroll(s, "anna")
    assert buy(s, "anna", "150.00", "2026-01-02", "--order", "O1")["tier"] == "Gold"
    r = s.json("refund", "O1", "--amount", "100.00", "--date", "2026-01-03")
    # 150 x 100/150 = 100 back; spend 150.00 - 100.00 = 50.00
    assert (r["points_taken_back"], r["points"], r["tier"]) == (100, 50, tier_after_refund)
    shown = s.json("show", "anna")
    assert (shown["tier"], shown["qualifying_total"]) == (tier_after_refund, "50.00")
    assert buy(s, "anna", "10.00", "2026-01-04")["points_earned"] == next_points
    assert s.json("balance", "anna")[0] == {"member": "anna", "name": "Anna", "points": 50 + next_points,
                                            "tier": tier_after_refund}
    assert s.json("show", "anna", "--as-of", "2026-01-02")["tier"] == "Gold"
    assert s.sql("SELECT from_tier, to_tier FROM tier_changes ORDER BY id") == changes
    clean(s)


def test_tiers_by_points_earned(make_shop):
    s = make_shop(programme("""
        [earning]
        points_per_unit = 1

        [tiers]
        basis = "points"

        [[tiers.levels]]
        name = "Bronze"
        min = 0

        [[tiers.levels]]
        name = "Silver"
        min = 100
        multiplier = 1.5
        """))
    enroll(s, "anna")
    assert buy(s, "anna", "90.00", "2026-01-02")["points_earned"] == 90
    s.run("redeem", "anna", "50", "--date", "2026-01-03")  # balance 40, still 90 earned
    shown = s.json("show", "anna", "--as-of", "2026-01-03")
    assert (shown["tier"], shown["qualifying_total"], shown["to_next_tier"]) == ("Bronze", 90, 10)
    r = buy(s, "anna", "10.00", "2026-01-04")  # earned at x1: 90 + 10 = 100 -> Silver
    assert (r["points_earned"], r["tier"]) == (10, "Silver")
    assert buy(s, "anna", "10.00", "2026-01-05")["points_earned"] == 15  # x1.5
    shown = s.json("show", "anna")
    # earned 90 + 10 + 15 = 115; balance 115 - 50 = 65; spend 110.00
    assert shown == {**shown, "tier": "Silver", "qualifying_total": 115, "points": 65, "lifetime_spend": "110.00",
                     "next_tier": None, "to_next_tier": None}
    t = s.json("tiers")
    assert t["tiers"] == [
        {"tier": "Bronze", "min": 0, "members": 0, "total": 0, "share_percent": "0.0"},
        {"tier": "Silver", "min": 100, "members": 1, "total": 115, "share_percent": "100.0"},
    ]
    assert t["closest"] == []
    clean(s)


# ---------------------------------------------------------------------------
# reports: as of a moment, balances, tiers
# ---------------------------------------------------------------------------


def test_as_of_gives_the_same_answer_after_later_activity(make_shop):
    s = make_shop(programme("""
        [earning]
        points_per_unit = 1

        [expiry]
        days = 60
        warn_days = 30

        [[tiers.levels]]
        name = "Bronze"
        min = "0"

        [[tiers.levels]]
        name = "Gold"
        min = "100"
        multiplier = 2
        """))
    enroll(s, "anna", "2026-01-01")
    enroll(s, "ben", "2026-01-01")
    buy(s, "anna", "80.00", "2026-01-15", "--order", "O1")  # 80, expires 2026-03-16
    buy(s, "ben", "30.00", "2026-02-01", "--order", "O2")  # 30
    s.run("redeem", "anna", "20", "--date", "2026-02-20")  # anna 60

    def figures():
        a = ("--as-of", "2026-03-01")
        return {"show anna": s.json("show", "anna", *a), "show ben": s.json("show", "ben", *a),
                "history": s.json("history", "anna", *a), "balance": s.json("balance", *a),
                "tiers": s.json("tiers", *a), "members": s.json("members", *a)}

    before = figures()
    assert (before["show anna"]["points"], before["show anna"]["lifetime_spend"]) == (60, "80.00")
    assert before["show anna"]["expiring"] == [{"date": "2026-03-16", "points": 60}]  # within 30 days of 03-01
    assert [(b["member"], b["points"], b["tier"]) for b in before["balance"]] == [
        ("anna", 60, "Bronze"), ("ben", 30, "Bronze")]

    buy(s, "anna", "50.00", "2026-03-02", "--order", "O3")  # 80 + 50 = 130.00: Gold after
    s.run("redeem", "anna", "30", "--date", "2026-03-05")  # spends from the lot that expires 03-16
    s.json("refund", "O2", "--date", "2026-03-10")  # ben's 30 back
    enroll(s, "cara", "2026-03-03")
    buy(s, "cara", "500.00", "2026-03-04")
    s.run("adjust", "anna", "5", "--reason", "goodwill", "--date", "2026-03-20")

    assert figures() == before
    now = s.json("show", "anna", "--as-of", "2026-03-20")
    # 60 + 50 - 30 + 5, less the 30 left of the 01-15 lot: it expired on 03-16,
    # and the adjustment on 03-20 posted that expiry before adding its 5.
    assert (now["points"], now["tier"]) == (55, "Gold")
    assert [(h["date"], h["kind"], h["points"]) for h in s.json("history", "anna", "--as-of", "2026-03-20")
            if h["kind"] == "expire"] == [
        ("2026-03-16", "expire", -30)]
    clean(s)


def test_balance_and_tiers_after_a_scenario(make_shop):
    s = make_shop(programme("""
        [earning]
        points_per_unit = 1

        [[tiers.levels]]
        name = "Bronze"
        min = "0"

        [[tiers.levels]]
        name = "Silver"
        min = "200"
        multiplier = 1.25

        [[tiers.levels]]
        name = "Gold"
        min = "500"
        multiplier = 1.5
        discount_percent = 5
        """))
    for m in ("anna", "bob", "cara", "dave"):
        enroll(s, m)
    assert buy(s, "anna", "600.00", "2026-01-02")["points_earned"] == 600  # at Bronze, Gold after
    r = buy(s, "anna", "20.00", "2026-01-03")
    # Gold: 5% off = 1.00; 19.00 x 1.5 = 28.5 -> floor 28
    assert (r["discount"], r["points_earned"], r["points"]) == ("1.00", 28, 628)
    buy(s, "bob", "250.00", "2026-01-02")  # 250, Silver after
    buy(s, "dave", "199.99", "2026-01-02")  # 199, still Bronze: 0.01 short of Silver

    assert s.json("balance") == [
        {"member": "anna", "name": "Anna", "points": 628, "tier": "Gold"},
        {"member": "bob", "name": "Bob", "points": 250, "tier": "Silver"},
        {"member": "cara", "name": "Cara", "points": 0, "tier": "Bronze"},
        {"member": "dave", "name": "Dave", "points": 199, "tier": "Bronze"},
    ]
    assert [b["member"] for b in s.json("balance", "dave", "anna")] == ["dave", "anna"]
    t = s.json("tiers")
    assert (t["members"], t["basis"], t["window"]) == (4, "spend", "lifetime")
    assert t["tiers"] == [
        # cara 0.00 + dave 199.99; 2 of 4 members
        {"tier": "Bronze", "min": "0.00", "members": 2, "total": "199.99", "share_percent": "50.0"},
        {"tier": "Silver", "min": "200.00", "members": 1, "total": "250.00", "share_percent": "25.0"},
        # anna's net spend 600.00 + 19.00
        {"tier": "Gold", "min": "500.00", "members": 1, "total": "619.00", "share_percent": "25.0"},
    ]
    assert t["closest"] == [
        {"member": "dave", "name": "Dave", "tier": "Bronze", "next_tier": "Silver", "total": "199.99",
         "to_next_tier": "0.01"},
        {"member": "cara", "name": "Cara", "tier": "Bronze", "next_tier": "Silver", "total": "0.00",
         "to_next_tier": "200.00"},
        {"member": "bob", "name": "Bob", "tier": "Silver", "next_tier": "Gold", "total": "250.00",
         "to_next_tier": "250.00"},
    ]
    # before anyone bought anything: everyone Bronze
    early = s.json("tiers", "--as-of", "2026-01-01")
    assert [(x["tier"], x["members"], x["total"]) for x in early["tiers"]] == [
        ("Bronze", 4, "0.00"), ("Silver", 0, "0.00"), ("Gold", 0, "0.00")]
    clean(s)


@pytest.mark.parametrize(
    "currency, ppu, point_value, amount, discount, redeem, paid, net, earned",
    [
        # JPY: 5% of 1999 = 99.95 -> 100 yen off; 200 points x 1 yen = 200; net 1699 x 0.01 = 16.99 -> 16
        ("JPY", '"0.01"', '"1"', "1999", "100", "200", "200", "1699", 16),
        # KWD: 5% of 12.345 = 0.61725 -> 0.617 off; 500 points x 0.001 = 0.500; net 11.228 -> 11
        ("KWD", "1", '"0.001"', "12.345", "0.617", "500", "0.500", "11.228", 11),
    ],
)
def test_discount_and_points_in_other_currencies(make_shop, currency, ppu, point_value, amount, discount, redeem,
                                                 paid, net, earned):
    s = make_shop(programme(f"""
        [earning]
        points_per_unit = {ppu}

        [redemption]
        point_value = {point_value}

        [[tiers.levels]]
        name = "Member"
        min = "0"
        discount_percent = 5
        """, currency=currency))
    enroll(s, "anna")
    s.run("adjust", "anna", "1000", "--reason", "opening balance", "--date", "2026-01-02")
    r = buy(s, "anna", amount, "2026-01-03", "--redeem", redeem)
    assert (r["amount"], r["discount"], r["paid_with_points"], r["net"], r["points_earned"]) == (
        amount, discount, paid, net, earned)
    assert r["points"] == 1000 - int(redeem) + earned
    assert s.json("show", "anna")["lifetime_spend"] == net
    clean(s)
