"""purchase: earning by the spec's formula, through the CLI, on a real ledger."""

import pytest

TIERS = """
[program]
name = "Tiered"
currency = "EUR"
timezone = "Europe/Tallinn"

[earning]
points_per_unit = 1
rounding = "floor"

[redemption]
point_value = "0.01"
min_points = 100
max_share = 0.5

[tiers]
basis = "spend"

[[tiers.levels]]
name = "Bronze"
min = 0

[[tiers.levels]]
name = "Silver"
min = 200
multiplier = 1.25

[[tiers.levels]]
name = "Gold"
min = 500
multiplier = 1.5
discount_percent = 5
"""


def test_purchase_earns_points_and_reports_json(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    r = shop.json("purchase", "anna", "12.50", "--order", "A1", "--date", "2026-01-02")
    assert r == {**r, "member": "anna", "order": "A1", "amount": "12.50", "discount": "0.00",
                 "points_earned": 12, "points_redeemed": 0, "points": 12, "tier": "Member"}
    assert shop.sql("SELECT kind, points, order_id FROM entries") == [("earn", 12, "A1")]
    assert shop.sql("SELECT amount, net FROM purchases") == [(1250, 1250)]


def test_tier_crossed_by_the_purchase_itself_earns_at_the_old_multiplier(make_shop):
    s = make_shop(TIERS)
    s.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    first = s.json("purchase", "anna", "150.00", "--date", "2026-01-02")
    assert (first["points_earned"], first["tier"]) == (150, "Bronze")
    # 150 + 100 = 250 crosses Silver (200) only after this purchase: earned at x1.
    second = s.json("purchase", "anna", "100.00", "--date", "2026-01-03")
    assert (second["points_earned"], second["tier"]) == (100, "Silver")
    # Now Silver: 33.33 x 1.25 = 41.6625 -> floor 41.
    third = s.json("purchase", "anna", "33.33", "--date", "2026-01-04")
    assert third["points_earned"] == 41
    assert s.sql("SELECT from_tier, to_tier FROM tier_changes") == [("Bronze", "Silver")]
