"""Short-option typos on purchase, redeem and adjust are usage errors, not
arguments (issue 14); negative numbers still reach their own refusal."""

from __future__ import annotations

import pytest


@pytest.fixture
def anna(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2025-12-01")
    return shop


@pytest.mark.parametrize("args, hint", [
    (["purchase", "-q", "5"], None), (["redeem", "-r", "anna"], "--reward"),
    (["purchase", "-o", "anna", "5"], "--order"), (["purchase", "anna", "-x"], None),
    (["adjust", "anna", "-z", "--reason", "x"], None), (["redeem", "anna", "-Q"], None),
])
def test_a_short_option_typo_is_a_usage_error(anna, args, hint):
    before = anna.snapshot()
    r = anna.fail(*args, code=2, contains=f"No such option '{args[[a.startswith('-') for a in args].index(True)]}'")
    assert hint is None or f"Did you mean {hint}?" in r.stderr
    assert "Traceback" not in r.stderr
    assert anna.snapshot() == before


@pytest.mark.parametrize("amount", ["-5", "-5.00", "-1e3", "-inf", "-.5", "-Infinity", "-nan"])
def test_a_negative_number_is_still_an_argument(anna, amount):
    before = anna.snapshot()
    anna.fail("purchase", "anna", amount, contains=f"amount '{amount}'")
    anna.fail("redeem", "anna", amount, contains="POINTS")
    assert anna.snapshot() == before


def test_dash_h_is_still_help(anna):
    assert "purchase [OPTIONS] MEMBER AMOUNT" in anna.run("purchase", "-h").stdout


@pytest.mark.parametrize("phone", ["(+372) 5123 0003", "+(372) 5123 0003", "+372 5123-0003"])
def test_a_phone_with_brackets_around_the_country_code(shop, phone):
    shop.run("enroll", "pat", "--name", "Pat", "--phone", phone, "--date", "2025-12-01")
    assert shop.json("show", "pat")["phone"].replace(" ", "").endswith("51230003")


def test_the_phone_refusal_says_what_a_phone_may_hold(shop):
    shop.fail("enroll", "pat", "--name", "Pat", "--phone", "5123*0003",
              contains="digits, with spaces, brackets, dots, hyphens or slashes between them, and a + before the "
                       "country code")
