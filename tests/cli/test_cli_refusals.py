"""Refusals: a table-driven corpus of bad input, driven through the real CLI.

Every case asserts the contract's "Conventions":
- exit 1 for refused or invalid input, with exactly one line ``Error: <what and
  why>`` on stderr (exit 2 for click's usage errors);
- no Python traceback anywhere;
- a message that says what and why (a meaningful substring is asserted);
- nothing written: every row of every table is identical before and after.

Most cases run against ``ledger``, a small shop with history (see ``LEDGER_RULES``
and the ``ledger`` fixture): anna has 120 points, order A1 (100.00) is open,
order R1 is fully refunded, anna's yearly review award is used up, carl
enrolled later than the others.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from loyalty_cli.cli import cli
from tests.conftest import copy_shop, programme_file, shop_template

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def case(id: str, *args: str, says: str | tuple[str, ...] = (), code: int = 1):
    """One row of a table: CLI arguments, substrings the message must contain,
    and the expected exit code."""
    return pytest.param(list(args), (says,) if isinstance(says, str) else tuple(says), code, id=id)


def assert_refusal(r, code: int, says: tuple[str, ...]) -> None:
    """Exit `code`, no traceback, one `Error: ` line for exit 1, and each of
    `says` in stderr."""
    out = f"exit {r.exit_code}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"
    assert "Traceback" not in r.stdout + r.stderr, out
    assert r.exit_code == code, out
    if code == 1:
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), out
    else:
        assert "Error: " in r.stderr, out
    for text in says:
        assert text in r.stderr, f"{text!r} not in the message\n{out}"


def refused(shop, args, says=(), code: int = 1, env: dict | None = None):
    """Run `loyalty ARGS` against `shop`: refused as described, nothing written."""
    before = shop.snapshot()
    r = shop.runner.invoke(cli, [str(a) for a in args], env={**shop.env(), **(env or {})}, catch_exceptions=False)
    assert_refusal(r, code, tuple(says))
    assert shop.snapshot() == before, "a refused command wrote to the ledger"
    return r


LEDGER_RULES = """
[program]
name = "Refusals"
currency = "EUR"
timezone = "Europe/Tallinn"

[ledger]
database = "loyalty.db"

[earning.actions]
review = { points = 20, limit = 1, per = "year" }

[redemption]
point_value = "0.01"
min_points = 10
max_share = 0.5

