"""Values that only some programmes can reach (issue 14): figures beyond the
ledger's 64-bit integers, daylight-saving folds, names matched by NFKC and
case folding. Each through the real CLI; refusals write nothing. The plain
bad-input cases are in test_bad_input_corpus.py."""

from __future__ import annotations

from tests.conftest import programme

INT64 = "9,223,372,036,854,775,807"

# the largest rates the file allows: 10^6 points per unit, a 10^6 multiplier
HUGE = programme("""
[earning]
points_per_unit = 1000000

[[tiers.levels]]
name = "Bronze"
min = "0"
multiplier = 1000000
""")


def test_a_purchase_earning_beyond_int64_is_refused_with_the_figure(make_shop):
    s = make_shop(HUGE)
    s.run("enroll", "kim", "--name", "Kim", "--date", "2026-01-05")
    before = s.snapshot()
    s.fail("purchase", "kim", "999999999999.99", "--date", "2026-01-06",
           contains=f"a purchase of 999999999999.99 at ×1000000 and 1000000 points per unit would earn more than {INT64}")
    assert s.snapshot() == before
    # 9,000,000.00 earns 9e18 points: that fits, and the next purchase would take the balance beyond
    assert s.json("purchase", "kim", "9000000", "--date", "2026-01-06")["points"] == 9 * 10**18
    before = s.snapshot()
    s.fail("purchase", "kim", "9000000", "--date", "2026-01-07",
           contains=f"member kim's balance would hold more than {INT64} points")
    assert s.snapshot() == before


def test_a_promo_multiplier_that_would_overflow_is_refused_at_purchase(make_shop):
    s = make_shop(HUGE)
    s.run("enroll", "kim", "--name", "Kim", "--date", "2026-01-05")
    s.run("promo", "create", "MEGA", "--multiplier", "1000000", "--date", "2026-01-05")
    before = s.snapshot()
    s.fail("purchase", "kim", "10.00", "--code", "MEGA", "--date", "2026-01-06",
           contains=f"a purchase of 10.00 at ×1000000000000 and 1000000 points per unit would earn more than {INT64}")
    assert s.snapshot() == before


def test_an_import_that_would_take_a_balance_beyond_int64_writes_nothing(make_shop):
    s = make_shop(HUGE)
    s.run("enroll", "kim", "--name", "Kim", "--date", "2026-01-05")
    csv = s.folder / "p.csv"
    csv.write_text("member,amount,date\nkim,9000000,2026-01-06\nkim,9000000,2026-01-07\n", encoding="utf-8")
    before = s.snapshot()
    r = s.invoke("import", "purchases", str(csv))
    assert r.exit_code == 1 and "Traceback" not in r.stderr
    assert f"member kim's balance would hold more than {INT64}" in r.stderr
    assert s.snapshot() == before


def test_a_report_whose_ledger_total_passes_int64_says_so(make_shop):
    s = make_shop(HUGE)
    for m in ("kim", "ann"):
        s.run("enroll", m, "--name", m, "--date", "2026-01-05")
        s.run("purchase", m, "9000000", "--date", "2026-01-06")
    s.fail("report", contains="beyond 9,223,372,036,854,775,807")
    assert s.json("balance", "kim")[0]["points"] == 9 * 10**18  # one member's figures still read


def test_a_time_in_the_autumn_fold_is_its_first_occurrence(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-05")
    # 03:30 on 2026-10-25 happens twice in Tallinn; it is accepted and kept as that wall-clock time
    shop.run("purchase", "anna", "5.00", "--order", "F1", "--date", "2026-10-25T03:30")
    # the second occurrence given with its offset is the same wall-clock time
    shop.run("purchase", "anna", "5.00", "--order", "F2", "--date", "2026-10-25T03:30+02:00")
    assert shop.sql("SELECT order_id, at FROM purchases ORDER BY order_id") == [
        ("F1", "2026-10-25 03:30:00.000000"), ("F2", "2026-10-25 03:30:00.000000")]
    # the first occurrence given with its offset too
    shop.run("purchase", "anna", "5.00", "--order", "F3", "--date", "2026-10-25T00:30+00:00")
    assert shop.sql("SELECT at FROM purchases WHERE order_id = 'F3'") == [("2026-10-25 03:30:00.000000",)]


def test_just_outside_the_spring_gap_is_accepted(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-05")
    shop.run("purchase", "anna", "5.00", "--order", "G1", "--date", "2026-03-29T02:59:59")
    shop.run("purchase", "anna", "5.00", "--order", "G2", "--date", "2026-03-29T04:00")
    shop.run("purchase", "anna", "5.00", "--order", "G3", "--date", "2026-03-29")  # a bare date is a day
    assert len(shop.sql("SELECT id FROM purchases")) == 3


NAMES = programme("""
[earning.actions]
review = { points = 20 }

[[rewards]]
name = "Free coffee"
points = 10

[[tiers.levels]]
name = "Bronze"
min = "0"

[[tiers.levels]]
name = "Gold"
min = "500"
""")


def test_reward_tier_and_action_names_match_by_nfkc_and_case(make_shop):
    s = make_shop(NAMES)
    s.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-05")
    assert s.json("award", "anna", "REVIEW", "--date", "2026-01-06")["points_awarded"] == 20
    assert s.json("redeem", "anna", "--reward", "\uff26\uff32\uff25\uff25 COFFEE", "--date", "2026-01-07")[
        "points_redeemed"] == 10
    assert s.json("members", "--tier", "bronze")[0]["member"] == "anna"


def test_member_ids_fold_ascii_case_only(make_shop):
    s = make_shop(NAMES)
    s.run("enroll", "kim", "--name", "Kim", "--date", "2026-01-05")
    assert s.json("show", "KIM")["member"] == "kim"
    s.fail("show", "\u212aim", contains="unknown member")  # KELVIN SIGN: "\u212aim".lower() == "kim"
    s.fail("enroll", "\u212aim", "--name", "K", contains="not valid")  # ids are ASCII


FAR = programme("""
[earning]
pending_days = 36500

[expiry]
days = 36500
warn_days = 36500

[tiers]
window = "rolling-365"

[[tiers.levels]]
name = "Bronze"
min = "0"

[[tiers.levels]]
name = "Gold"
min = "5"
""")


def test_the_longest_windows_at_the_ends_of_the_date_range_do_not_overflow(make_shop):
    s = make_shop(FAR)
    s.run("enroll", "kim", "--name", "Kim", "--date", "1900-01-01", "--birthday", "1900-01-01")
    s.run("purchase", "kim", "10.00", "--date", "1900-01-01T00:00")
    for args in (("show", "kim"), ("expiring", "--within", "36500"), ("lapsed", "--lapsed-days", "36500"),
                 ("report", "--since", "1900-01-01"), ("tiers",), ("balance",)):
        for as_of in ("1900-01-01", "9998-12-31"):
            s.run(*args, "--as-of", as_of)
    s.run("daily", "--as-of", "1900-01-02", "--dry-run")
