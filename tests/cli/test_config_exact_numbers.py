"""Programme-file numbers (issue 14, part b2): integers of thousands of digits
in any base are refused without converting them to text, and floats are read
exactly from their text, under the same limits as a quoted number."""

from __future__ import annotations

import pytest

from tests.conftest import programme

HUGE_HEX = "0x" + "f" * 5000


@pytest.mark.parametrize("body, expected", [
    (f"[earning]\nwelcome_bonus = {HUGE_HEX}", "[earning] welcome_bonus: must be at most 1000000000, got a number of"),
    (f"[earning]\npoints_per_unit = {HUGE_HEX}", "[earning] points_per_unit: must be at most 1000000, got a number"),
    ("[earning]\npending_days = 0o" + "7" * 5000, "[earning] pending_days: must be at most 36500"),
    ("[earning]\nbirthday_bonus = 0b" + "1" * 20000, "[earning] birthday_bonus: must be at most"),
    (f'[[rewards]]\nname = "x"\npoints = {HUGE_HEX}', "[rewards #1] points: must be at most"),
    (f'[[tiers.levels]]\nname = "A"\nmin = {HUGE_HEX}', "[tiers.levels #1] min: is too long for a number"),
    (f"[expiry]\ndays = {HUGE_HEX}", "[expiry] days: must be at most 36500"),
    (f"[earning]\nwelcome_bonus = [{HUGE_HEX}]", "[earning] welcome_bonus: must be a whole number, got an array"),
])
def test_huge_integers_in_any_base_are_one_short_error(shop, body, expected):
    f = shop.folder / "huge.toml"
    f.write_text(programme(body))
    r = shop.fail("program", "--config", str(f), contains=expected)
    assert len(r.stderr) < 300


@pytest.mark.parametrize("body, expected", [
    ("[earning]\npoints_per_unit = 1.00000000000000001",
     "[earning] points_per_unit: at most 9 decimals, got '1.00000000000000001'"),
    ("[earning]\npoints_per_unit = 1." + "9" * 5000, "[earning] points_per_unit: '1.999"),
    ("[redemption]\nmax_share = 1e-400", "[redemption] max_share: write it without an exponent"),
    ("[redemption]\nmax_share = 5e-1", "[redemption] max_share: write it without an exponent"),
    ("[redemption]\nmax_share = nan", "[redemption] max_share: must be a finite number"),
    ('[[tiers.levels]]\nname = "A"\nmin = 0\nmultiplier = 1.0000000000000000001', "multiplier: at most 9 decimals"),
    ("[earning]\nmin_purchase = 1e3", "[earning] min_purchase: write it without an exponent"),
    ("[earning]\nwelcome_bonus = 1.5", "[earning] welcome_bonus: must be a whole number, got 1.5"),
])
def test_floats_are_read_exactly_or_refused_with_the_key(shop, body, expected):
    f = shop.folder / "floats.toml"
    f.write_text(programme(body))
    r = shop.fail("program", "--config", str(f), contains=expected)
    assert len(r.stderr) < 300


def test_floats_within_the_limits_keep_every_digit(shop):
    f = shop.folder / "ok.toml"
    f.write_text(programme("[earning]\npoints_per_unit = 1.123456789\nmin_purchase = 2.5\n"
                           "[redemption]\nmax_share = 0.333333333\n"))
    doc = shop.json("program", "--config", str(f))
    assert doc["earning"]["points_per_unit"] == "1.123456789"
    assert doc["earning"]["min_purchase"] == "2.50"
    assert doc["redemption"]["max_share"] == "0.333333333"