[[rewards]]
name = "Free coffee"
points = 150
"""


LEDGER_HISTORY = [
    ("enroll", "anna", "--name", "Anna Tamm", "--email", "anna@example.com", "--phone", "+372 555 1234",
     "--date", "2026-01-05"),
    ("enroll", "bob", "--name", "Bob", "--date", "2026-01-05"),
    ("enroll", "carl", "--name", "Carl", "--date", "2026-03-01"),
    ("purchase", "anna", "100.00", "--order", "A1", "--date", "2026-01-10"),
    ("purchase", "anna", "20.00", "--order", "R1", "--date", "2026-01-10"),
    ("refund", "R1", "--date", "2026-01-11"),
    ("award", "anna", "review", "--date", "2026-02-01"),
]


@pytest.fixture(scope="module")
def ledger_template(tmp_path_factory) -> Path:
    """The shop with its history, built once; each test gets a copy."""
    shop = shop_template(tmp_path_factory.mktemp("refusals") / "shop", LEDGER_RULES, LEDGER_HISTORY)
    assert shop.json("balance", "anna")[0]["points"] == 120
    return shop.folder


@pytest.fixture
def ledger(ledger_template, tmp_path):
    return copy_shop(ledger_template, tmp_path / "ledger")


# ---------------------------------------------------------------------------
# amounts: purchase AMOUNT (EUR, 2 decimals)
# ---------------------------------------------------------------------------

BAD_AMOUNTS = [
    # (id, text, what the message must say)
    ("negative", "-5", "negative"),
    ("negative-cent", "-0.01", "negative"),
    ("three-decimals", "12.345", "too many decimals"),
    ("thousands-comma", "1,000.00", "thousands separators"),
    ("thousands-space", "1 000", "thousands separators"),
    ("exponent", "1e3", "exponents"),
    ("exponent-upper", "1E2", "exponents"),
    ("NaN", "NaN", "not a finite number"),
    ("nan", "nan", "not a finite number"),
    ("inf", "inf", "not a finite number"),
    ("minus-inf", "-inf", "not a finite number"),
    ("Infinity", "Infinity", "not a finite number"),
    ("empty", "", "empty"),
    ("blank", " ", "empty"),
    ("letters", "abc", "not an amount"),
    ("two-points", "12.5.0", "not an amount"),
    ("plus-sign", "+5", "without a sign"),
    ("hex", "0x10", "not an amount"),
    ("fullwidth-digits", "１２", "not an amount"),
    ("trailing-point", "12.", "not an amount"),
    ("leading-point", ".5", "not an amount"),
    ("twenty-digits", "12345678901234567890", "too large"),
]


@pytest.mark.parametrize("text, says", [pytest.param(t, s, id=i) for i, t, s in BAD_AMOUNTS])
def test_purchase_refuses_bad_amount(ledger, text, says):
    # The message names the amount as typed (what) and the rule it breaks (why).
    refused(ledger, ["purchase", "anna", text, "--order", "X1"], says=(repr(text), says))


@pytest.mark.parametrize("text, says", [
    pytest.param("-5", "negative", id="negative"),
    pytest.param("-0.01", "negative", id="negative-cent"),
    pytest.param("-inf", "not a finite number", id="minus-inf"),
])
def test_purchase_negative_amount_after_double_dash(ledger, text, says):
    # After `--` click surely hands the text over as AMOUNT: the same reason must be given.
    refused(ledger, ["purchase", "anna", "--order", "X1", "--", text], says=(repr(text), says))


CURRENCY_SHOP = """
[program]
name = "Elsewhere"
currency = "{currency}"
timezone = "UTC"
"""


@pytest.mark.parametrize("currency, text, says", [
    pytest.param("JPY", "100.5", "no decimals", id="JPY-100.5"),
    pytest.param("JPY", "100.00", "no decimals", id="JPY-100.00"),
    pytest.param("KWD", "1.2345", "at most 3 decimals", id="KWD-1.2345"),
    pytest.param("EUR", "0.001", "at most 2 decimals", id="EUR-0.001"),
])
def test_amount_decimals_follow_the_currency(make_shop, currency, text, says):
    s = make_shop(CURRENCY_SHOP.format(currency=currency))
    s.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-05")
    refused(s, ["purchase", "anna", text], says=(says, repr(text)))


@pytest.mark.parametrize("currency, text, shown", [
    pytest.param("JPY", "100", "100", id="JPY-100-accepted"),
    pytest.param("KWD", "1.234", "1.234", id="KWD-1.234-accepted"),
])
def test_amount_with_the_currencys_decimals_is_accepted(make_shop, currency, text, shown):
    s = make_shop(CURRENCY_SHOP.format(currency=currency))
    s.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-05")
    assert s.json("purchase", "anna", text)["amount"] == shown


# ---------------------------------------------------------------------------
# refunds
# ---------------------------------------------------------------------------

REFUNDS = [
    case("amount-letters", "refund", "A1", "--amount", "abc", says=("--amount", "not an amount")),
    case("amount-negative", "refund", "A1", "--amount", "-5", says=("--amount", "negative")),
    case("amount-three-decimals", "refund", "A1", "--amount", "1.234", says="too many decimals"),
    case("amount-nan", "refund", "A1", "--amount", "NaN", says="not a finite number"),
    case("amount-exponent", "refund", "A1", "--amount", "1e1", says="exponents"),
    case("amount-thousands", "refund", "A1", "--amount", "1,00", says="thousands separators"),
    case("amount-empty", "refund", "A1", "--amount", "", says="empty"),
    case("amount-zero", "refund", "A1", "--amount", "0", says="more than 0"),
    case("over-refund", "refund", "A1", "--amount", "100.01", says=("100.01", "only 100.00")),
    case("over-refund-after-partial", "refund", "R1", "--amount", "0.01", says="already fully refunded"),
    case("unknown-order", "refund", "NOPE-1", says=("unknown order", "NOPE-1")),
    case("already-fully-refunded", "refund", "R1", says=("R1", "already fully refunded")),
    case("dated-before-the-order", "refund", "A1", "--date", "2026-01-09", says="before the order's date"),
    case("dated-in-the-future", "refund", "A1", "--date", "2099-01-01", says="in the future"),
    case("missing-order", "refund", says="Missing argument", code=2),
]


@pytest.mark.parametrize("args, says, code", REFUNDS)
def test_refund_refusals(ledger, args, says, code):
    refused(ledger, args, says, code)


# ---------------------------------------------------------------------------
# dates: --date on write commands, --as-of on reports, --birthday, --since
# ---------------------------------------------------------------------------

BAD_DATES = [
    # (id, text, what the message must say)
    ("feb-30", "2026-02-30", "not a valid date"),
    ("month-13", "2026-13-01", "not a valid date"),
    ("day-first-slashes", "01/02/2026", "YYYY-MM-DD"),
    ("iso-with-slashes", "2026/01/02", "YYYY-MM-DD"),
    ("yesterday", "yesterday", "YYYY-MM-DD"),
    ("no-dashes", "20260102", "YYYY-MM-DD"),
    ("unpadded", "2026-1-2", "YYYY-MM-DD"),
    ("hour-25", "2026-01-10T25:00", "not a valid date"),
    ("empty", "", "YYYY-MM-DD"),
]

WRITE_DATES = [
    case(f"purchase-{i}", "purchase", "anna", "5.00", "--date", t, says=("--date", s)) for i, t, s in BAD_DATES
] + [
    case("purchase-future", "purchase", "anna", "5.00", "--date", "2099-01-01", says=("2099-01-01", "in the future")),
    case("purchase-before-enrolment", "purchase", "carl", "5.00", "--date", "2026-02-01",
         says=("before member carl enrolled", "2026-03-01")),
    case("enroll-feb-30", "enroll", "dora", "--name", "Dora", "--date", "2026-02-30", says="not a valid date"),
    case("enroll-future", "enroll", "dora", "--name", "Dora", "--date", "2099-01-01", says="in the future"),
    case("redeem-yesterday", "redeem", "anna", "10", "--date", "yesterday", says="YYYY-MM-DD"),
    case("redeem-before-enrolment", "redeem", "anna", "10", "--date", "2026-01-01", says="before member anna enrolled"),
    case("adjust-month-13", "adjust", "anna", "5", "--reason", "x", "--date", "2026-13-01", says="not a valid date"),
    case("adjust-before-enrolment", "adjust", "carl", "5", "--reason", "x", "--date", "2026-02-28",
         says="before member carl enrolled"),
    case("award-future", "award", "bob", "review", "--date", "2099-01-01", says="in the future"),
    case("award-before-enrolment", "award", "carl", "review", "--date", "2026-01-01", says="before member carl enrolled"),
    case("edit-future", "edit", "anna", "--name", "Anna T", "--date", "2099-01-01", says="in the future"),
]


@pytest.mark.parametrize("args, says, code", WRITE_DATES)
def test_write_commands_refuse_bad_dates(ledger, args, says, code):
    refused(ledger, args, says, code)


READ_DATES = [
    case("balance-as-of-feb-30", "balance", "--as-of", "2026-02-30", says=("--as-of", "not a valid date")),
    case("balance-as-of-slashes", "balance", "--as-of", "01/02/2026", says=("--as-of", "YYYY-MM-DD")),
    case("show-as-of-yesterday", "show", "anna", "--as-of", "yesterday", says=("--as-of", "YYYY-MM-DD")),
    case("show-as-of-month-13", "show", "anna", "--as-of", "2026-13-01", says=("--as-of", "not a valid date")),
    case("tiers-as-of-no-dashes", "tiers", "--as-of", "20260102", says=("--as-of", "YYYY-MM-DD")),
    case("tiers-as-of-unpadded", "tiers", "--as-of", "2026-1-2", says=("--as-of", "YYYY-MM-DD")),
    case("members-as-of-slashes", "members", "--as-of", "2026/01/02", says=("--as-of", "YYYY-MM-DD")),
    case("history-since-feb-30", "history", "anna", "--since", "2026-02-30", says=("--since", "not a valid date")),
    case("history-since-yesterday", "history", "anna", "--since", "yesterday", says=("--since", "YYYY-MM-DD")),
    case("history-as-of-bad", "history", "anna", "--as-of", "31.01.2026", says=("--as-of", "YYYY-MM-DD")),
]


@pytest.mark.parametrize("args, says, code", READ_DATES)
def test_reports_refuse_bad_dates(ledger, args, says, code):
    refused(ledger, args, says, code)


BIRTHDAYS = [
    case("enroll-feb-30", "enroll", "dora", "--name", "Dora", "--birthday", "1990-02-30", says=("--birthday", "not a valid date")),
    case("enroll-day-first", "enroll", "dora", "--name", "Dora", "--birthday", "12/04/1990", says=("--birthday", "YYYY-MM-DD")),
    case("enroll-datetime", "enroll", "dora", "--name", "Dora", "--birthday", "1990-04-12T10:00", says="--birthday"),
    case("enroll-future", "enroll", "dora", "--name", "Dora", "--birthday", "2099-01-01", says=("birthday", "in the future")),
    case("enroll-before-1900", "enroll", "dora", "--name", "Dora", "--birthday", "1800-01-01", says=("birthday", "before 1900")),
    case("edit-future", "edit", "anna", "--birthday", "2099-01-01", says=("birthday", "in the future")),
    case("edit-bad", "edit", "anna", "--birthday", "yesterday", says=("--birthday", "YYYY-MM-DD")),
]


@pytest.mark.parametrize("args, says, code", BIRTHDAYS)
def test_birthday_refusals(ledger, args, says, code):
    refused(ledger, args, says, code)


# ---------------------------------------------------------------------------
# members: unknown, duplicates, invalid personal data
# ---------------------------------------------------------------------------

def unknown(id: str, *args: str, key: str = "ghost"):
    return case(id, *args, says=("unknown member", repr(key)))


UNKNOWN_MEMBER = [
    unknown("show", "show", "ghost"),
    unknown("purchase", "purchase", "ghost", "5.00"),
    unknown("redeem", "redeem", "ghost", "10"),
    unknown("adjust", "adjust", "ghost", "5", "--reason", "x"),
    unknown("award", "award", "ghost", "review"),
    unknown("edit", "edit", "ghost", "--name", "Ghost"),
    unknown("history", "history", "ghost"),
    unknown("balance", "balance", "ghost"),
    unknown("balance-among-known", "balance", "anna", "ghost"),
    unknown("unknown-email", "show", "ghost@example.com", key="ghost@example.com"),
    unknown("unknown-phone", "purchase", "+372 000 0000", "5.00", key="+372 000 0000"),
]


@pytest.mark.parametrize("args, says, code", UNKNOWN_MEMBER)
def test_unknown_member_is_refused(ledger, args, says, code):
    refused(ledger, args, says, code)


MEMBER_DATA = [
    # duplicates (ids compare case-insensitively; e-mail and phone after normalising)
    case("duplicate-id", "enroll", "anna", "--name", "Anna Two", says=("member anna", "already exists")),
    case("duplicate-id-other-case", "enroll", "ANNA", "--name", "Anna Two", says=("ANNA", "already exists")),
    case("duplicate-email-other-case", "enroll", "dora", "--name", "Dora", "--email", "ANNA@Example.COM",
         says=("anna@example.com", "already belongs to member anna")),
    case("duplicate-phone-other-format", "enroll", "dora", "--name", "Dora", "--phone", "+3725551234",
         says=("+3725551234", "already belongs to member anna")),
    case("duplicate-phone-dashes", "enroll", "dora", "--name", "Dora", "--phone", "+372-555-1234",
         says="already belongs to member anna"),
    case("edit-email-taken", "edit", "bob", "--email", "Anna@Example.com", says="already belongs to member anna"),
    case("edit-phone-taken", "edit", "bob", "--phone", "+372 5551234", says="already belongs to member anna"),
    # ids
    case("id-with-space", "enroll", "has space", "--name", "X", says=("'has space'", "not valid")),
    case("id-with-slash", "enroll", "a/b", "--name", "X", says=("'a/b'", "not valid")),
    case("id-empty", "enroll", "", "--name", "X", says="not valid"),
    case("id-65-chars", "enroll", "a" * 65, "--name", "X", says=("not valid", "64")),
    case("id-leading-dot", "enroll", ".anna", "--name", "X", says="not valid"),
    # e-mail and phone
    case("email-no-at", "enroll", "dora", "--name", "Dora", "--email", "dora.example.com",
         says=("e-mail 'dora.example.com'", "not an e-mail address")),
    case("email-no-domain", "enroll", "dora", "--name", "Dora", "--email", "dora@", says="not an e-mail address"),
    case("email-two-ats", "enroll", "dora", "--name", "Dora", "--email", "a@b@c.com", says="not an e-mail address"),
    case("phone-letters", "enroll", "dora", "--name", "Dora", "--phone", "call me", says=("phone", "not a phone number")),
    case("phone-too-short", "enroll", "dora", "--name", "Dora", "--phone", "12", says=("phone", "5 to 15 digits")),
    case("phone-too-long", "enroll", "dora", "--name", "Dora", "--phone", "1" * 16, says="5 to 15 digits"),
    case("edit-bad-email", "edit", "anna", "--email", "nope", says="not an e-mail address"),
    # names
    case("name-empty", "enroll", "dora", "--name", "", says="name must not be empty"),
    case("name-blank", "enroll", "dora", "--name", "   ", says="name must not be empty"),
    case("name-too-long", "enroll", "dora", "--name", "x" * 201, says="longer than 200"),
    case("edit-name-empty", "edit", "anna", "--name", "", says="name must not be empty"),
    case("enroll-without-name", "enroll", "dora", says=("Missing option", "--name"), code=2),
    # an edit that changes nothing
    case("edit-nothing", "edit", "anna", says="nothing to change"),
    case("edit-same-marketing", "edit", "anna", "--no-marketing", says="nothing to change"),
]


@pytest.mark.parametrize("args, says, code", MEMBER_DATA)
def test_member_data_refusals(ledger, args, says, code):
    refused(ledger, args, says, code)


# ---------------------------------------------------------------------------
# orders and points: purchase --order/--redeem, redeem, adjust, award
# ---------------------------------------------------------------------------

POINTS = [
    # orders
    case("purchase-duplicate-order", "purchase", "bob", "5.00", "--order", "A1", says=("order A1", "already recorded")),
    case("purchase-order-with-space", "purchase", "anna", "5.00", "--order", "has space", says=("order id", "not valid")),
    case("purchase-order-empty", "purchase", "anna", "5.00", "--order", "", says=("order id", "not valid")),
    case("purchase-order-65-chars", "purchase", "anna", "5.00", "--order", "o" * 65, says=("order id", "not valid")),
    case("redeem-order-with-space", "redeem", "anna", "10", "--order", "has space", says=("order id", "not valid")),
    # purchase --redeem
    case("purchase-redeem-beyond-max-share", "purchase", "anna", "1.00", "--redeem", "100", says=("at most 50%", "0.50")),
    case("purchase-redeem-beyond-available", "purchase", "anna", "100.00", "--redeem", "500", says="only 120 available"),
    case("purchase-redeem-below-minimum", "purchase", "anna", "100.00", "--redeem", "5", says="the minimum is 10"),
    case("purchase-redeem-zero", "purchase", "anna", "100.00", "--redeem", "0", says=("--redeem", "more than 0")),
    case("purchase-redeem-negative", "purchase", "anna", "100.00", "--redeem", "-5", says=("--redeem", "whole number")),
    case("purchase-redeem-fraction", "purchase", "anna", "100.00", "--redeem", "1.5", says=("--redeem", "whole number")),
    case("purchase-redeem-letters", "purchase", "anna", "100.00", "--redeem", "abc", says=("--redeem", "whole number")),
    # redeem
    case("redeem-more-than-available", "redeem", "anna", "121", says=("cannot redeem 121", "120 available")),
    case("redeem-zero", "redeem", "anna", "0", says="more than 0"),
    case("redeem-negative", "redeem", "anna", "-5", says=("'-5'", "whole number")),
    case("redeem-fraction", "redeem", "anna", "1.5", says=("'1.5'", "whole number")),
    case("redeem-letters", "redeem", "anna", "abc", says=("'abc'", "whole number")),
    case("redeem-below-minimum", "redeem", "anna", "5", says=("cannot redeem 5", "minimum is 10")),
    case("redeem-unknown-reward", "redeem", "anna", "--reward", "Free beer", says=("unknown reward", "Free coffee")),
    case("redeem-reward-beyond-available", "redeem", "anna", "--reward", "Free coffee", says=("cannot redeem 150", "120 available")),
    case("redeem-points-and-reward", "redeem", "anna", "10", "--reward", "Free coffee", says="either POINTS or --reward", code=2),
    case("redeem-neither", "redeem", "anna", says="either POINTS or --reward", code=2),
    # adjust
    case("adjust-zero", "adjust", "anna", "0", "--reason", "typo", says="changes nothing"),
    case("adjust-without-reason", "adjust", "anna", "5", says=("Missing option", "--reason"), code=2),
    case("adjust-empty-reason", "adjust", "anna", "5", "--reason", "", says="--reason must say why"),
    case("adjust-blank-reason", "adjust", "anna", "5", "--reason", "   ", says="--reason must say why"),
    case("adjust-below-balance", "adjust", "anna", "-121", "--reason", "oops", says=("cannot take 121", "balance is 120")),
    case("adjust-fraction", "adjust", "anna", "1.5", "--reason", "x", says=("'1.5'", "whole number")),
    case("adjust-letters", "adjust", "anna", "ten", "--reason", "x", says=("'ten'", "whole number")),
    # award
    case("award-unknown-action", "award", "anna", "dance", says=("unknown action 'dance'", "review")),
    case("award-beyond-limit", "award", "anna", "review", "--date", "2026-03-01", says=("review", "limit is 1 per year")),
]


@pytest.mark.parametrize("args, says, code", POINTS)
def test_points_refusals(ledger, args, says, code):
    refused(ledger, args, says, code)


# ---------------------------------------------------------------------------
# programme file (config): each error names the file, and the key where there is one
# ---------------------------------------------------------------------------

PROGRAM = programme_file("minimal")  # [program] only, lines 1-4


def whole(id: str, text: str, says: tuple[str, ...]):
    """A case whose text is the whole programme file."""
    return pytest.param(text, says, id=id)


def conf(id: str, text: str, says: tuple[str, ...]):
    """A case whose text follows a valid [program] section."""
    return pytest.param(PROGRAM + text, says, id=id)


BAD_CONFIGS = [
    # the file as a whole, and [program]
    whole("invalid-toml", '[program\nname = "x"\n', ("not valid TOML", "line 1")),
    whole("missing-program", '[ledger]\ndatabase = "x.db"\n', ("[program]", "required")),
    whole("missing-name", '[program]\ncurrency = "EUR"\n', ("[program] name", "is required")),
    whole("empty-name", '[program]\nname = " "\n', ("[program] name", "empty")),
    whole("unknown-currency", '[program]\nname = "x"\ncurrency = "EUX"\n',
          ("[program] currency", "unknown currency 'EUX'")),
    whole("lowercase-currency", '[program]\nname = "x"\ncurrency = "eur"\n', ("[program] currency", "'eur'")),
    whole("unknown-timezone", '[program]\nname = "x"\ntimezone = "Mars/Olympus"\n',
          ("[program] timezone", "Mars/Olympus")),
    # unknown keys: named, with a suggestion for a near miss
    conf("unknown-key-near-miss", "[earning]\npointz_per_unit = 1\n",
         ("[earning] pointz_per_unit", "unknown key", "did you mean 'points_per_unit'")),
    whole("unknown-key-in-program", '[program]\nname = "x"\ncurency = "EUR"\n',
          ("[program] curency", "unknown key", "did you mean 'currency'")),
    conf("unknown-section", "[earnings]\nwelcome_bonus = 5\n", ("earnings", "unknown key", "did you mean 'earning'")),
    conf("unknown-key-in-action", "[earning.actions]\nreview = { points = 20, limt = 1 }\n",
         ("limt", "unknown key")),
    # wrong types and ranges
    conf("rounding-round", '[earning]\nrounding = "round"\n', ("[earning] rounding", "floor, half-up, ceil", "'round'")),
    conf("points-per-unit-negative", "[earning]\npoints_per_unit = -1\n", ("[earning] points_per_unit", "-1")),
    conf("points-per-unit-text", '[earning]\npoints_per_unit = "abc"\n', ("[earning] points_per_unit", "'abc'")),
    conf("points-per-unit-bool", "[earning]\npoints_per_unit = true\n", ("[earning] points_per_unit", "True")),
    conf("max-share-above-1", "[redemption]\nmax_share = 1.5\n", ("[redemption] max_share", "at most 1")),
    conf("point-value-zero", '[redemption]\npoint_value = "0"\n', ("[redemption] point_value", "more than 0")),
    conf("welcome-bonus-fraction", "[earning]\nwelcome_bonus = 1.5\n",
         ("[earning] welcome_bonus", "whole number", "1.5")),
    conf("pending-days-text", '[earning]\npending_days = "3"\n', ("[earning] pending_days", "whole number")),
    conf("expiry-days-negative", "[expiry]\ndays = -1\n", ("[expiry] days", "at least 0")),
    conf("downgrade-yes", '[tiers]\ndowngrade = "yes"\n', ("[tiers] downgrade", "true or false", "'yes'")),
    conf("tier-basis-unknown", '[tiers]\nbasis = "visits"\n', ("[tiers] basis", "spend, points")),
    conf("database-not-a-string", "[ledger]\ndatabase = 5\n", ("[ledger] database", "string")),
    # actions
    conf("action-period-unknown", '[earning.actions]\nreview = { points = 20, limit = 1, per = "fortnight" }\n',
         ("review", "per", "fortnight")),
    conf("action-without-points", "[earning.actions]\nreview = { limit = 1 }\n", ("review", "points", "is required")),
    # tiers
    conf("tiers-first-min-not-0", '[[tiers.levels]]\nname = "Bronze"\nmin = "10"\n',
         ("tiers.levels #1", "min", "start at 0")),
    conf("tiers-not-increasing",
         '[[tiers.levels]]\nname = "Bronze"\nmin = "0"\n[[tiers.levels]]\nname = "Gold"\nmin = "500"\n'
         '[[tiers.levels]]\nname = "Silver"\nmin = "200"\n', ("tiers.levels #3", "min", "greater")),
    conf("tiers-duplicate-name",
         '[[tiers.levels]]\nname = "Bronze"\nmin = "0"\n[[tiers.levels]]\nname = "bronze"\nmin = "100"\n',
         ("tiers.levels #2", "name", "duplicate tier name")),
    conf("tier-min-missing", '[[tiers.levels]]\nname = "Bronze"\n', ("tiers.levels #1", "min", "is required")),
    # rewards
    conf("rewards-duplicate-name",
         '[[rewards]]\nname = "Coffee"\npoints = 100\n[[rewards]]\nname = "coffee"\npoints = 200\n',
         ("rewards #2", "name", "duplicate reward name")),
    conf("reward-zero-points", '[[rewards]]\nname = "Coffee"\npoints = 0\n', ("rewards #1", "points", "at least 1")),
    conf("rewards-not-an-array", '[rewards]\nname = "Coffee"\n', ("rewards", "array of tables")),
    # money in the config follows the currency's decimals and the amount grammar
    conf("min-purchase-three-decimals", '[earning]\nmin_purchase = "1.234"\n',
         ("[earning] min_purchase", "too many decimals")),
    conf("min-purchase-negative", '[earning]\nmin_purchase = "-1"\n', ("[earning] min_purchase", "negative")),
    conf("referral-min-purchase-nan", '[referral]\nmin_purchase = "NaN"\n', ("[referral] min_purchase", "finite")),
]


def write_config(folder: Path, text: str) -> Path:
    path = folder / "bad-programme.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, says", BAD_CONFIGS)
def test_bad_programme_file_is_refused_naming_file_and_key(ledger, tmp_path, text, says):
    path = write_config(tmp_path, text)
    # A write command against the real ledger: the config is read first and nothing is written.
    refused(ledger, ["enroll", "dora", "--name", "Dora", "--db", ledger.db],
            says=(str(path), *says), env={"LOYALTY_CONFIG": str(path)})


def _missing(folder: Path) -> Path:
    return folder / "nowhere.toml"


def _folder(folder: Path) -> Path:
    (folder / "conf.toml").mkdir()
    return folder / "conf.toml"


def _latin1(folder: Path) -> Path:
    path = folder / "latin1.toml"
    path.write_bytes('[program]\nname = "Café Ümlaut"\n'.encode("latin-1"))
    return path


def _utf16(folder: Path) -> Path:
    path = folder / "utf16.toml"
    path.write_bytes('[program]\nname = "Cafe"\n'.encode("utf-16"))
    return path


UNREADABLE_CONFIGS = [
    pytest.param(_missing, ("no programme file", "loyalty init"), id="missing-file"),
    pytest.param(_folder, ("is a folder",), id="a-folder"),
    pytest.param(_latin1, ("not UTF-8",), id="latin-1"),
    pytest.param(_utf16, ("not UTF-8",), id="utf-16"),
]


@pytest.mark.parametrize("make, says", UNREADABLE_CONFIGS)
@pytest.mark.parametrize("via", ["env", "flag"])
def test_unreadable_programme_file_is_refused(ledger, tmp_path, make, says, via):
    path = make(tmp_path)
    args = ["enroll", "dora", "--name", "Dora", "--db", ledger.db]
    if via == "env":
        refused(ledger, args, says=(str(path), *says), env={"LOYALTY_CONFIG": str(path)})
    else:
        refused(ledger, [*args, "--config", path], says=(str(path), *says))


def test_config_error_refuses_read_only_commands_too(ledger, tmp_path):
    path = write_config(tmp_path, PROGRAM + "[earning]\npointz_per_unit = 1\n")
    for args in (["program"], ["balance", "--db", ledger.db], ["show", "anna", "--db", ledger.db]):
        refused(ledger, args, says=(str(path), "pointz_per_unit"), env={"LOYALTY_CONFIG": str(path)})


# ---------------------------------------------------------------------------
# the ledger (--db): not there, not a file, not ours
# ---------------------------------------------------------------------------


def _db_folder(folder: Path) -> str:
    (folder / "ledger.db").mkdir()
    return str(folder / "ledger.db")


def _db_text(folder: Path) -> str:
    path = folder / "notes.db"
    path.write_bytes(b"These are my shopping notes, not a database.\n" * 200)
    return str(path)


def _db_missing(folder: Path) -> str:
    return str(folder / "missing.db")


def _db_missing_folder(folder: Path) -> str:
    return str(folder / "no-such-folder" / "ledger.db")


def _db_foreign(folder: Path) -> str:
    path = folder / "crm.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("INSERT INTO customers (name) VALUES ('Someone')")
    con.commit()
    con.close()
    return str(path)


def _db_empty(folder: Path) -> str:
    path = folder / "empty.db"
    path.write_bytes(b"")
    return str(path)


def _db_bad_url(folder: Path) -> str:
    return "nosuchdriver://x"


BAD_LEDGERS = [
    pytest.param(_db_folder, ("is a folder",), id="a-folder"),
    pytest.param(_db_text, ("not a loyalty ledger",), id="text-file"),
    pytest.param(_db_missing, ("no ledger at", "loyalty init"), id="missing-file"),
    pytest.param(_db_missing_folder, ("no ledger at",), id="missing-folder"),
    pytest.param(_db_foreign, ("not a loyalty ledger",), id="other-sqlite-tables"),
    pytest.param(_db_empty, ("empty", "loyalty init"), id="empty-file"),
    pytest.param(_db_bad_url, ("nosuchdriver",), id="unknown-url-scheme"),
]

LEDGER_COMMANDS = [
    pytest.param(["enroll", "dora", "--name", "Dora"], id="write"),
    pytest.param(["balance"], id="read"),
]


def _file_state(target: str) -> dict | None:
    """What is on disk at `target` and beside it (-wal, -shm, -journal): to
    prove that a refused command left someone else's file alone."""
    if "://" in target:
        return None
    path = Path(target)
    state = {"exists": path.exists(), "is_dir": path.is_dir(), "folder_exists": path.parent.exists(),
             "side_files": sorted(p.name for p in path.parent.glob(path.name + "-*")) if path.parent.is_dir() else []}
    if path.is_file():
        data = path.read_bytes()
        state.update(size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                     # bytes 18-19 of an SQLite header: 1/1 rollback journal, 2/2 WAL
                     sqlite_journal_header=tuple(data[18:20]) if data.startswith(b"SQLite format 3") else None)
    return state


