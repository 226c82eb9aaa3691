"""The library's code methods, called directly: promo create / list / show /
disable and referral give typed, frozen results whose JSON is the command's;
refusals are LoyaltyError with the CLI's Error line, and write nothing."""

import dataclasses
import io
from datetime import date, datetime
from decimal import Decimal

import pytest

import loyalty_cli
from loyalty_cli.api.codes import (
    NewCode,
    PromoCode,
    PromoCodes,
    PromoCreated,
    PromoDetail,
    PromoDisabled,
    PromoUse,
    Referee,
    Referral,
)
from loyalty_cli.cli.render import emit_json
from tests.conftest import programme_file


def printed(result) -> str:
    """The result as the CLI prints it with --format json."""
    out = io.StringIO()
    emit_json(result.to_json(), out)
    return out.getvalue()


@pytest.fixture
def ledger(shop):
    shop.run("enroll", "anna", "--name", "Anna Tamm", "--date", "2026-01-05")
    with loyalty_cli.open_ledger(shop.config) as ledger:
        yield ledger


# --- promo create --------------------------------------------------------------


def test_promo_create_returns_the_code_and_takes_python_values(ledger, shop):
    r = ledger.promo_create("summer 10", percent=10, min_purchase=Decimal("20"), starts=date(2026, 1, 1),
                            expires="2026-08-31", max_uses=100, per_member="2", date="2026-01-03")
    assert isinstance(r, PromoCreated) and r.code == "SUMMER-10" and r.codes == ("SUMMER-10",)
    assert r.description == "10% off" and r.to_json() == {"code": "SUMMER-10"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.code = "X"  # type: ignore[misc]
    cli = shop.json("promo", "create", "WINTER", "--percent", "10", "--date", "2026-01-03")
    assert cli == {"code": "WINTER"}
    detail = ledger.promo_show("summer10")
    assert (detail.min_purchase, detail.starts, detail.expires, detail.max_uses, detail.per_member) == (
        Decimal("20.00"), date(2026, 1, 1), date(2026, 8, 31), 100, 2)
    assert detail.created == datetime(2026, 1, 3)


def test_a_generated_code_and_a_count_of_codes(ledger, shop):
    one = ledger.promo_create(amount="5.00", member="anna", first_purchase=True, date="2026-01-05")
    assert isinstance(one.code, str) and len(one.code) == 11 and one.description == "5.00 EUR off"
    batch = ledger.promo_create(points=50, count=3, date="2026-01-05")
    assert isinstance(batch.code, tuple) and len(batch.code) == 3 and all(isinstance(c, NewCode) for c in batch.code)
    assert batch.codes == tuple(c.code for c in batch.code) and len(set(batch.codes)) == 3
    assert batch.to_json() == {"code": [{"code": c} for c in batch.codes]}
    cli = shop.json("promo", "create", "--points", "50", "--count", "2", "--date", "2026-01-05")
    assert list(cli) == ["code"] and [list(c) for c in cli["code"]] == [["code"], ["code"]]
    rows = ledger.promo_list()
    assert [r.max_uses for r in rows] == [None, 1, 1, 1, 1, 1]
    assert len({r.batch for r in rows[1:4]}) == 1 and rows[1].batch is not None


@pytest.mark.parametrize("args, code, kwargs, says", [
    (("BAD", "--percent", "101"), "BAD", {"percent": "101"}, "--percent must be more than 0 and at most 100"),
    (("BAD", "--multiplier", "-2"), "BAD", {"multiplier": "-2"}, "--multiplier: must not be negative"),
    (("BAD", "--amount", "5.001"), "BAD", {"amount": "5.001"}, "--amount '5.001' has too many decimals"),
    (("BAD", "--points", "1.5"), "BAD", {"points": "1.5"}, "--points '1.5' is not a positive whole number"),
    (("BAD", "--points", "5", "--max-uses", "0"), "BAD", {"points": 5, "max_uses": 0}, "--max-uses must be more"),
    (("BAD", "--points", "5", "--max-uses", "x", "--per-member", "y"), "BAD",
     {"points": 5, "max_uses": "x", "per_member": "y"}, "--max-uses 'x'"),
    (("BAD", "--points", "5", "--starts", "2026-02-01", "--expires", "2026-01-01"), "BAD",
     {"points": 5, "starts": "2026-02-01", "expires": date(2026, 1, 1)}, "--expires 2026-01-01 is before --starts"),
    (("BAD", "--points", "5", "--starts", "bad", "--min-purchase", "x"), "BAD",
     {"points": 5, "starts": "bad", "min_purchase": "x"}, "--min-purchase 'x' is not an amount"),
    (("BAD", "--points", "5", "--count", "2"), "BAD", {"points": 5, "count": 2}, "give either a CODE or --count"),
    (("--points", "5", "--count", "0"), None, {"points": 5, "count": 0}, "--count must be more than 0"),
    (("--points", "5", "--count", "2", "--max-uses", "2"), None, {"points": 5, "count": 2, "max_uses": 2},
     "codes made with --count are single-use"),
    (("--points", "5", "--count", "x", "--member", "ghost"), None, {"points": 5, "count": "x", "member": "ghost"},
     "unknown member 'ghost'"),
    (("--points", "5", "--count", "x", "--date", "2999-01-01"), None, {"points": 5, "count": "x", "date": "2999-01-01"},
     "--date '2999-01-01' is in the future"),
    (("BAD", "--points", "5", "--tier", "nope"), "BAD", {"points": 5, "tier": "nope"}, "unknown tier 'nope'"),
    (("S!", "--points", "5"), "S!", {"points": 5}, "code 'S!' is not valid"),
])
def test_a_promo_create_refusal_is_the_clis_error_line_and_writes_nothing(ledger, shop, args, code, kwargs, says):
    """Each refusal in the order the command always checked (the value, the
    limits, the rules, the date, the count, the code), in its words."""
    before = shop.snapshot()
    with pytest.raises(loyalty_cli.LoyaltyError) as refused:
        ledger.promo_create(code, **kwargs)
    assert str(refused.value).startswith(says)
    assert shop.snapshot() == before
    cli = shop.fail("promo", "create", *args).stderr.strip()
    assert cli.split(" (it is now")[0] == f"Error: {refused.value}".split(" (it is now")[0]


def test_one_effect_exactly_and_never_a_float(ledger, shop):
    before = shop.snapshot()
    with pytest.raises(loyalty_cli.LoyaltyError, match="give exactly one effect: --percent, --amount"):
        ledger.promo_create("TWO", percent="10", amount="5")
    with pytest.raises(loyalty_cli.LoyaltyError, match="give exactly one effect"):
        ledger.promo_create("NONE")
    for effect in ("percent", "amount", "multiplier"):
        with pytest.raises(loyalty_cli.LoyaltyError, match="float"):
            ledger.promo_create("FLOAT", **{effect: 1.5})
    with pytest.raises(loyalty_cli.LoyaltyError, match="whole number"):
        ledger.promo_create("FLOAT", points=1.5)  # type: ignore[arg-type]
    assert shop.snapshot() == before
    assert shop.fail("promo", "create", "TWO", "--percent", "10", "--amount", "5", code=2)  # a usage error there


def test_a_decimal_multiplier_is_stored_as_written(ledger):
    ledger.promo_create("MULT", multiplier=Decimal("1.50"), date="2026-01-05")
    row = ledger.promo_list()[0]
    assert (row.effect, row.value, row.description) == ("multiplier", "1.50", "points ×1.50")


# --- promo list and show ---------------------------------------------------------


@pytest.fixture
def used(ledger, shop):
    ledger.promo_create("SUMMER10", percent="10", expires="2026-08-31", date="2026-01-03")
    ledger.promo_create("FIVE", amount="5", max_uses=1, date="2026-01-04")
    shop.run("purchase", "anna", "40.00", "--code", "summer-10", "--order", "C1", "--date", "2026-03-04")
    shop.run("purchase", "anna", "20.00", "--code", "five", "--order", "C2", "--date", "2026-03-05")
    return ledger


def test_promo_list_is_rows_with_the_commands_json(used, shop):
    rows = used.promo_list(as_of="2026-03-10")
    assert isinstance(rows, PromoCodes) and all(isinstance(r, PromoCode) for r in rows)
    summer, five = rows
    assert summer.uses == 1 and summer.status == "active" and summer.expires == date(2026, 8, 31)
    assert five.status == "used up" and five.value == "5.00" and five.min_purchase == Decimal("0.00")
    assert isinstance(five.min_purchase, Decimal)
    assert printed(rows) == shop.run("promo", "list", "--as-of", "2026-03-10", "--format", "json").stdout
    assert [r.code for r in used.promo_list(active=True, as_of="2026-03-10")] == ["SUMMER10"]
    assert [r.code for r in used.promo_list(as_of=date(2026, 1, 3))] == ["SUMMER10"]
    assert [r.status for r in used.promo_list(as_of="2026-09-01")] == ["expired", "used up"]


def test_promo_show_has_every_use_with_exact_amounts(used, shop):
    r = used.promo_show("summer 10", as_of="2026-03-10")
    assert isinstance(r, PromoDetail) and r.code == "SUMMER10" and r.description == "10% off"
    (use,) = r.used
    assert isinstance(use, PromoUse)
    assert (use.date, use.member, use.order, use.amount, use.discount) == (
        datetime(2026, 3, 4), "anna", "C1", Decimal("40.00"), Decimal("4.00"))
    assert printed(r) == shop.run("promo", "show", "SUMMER10", "--as-of", "2026-03-10", "--format", "json").stdout
    assert used.promo_show("summer10", as_of="2026-03-01").used == ()


def test_an_unknown_code_is_the_clis_refusal(ledger, shop):
    for call, args in ((lambda: ledger.promo_show("nope"), ("show", "nope")),
                       (lambda: ledger.promo_disable("nope"), ("disable", "nope", "--yes"))):
        with pytest.raises(loyalty_cli.LoyaltyError) as refused:
            call()
        assert shop.fail("promo", *args).stderr.strip() == f"Error: {refused.value}"


# --- promo disable -------------------------------------------------------------


def test_promo_disable_needs_no_confirmation_and_refuses_a_second_time(used, shop):
    r = used.promo_disable("summer-10", date="2026-03-06")
    assert isinstance(r, PromoDisabled) and r.code == "SUMMER10" and r.to_json() == {"code": "SUMMER10"}
    assert used.promo_show("SUMMER10").disabled == datetime(2026, 3, 6)
    assert used.promo_show("SUMMER10", as_of="2026-03-05").status == "active"
    before = shop.snapshot()
    with pytest.raises(loyalty_cli.LoyaltyError) as refused:
        used.promo_disable("SUMMER10")
    assert str(refused.value) == "promo code SUMMER10 is already disabled (since 2026-03-06)"
    assert shop.snapshot() == before
    assert shop.fail("promo", "disable", "summer10", "--yes").stderr.strip() == f"Error: {refused.value}"


# --- referral ------------------------------------------------------------------


def test_referral_makes_the_code_once_and_lists_whom_the_member_referred(make_shop):
    shop = make_shop(programme_file("referral"))
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-05")
    with loyalty_cli.open_ledger(shop.config) as ledger:
        before = shop.snapshot()
        r = ledger.referral("anna")
        assert shop.snapshot() != before  # the code is made, and written, on the first request
        assert isinstance(r, Referral) and r.member == "anna" and r.name == "Anna"
        assert r.referred == () and r.referrals == ()
        shop.run("enroll", "bob", "--name", "Bob", "--referral", r.code, "--date", "2026-01-06")
        ledger.enroll("carl", name="Carl", referral=r.code.replace("-", " "), date="2026-01-07")
        shop.run("purchase", "bob", "25.00", "--date", "2026-01-08")
        again = ledger.referral("anna")
        assert again.code == r.code and again.referred == ("bob", "carl")
        bob, carl = again.referrals
        assert isinstance(bob, Referee)
        assert (bob.joined, bob.status, bob.rewarded_on) == (date(2026, 1, 6), "rewarded", date(2026, 1, 8))
        assert (carl.status, carl.rewarded_on) == ("pending", None)
        assert printed(again) == shop.run("referral", "anna", "--format", "json").stdout


def test_referral_of_a_forgotten_or_unknown_member_is_the_clis_refusal(ledger, shop):
    ledger.forget("anna", date="2026-01-06")
    for member in ("anna", "ghost"):
        before = shop.snapshot()
        with pytest.raises(loyalty_cli.LoyaltyError) as refused:
            ledger.referral(member)
        assert shop.snapshot() == before
        assert shop.fail("referral", member).stderr.strip() == f"Error: {refused.value}"
