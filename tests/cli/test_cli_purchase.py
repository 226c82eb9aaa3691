"""purchase: earning by the spec's formula, through the CLI, on a real ledger."""

import pytest

from tests.conftest import programme_file

pytestmark = [pytest.mark.backends("sqlite", "postgresql"), pytest.mark.pg_full]  # PostgreSQL: the whole run


TIERS = programme_file("tiers_by_spend")  # tests/programmes/, shared with test_cli_time


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


def test_bare_dates_on_the_day_of_a_timed_purchase(shop):
    """A bare --date means that day: it may spend points earned at 09:15 that
    day, and refund an order rung up at 09:15 that day."""
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-05T08:00")
    shop.run("purchase", "anna", "12.50", "--order", "o1", "--date", "2026-01-05T09:15")
    assert shop.json("redeem", "anna", "5", "--date", "2026-01-05")["points"] == 7
    r = shop.json("refund", "o1", "--amount", "2.50", "--date", "2026-01-05")
    assert (r["points_taken_back"], r["points"]) == (2, 5)
    assert shop.sql("SELECT at FROM refunds") == [("2026-01-05 09:15:00.000000",)]
    shop.fail("refund", "o1", "--date", "2026-01-04", contains="before the order's date")
    assert shop.run("check").stdout == ""


def test_a_backdated_write_records_the_tier_in_force_then(make_shop):
    s = make_shop(TIERS)
    s.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    s.run("purchase", "anna", "250.00", "--order", "big", "--date", "2026-03-01")  # Bronze -> Silver
    s.run("purchase", "anna", "10.00", "--order", "early", "--date", "2026-02-01")  # before it: still Bronze
    assert s.sql("SELECT from_tier, to_tier FROM tier_changes") == [("Bronze", "Silver")]


def test_program_as_csv_and_json(shop):
    rows = shop.run("program", "--format", "csv").stdout.splitlines()
    assert rows[0] == "section,key,value" and "program,currency,EUR" in rows
    assert "tiers,levels.0.name,Member" in rows
    assert shop.json("program")["tiers"]["levels"][0]["name"] == "Member"


def test_members_search_finds_a_phone_as_typed(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--phone", "+372 5555 1234", "--date", "2026-01-01")
    shop.run("enroll", "bob", "--name", "Bob", "--date", "2026-01-01")
    assert [m["member"] for m in shop.json("members", "--search", "+372 5555")] == ["anna"]
    assert [m["member"] for m in shop.json("members", "--search", "BO")] == ["bob"]