@pytest.mark.parametrize("args", LEDGER_COMMANDS)
@pytest.mark.parametrize("make, says", BAD_LEDGERS)
def test_bad_ledger_is_refused_and_left_alone(ledger, tmp_path, make, says, args):
    target = make(tmp_path)
    before = _file_state(target)
    shown = target.removeprefix("sqlite:///")
    refused(ledger, [*args, "--db", target], says=(shown, *says))
    assert _file_state(target) == before, f"{target} was changed by a refused command"


@pytest.mark.parametrize("args", LEDGER_COMMANDS)
def test_bad_ledger_from_the_environment_is_refused(ledger, tmp_path, args):
    target = _db_missing(tmp_path)
    refused(ledger, args, says=(target, "no ledger at"), env={"LOYALTY_DB": target})
    assert not Path(target).exists()


# ---------------------------------------------------------------------------
# output format and other usage errors (click's, exit 2)
# ---------------------------------------------------------------------------

USAGE = [
    case("format-xml", "balance", "--format", "xml", says=("--format", "xml"), code=2),
    case("format-xml-on-purchase", "purchase", "anna", "5.00", "--format", "xml", says="--format", code=2),
    case("unknown-option", "balance", "--colour", says="--colour", code=2),
    case("unknown-command", "purchse", "anna", "5.00", says="purchse", code=2),
    case("purchase-missing-amount", "purchase", "anna", says=("Missing argument", "AMOUNT"), code=2),
    case("show-missing-member", "show", says=("Missing argument", "MEMBER"), code=2),
    case("award-missing-action", "award", "anna", says=("Missing argument", "ACTION"), code=2),
]


@pytest.mark.parametrize("args, says, code", USAGE)
def test_usage_errors(ledger, args, says, code):
    refused(ledger, args, says, code)


def test_format_from_the_environment_is_checked(ledger):
    refused(ledger, ["balance"], says=("xml",), code=2, env={"LOYALTY_FORMAT": "xml"})
