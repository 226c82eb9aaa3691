"""Small messages that said the wrong thing (issue 14, part b2, item 9)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("option", ["--max-uses", "--per-member", "--count"])
def test_promo_counts_name_their_option_not_points(shop, option):
    before = shop.snapshot()
    r = shop.fail("promo", "create", "--points", "5", option, "1e30",
                  contains=f"Error: {option} '1e30' is not a positive whole number")
    assert "points" not in r.stderr
    shop.fail("promo", "create", "--points", "5", option, "0", contains=f"{option} must be more than 0")
    assert shop.snapshot() == before


def test_a_wrong_head_at_entry_0_says_the_head_does_not_match(shop):
    shop.run("enroll", "kim", "--name", "Kim")
    for i in range(21):
        shop.run("adjust", "kim", "1", "--reason", f"r{i}")
    r = shop.fail("check", "--head", "0:" + "a" * 64)
    assert "the head does not match this ledger" in r.stdout and "removed from the end" not in r.stdout


def test_iso_week_date_formats_need_year_week_and_weekday(shop, tmp_path):
    shop.run("enroll", "kim", "--name", "Kim")
    f = tmp_path / "p.csv"
    f.write_text("member,amount,date,order\nkim,1.00,2026-01-05,O1\n")
    for fmt in ("%G-%m-%d", "%Y-W%V-%u", "%G-W%V"):
        shop.fail("import", "purchases", str(f), "--date-format", fmt,
                  contains="an ISO week date needs all of %G (ISO year), %V (ISO week) and a weekday (%u)")
    g = tmp_path / "q.csv"
    g.write_text("member,amount,date,order\nkim,1.00,1899-W52-7,O1\nkim,1.00,2026-W02-1,O2\n")
    r = shop.invoke("import", "purchases", str(g), "--date-format", "%G-W%V-%u", "--dry-run")
    assert r.exit_code == 1 and "'1899-W52-7' is before 1900" in r.stderr + r.stdout
