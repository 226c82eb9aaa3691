"""Time in writes: bare dates, back-dating, and what a tier or a lot remembers.
Each test pins down a rule a reviewer broke by hand once."""

import pytest

from tests.conftest import programme_file

pytestmark = [pytest.mark.backends("sqlite", "postgresql"), pytest.mark.pg_full]  # PostgreSQL: the whole run

TIERS = programme_file("tiers_by_spend")

SPENDY = """
[program]
name = "Spendy"
currency = "EUR"
timezone = "Europe/Tallinn"

[redemption]
point_value = "0.01"
min_points = 0
max_share = 1.0

[expiry]
days = 365
"""


def test_a_bare_date_never_spends_points_earned_later_that_day(make_shop):
    s = make_shop(SPENDY)
    s.run("enroll", "a", "--name", "A", "--date", "2026-01-01")
    s.run("purchase", "a", "200", "--order", "O1", "--date", "2026-01-05T09:15")
    # Stamped after the 09:15 purchase, so it may spend its points ...
    s.run("redeem", "a", "150", "--date", "2026-01-05")
    rows = s.json("history", "a")
    assert [(r["kind"], r["balance"]) for r in rows] == [("earn", 200), ("redeem", 50)]
    assert rows[1]["at"] == "2026-01-05T09:15:00"
    # ... but an explicit earlier time sees only what existed then.
    s.fail("redeem", "a", "10", "--date", "2026-01-05T09:00", contains="has 0 available")
    assert s.json("balance", "a", "--as-of", "2026-01-05T08:00")[0]["points"] == 0
    assert s.run("check").stdout == ""


def test_a_time_later_today_is_in_the_future(shop):
    shop.run("enroll", "a", "--name", "A", "--date", "2026-01-01")
    shop.fail("adjust", "a", "5", "--reason", "x", "--date", "2099-01-01T00:00", contains="in the future")
    from loyalty_cli.domain.dates import now
    later = now("Europe/Tallinn").replace(hour=23, minute=59, second=59)
    if later > now("Europe/Tallinn"):  # always, except in the last second of the day
        shop.fail("adjust", "a", "5", "--reason", "x", "--date", later.isoformat(), contains="in the future")


@pytest.mark.parametrize("args", [
    ["tiers", "--as-of", "0001-01-01"],
    ["show", "a", "--as-of", "9999-12-31"],
    ["balance", "--as-of", "0001-01-01T00:00+05:00"],
    ["history", "a", "--since", "0001-01-01T00:00+01:00"],
    ["enroll", "old", "--name", "O", "--date", "0001-01-01"],
])
def test_dates_outside_1900_to_9998_are_refused(shop, args):
    shop.run("enroll", "a", "--name", "A", "--date", "2026-01-01")
    shop.fail(*args, contains="before 1900" if "0001" in " ".join(args) else "after 9998")


def test_a_refund_gives_back_redeemed_points_with_their_old_expiry(make_shop):
    s = make_shop(SPENDY)
    s.run("enroll", "a", "--name", "A", "--date", "2025-01-01")
    s.run("purchase", "a", "100", "--date", "2025-01-10")  # 100 points, expiring 2026-01-10
    s.run("purchase", "a", "10", "--order", "O2", "--redeem", "100", "--date", "2026-01-08")
    s.run("refund", "O2", "--date", "2026-01-09")
    assert s.sql("SELECT points, expires_on FROM entries WHERE kind = 'restore'") == [(100, "2026-01-10")]
    assert s.run("check").stdout == ""


def test_partial_refunds_restore_from_each_lot_once(make_shop):
    s = make_shop(SPENDY)
    s.run("enroll", "a", "--name", "A", "--date", "2025-01-01")
    s.run("purchase", "a", "30", "--date", "2025-02-01")  # lot A: 30, expires 2026-02-01
    s.run("purchase", "a", "50", "--date", "2025-03-01")  # lot B: 50, expires 2026-03-01
    s.run("purchase", "a", "100", "--order", "O3", "--redeem", "60", "--date", "2025-04-01")  # 30 of A, 30 of B
    s.run("refund", "O3", "--amount", "50", "--date", "2025-04-02")  # half: 30 points back, all from A
    s.run("refund", "O3", "--date", "2025-04-03")  # the rest: 30 from B
    assert s.sql("SELECT points, expires_on FROM entries WHERE kind = 'restore' ORDER BY id") == [
        (30, "2026-02-01"), (30, "2026-03-01")]
    assert s.run("check").stdout == ""


def test_a_point_is_never_worth_more_than_its_value(make_shop):
    s = make_shop(SPENDY.replace('point_value = "0.01"', 'point_value = "0.005"'))
    s.run("enroll", "a", "--name", "A", "--date", "2026-01-01")
    s.run("adjust", "a", "100", "--reason", "gift", "--date", "2026-01-01")
    s.fail("purchase", "a", "10", "--redeem", "1", "--date", "2026-01-02", contains="worth less than")
    r = s.json("purchase", "a", "10", "--redeem", "3", "--date", "2026-01-02")
    assert r["paid_with_points"] == "0.01"  # 3 x 0.005 = 0.015 -> 0.01, never 0.02


NO_DOWNGRADE = TIERS.replace('basis = "spend"', 'basis = "spend"\nwindow = "rolling-365"\ndowngrade = false')


def test_no_downgrade_counts_a_back_dated_purchase_at_its_date(make_shop):
    s = make_shop(NO_DOWNGRADE)
    s.run("enroll", "a", "--name", "A", "--date", "2025-01-01")
    s.run("purchase", "a", "150", "--order", "LATE", "--date", "2025-06-01")
    s.run("purchase", "a", "100", "--order", "EARLY", "--date", "2025-03-01")
    # On 2025-06-01 the window held 250.00: Silver, and with downgrade = false it is kept
    # after EARLY leaves the window (2026-03-01 on).
    assert s.json("show", "a", "--as-of", "2025-06-02")["tier"] == "Silver"
    assert s.json("show", "a", "--as-of", "2026-03-05")["tier"] == "Silver"
    assert s.json("show", "a", "--as-of", "2026-03-05")["qualifying_total"] == "150.00"


def test_no_downgrade_does_not_keep_a_tier_whose_purchase_was_refunded(make_shop):
    s = make_shop(NO_DOWNGRADE)
    s.run("enroll", "a", "--name", "A", "--date", "2026-01-01")
    assert s.json("purchase", "a", "600", "--order", "BIG", "--date", "2026-01-02")["tier"] == "Gold"
    s.run("refund", "BIG", "--date", "2026-01-03")
    r = s.json("purchase", "a", "100", "--date", "2026-01-04")
    assert (r["discount"], r["points_earned"], r["tier"]) == ("0.00", 100, "Bronze")
    assert s.json("show", "a", "--as-of", "2026-01-02")["tier"] == "Gold"  # before the refund was recorded
    assert s.run("check").stdout == ""
