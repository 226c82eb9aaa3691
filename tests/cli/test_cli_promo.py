"""Promo codes through the CLI (spec.md, "Promo codes"; issue 4): every effect
with figures worked out by hand in the comment beside them, every limit and
every refusal reason (each refusal writes nothing), normalisation of typed
codes, generated codes, output shapes, list/show/disable and refunds.
Each scenario ends with `loyalty check`, which must print nothing.
"""

from __future__ import annotations

import csv
import io
import re
import textwrap

import pytest

pytestmark = [pytest.mark.backends("sqlite", "postgresql"), pytest.mark.pg_full]  # PostgreSQL: the whole run

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # no I, L, O, U
GENERATED = re.compile(r"[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}")


def programme(body: str = "") -> str:
    head = """
[program]
name = "Promo Shop"
currency = "EUR"
timezone = "Europe/Tallinn"

[ledger]
database = "loyalty.db"

[earning]
points_per_unit = 1
rounding = "floor"
"""
    return head + textwrap.dedent(body)


# Bronze x1; Silver from 100.00 spend x1.5; Gold from 500.00 spend x2 with a 5% standing discount.
TIERS = programme("""
[[tiers.levels]]
name = "Bronze"
min = "0"

[[tiers.levels]]
name = "Silver"
min = "100"
multiplier = 1.5

[[tiers.levels]]
name = "Gold"
min = "500"
multiplier = 2
discount_percent = 5
""")


@pytest.fixture
def s(make_shop):
    return make_shop(programme())


@pytest.fixture
def t(make_shop):
    return make_shop(TIERS)


def clean(shop) -> None:
    r = shop.run("check")
    assert r.stdout == "" and r.stderr == "", r.stdout + r.stderr


def enroll(shop, member: str, date: str = "2026-01-01") -> None:
    shop.run("enroll", member, "--name", member.title(), "--date", date)


def create(shop, *args: str, date: str = "2026-01-01") -> str:
    """promo create ... back-dated to `date`; returns the code as shown."""
    return shop.json("promo", "create", *args, "--date", date)["code"]


def buy(shop, member: str, amount: str, date: str, *extra: str) -> dict:
    return shop.json("purchase", member, amount, "--date", date, *extra)


def refused(shop, *args: str, contains: str, code: int = 1):
    """The command is refused with `contains` in its one error line, and the
    ledger is byte-for-byte what it was."""
    before = shop.snapshot()
    r = shop.fail(*args, code=code, contains=contains)
    assert shop.snapshot() == before
    return r


def history(shop, member: str) -> list[tuple]:
    return [(h["kind"], h["points"], h["order"]) for h in shop.json("history", member)
            if h["kind"] != "tier"]  # point entries only


def balance(shop, member: str) -> int:
    return shop.json("show", member)["points"]


def make_gold(shop, member: str) -> None:
    """500.00 at Bronze (x1, no discount) -> 500 points, and Gold from then on."""
    r = buy(shop, member, "500.00", "2026-01-02", "--order", f"{member}-gold")
    assert (r["points_earned"], r["tier"]) == (500, "Gold")


def make_silver(shop, member: str) -> None:
    """100.00 at Bronze -> 100 points, and Silver from then on."""
    r = buy(shop, member, "100.00", "2026-01-02", "--order", f"{member}-silver")
    assert (r["points_earned"], r["tier"]) == (100, "Silver")


# ---------------------------------------------------------------------------
# effects
# ---------------------------------------------------------------------------


def test_percent_code_lowers_the_net_that_earns(s):
    enroll(s, "anna")
    assert create(s, "SUMMER10", "--percent", "10") == "SUMMER10"
    # 10% of 30.00 = 3.00 -> net 27.00 -> 27 points.
    r = buy(s, "anna", "30.00", "2026-02-01", "--order", "A1", "--code", "SUMMER10")
    assert (r["amount"], r["discount"], r["net"], r["points_earned"], r["bonus_points"], r["points"], r["code"]) == \
        ("30.00", "3.00", "27.00", 27, 0, 27, "SUMMER10")
    assert s.sql("SELECT amount, discount, net, points_earned FROM purchases") == [(3000, 300, 2700, 27)]
    assert history(s, "anna") == [("earn", 27, "A1")]
    # 12.5% of 9.99 = 1.24875 -> 1.25 (half-up) -> net 8.74 -> 8 points.
    create(s, "EIGHTH", "--percent", "12.5")
    r = buy(s, "anna", "9.99", "2026-02-02", "--code", "EIGHTH")
    assert (r["discount"], r["net"], r["points_earned"], r["points"]) == ("1.25", "8.74", 8, 35)
    # the uses are recorded against the orders, with the discount
    assert s.sql("SELECT u.member_id, p.order_id, u.discount, u.bonus_points FROM promo_uses u "
                 "JOIN purchases p ON p.id = u.purchase_id ORDER BY u.id")[0] == ("anna", "A1", 300, 0)
    clean(s)


def test_percent_100_makes_a_free_purchase_that_earns_nothing(s):
    enroll(s, "anna")
    create(s, "FREE", "--percent", "100")
    r = buy(s, "anna", "7.50", "2026-02-01", "--code", "FREE")
    assert (r["discount"], r["net"], r["points_earned"], r["points"]) == ("7.50", "0.00", 0, 0)
    assert history(s, "anna") == []
    clean(s)


def test_amount_code_is_capped_at_the_purchase(s):
    enroll(s, "anna")
    create(s, "FIVE-OFF", "--amount", "5")
    # 12.00 - 5.00 = 7.00 -> 7 points.
    r = buy(s, "anna", "12.00", "2026-02-01", "--order", "A1", "--code", "FIVE-OFF")
    assert (r["discount"], r["net"], r["points_earned"]) == ("5.00", "7.00", 7)
    # 5.00 off 3.00 caps at 3.00: net 0.00, nothing earned, nothing owed.
    r = buy(s, "anna", "3.00", "2026-02-02", "--order", "A2", "--code", "FIVE-OFF")
    assert (r["amount"], r["discount"], r["net"], r["points_earned"], r["points"]) == ("3.00", "3.00", "0.00", 0, 7)
    assert s.sql("SELECT order_id, discount, net FROM purchases ORDER BY id") == [("A1", 500, 700), ("A2", 300, 0)]
    assert history(s, "anna") == [("earn", 7, "A1")]
    clean(s)


def test_points_code_credits_a_separate_promo_entry(s):
    enroll(s, "anna")
    create(s, "BONUS50", "--points", "50")
    # 10.00 earns 10; the code adds 50 bonus points in an entry of its own.
    r = buy(s, "anna", "10.00", "2026-02-01", "--order", "A1", "--code", "BONUS50")
    assert (r["discount"], r["net"], r["points_earned"], r["bonus_points"], r["points"]) == ("0.00", "10.00", 10, 50, 60)
    assert history(s, "anna") == [("earn", 10, "A1"), ("promo", 50, "A1")]
    assert s.sql("SELECT discount, bonus_points FROM promo_uses") == [(0, 50)]
    clean(s)


def test_multiplier_code_times_the_tier_multiplier_rounded_once(t):
    enroll(t, "anna")
    make_silver(t, "anna")  # 100 points, now Silver x1.5
    create(t, "DOUBLE", "--multiplier", "2")
    create(t, "BOOST", "--multiplier", "1.5")
    # 10.00 x 1.5 x 2 = 30 points.
    r = buy(t, "anna", "10.00", "2026-02-01", "--order", "A1", "--code", "DOUBLE")
    assert (r["discount"], r["net"], r["points_earned"], r["bonus_points"], r["points"]) == ("0.00", "10.00", 30, 0, 130)
    # 3.33 x 1.5 x 1.5 = 7.4925 -> 7 (rounding twice would give floor(4.995)=4 x 1.5 = 6).
    r = buy(t, "anna", "3.33", "2026-02-02", "--order", "A2", "--code", "BOOST")
    assert (r["points_earned"], r["points"]) == (7, 137)
    assert history(t, "anna") == [("earn", 100, "anna-silver"), ("earn", 30, "A1"), ("earn", 7, "A2")]
    clean(t)


@pytest.mark.parametrize("args", [(), ("--percent", "10", "--amount", "5"), ("--points", "5", "--multiplier", "2"),
                                  ("--percent", "10", "--amount", "5", "--points", "1", "--multiplier", "2")])
def test_exactly_one_effect_or_a_usage_error(s, args):
    before = s.snapshot()
    r = s.fail("promo", "create", "CODE1", *args, code=2)
    assert "exactly one effect" in r.stderr
    assert s.snapshot() == before


@pytest.mark.parametrize("args, message", [
    (("--percent", "0"), "--percent must be more than 0"),
    (("--percent", "100.5"), "at most 100"),
    (("--amount", "1.234"), "too many decimals"),
    (("--amount", "0"), "--amount must be more than 0"),
    (("--points", "0"), "--points must be more than 0"),
    (("--multiplier", "0"), "--multiplier must be more than 0"),
    (("--percent", "10", "--tier", "Platinum"), "unknown tier"),
    (("--percent", "10", "--member", "nobody"), "nobody"),
    (("--percent", "10", "--starts", "2026-05-01", "--expires", "2026-04-30"), "before --starts"),
    (("--percent", "10", "--max-uses", "0"), "--max-uses"),
    (("--percent", "10", "--per-member", "0"), "--per-member"),
])
def test_create_refuses_bad_rules_and_writes_nothing(t, args, message):
    enroll(t, "anna")
    refused(t, "promo", "create", "CODE1", *args, contains=message)


def test_create_refuses_a_code_that_exists_in_any_spelling(s):
    create(s, "SPRING-SALE", "--percent", "10")
    for other in ("spring sale", "SPRINGSALE", "spr1ng-sa1e"):
        refused(s, "promo", "create", other, "--percent", "20", contains="already exists")
    refused(s, "promo", "create", "ABC", "--count", "2", "--points", "5", contains="not both")
    refused(s, "promo", "create", "--count", "2", "--points", "5", "--max-uses", "3", contains="single-use")


# ---------------------------------------------------------------------------
# discounts do not stack with the tier's standing discount
# ---------------------------------------------------------------------------


def test_a_larger_code_discount_replaces_the_tier_discount(t):
    enroll(t, "anna")
    make_gold(t, "anna")  # Gold: x2, 5% off
    create(t, "TEN", "--percent", "10")
    create(t, "THREE", "--amount", "3")
    # Gold's 5% of 40.00 = 2.00; the code's 10% = 4.00 is larger and replaces it (not 6.00):
    # net 36.00 x 2 = 72 points.
    r = buy(t, "anna", "40.00", "2026-02-01", "--code", "TEN")
    assert (r["discount"], r["net"], r["points_earned"], r["points"]) == ("4.00", "36.00", 72, 572)
    # 3.00 off beats 2.00: net 37.00 x 2 = 74.
    r = buy(t, "anna", "40.00", "2026-02-02", "--code", "THREE")
    assert (r["discount"], r["net"], r["points_earned"], r["points"]) == ("3.00", "37.00", 74, 646)
    clean(t)


@pytest.mark.parametrize("effect", [("--percent", "5"), ("--percent", "4"), ("--amount", "2"), ("--amount", "1.99")])
def test_a_code_discount_not_larger_than_the_tier_discount_is_refused(t, effect):
    enroll(t, "anna")
    make_gold(t, "anna")
    create(t, "WEAK", *effect)
    # Gold's own 5% of 40.00 = 2.00; the code gives 2.00 or less: refused, nothing written.
    refused(t, "purchase", "anna", "40.00", "--order", "A1", "--date", "2026-02-01", "--code", "WEAK",
            contains="do not stack")
    # without the code the purchase goes through at the tier's discount: 38.00 x 2 = 76
    r = buy(t, "anna", "40.00", "2026-02-01", "--order", "A1")
    assert (r["discount"], r["points_earned"]) == ("2.00", 76)
    assert t.json("promo", "show", "WEAK")["uses"] == 0
    clean(t)


def test_points_and_multiplier_codes_keep_the_tier_discount(t):
    enroll(t, "anna")
    make_gold(t, "anna")
    create(t, "BONUS50", "--points", "50")
    create(t, "DOUBLE", "--multiplier", "2")
    # 5% of 40.00 = 2.00 -> net 38.00 x 2 = 76, plus 50 bonus.
    r = buy(t, "anna", "40.00", "2026-02-01", "--code", "BONUS50")
    assert (r["discount"], r["net"], r["points_earned"], r["bonus_points"], r["points"]) == \
        ("2.00", "38.00", 76, 50, 626)
    # net 38.00 x 2 (Gold) x 2 (code) = 152.
    r = buy(t, "anna", "40.00", "2026-02-02", "--code", "DOUBLE")
    assert (r["discount"], r["net"], r["points_earned"], r["points"]) == ("2.00", "38.00", 152, 778)
    clean(t)


# ---------------------------------------------------------------------------
# limits and refusals: each names its reason and writes nothing
# ---------------------------------------------------------------------------


def test_unknown_code(s):
    enroll(s, "anna")
    create(s, "REAL", "--percent", "10")
    refused(s, "purchase", "anna", "10.00", "--date", "2026-02-01", "--code", "NOPE", contains="unknown promo code")
    refused(s, "purchase", "anna", "10.00", "--date", "2026-02-01", "--code", "REAL1", contains="unknown promo code")
    clean(s)


def test_disabled_code(s):
    enroll(s, "anna")
    create(s, "GONE", "--percent", "10")
    assert buy(s, "anna", "10.00", "2026-02-01", "--code", "GONE")["discount"] == "1.00"
    s.run("promo", "disable", "gone", "--yes", "--date", "2026-02-02")
    refused(s, "purchase", "anna", "10.00", "--date", "2026-02-03", "--code", "GONE", contains="disabled")
    refused(s, "purchase", "anna", "10.00", "--code", "GONE", contains="disabled")
    clean(s)


def test_expires_is_the_last_valid_day(s):
    enroll(s, "anna")
    create(s, "MARCH", "--percent", "10", "--expires", "2026-03-31")
    r = buy(s, "anna", "10.00", "2026-03-31T23:59", "--code", "MARCH")
    assert (r["discount"], r["points_earned"]) == ("1.00", 9)
    refused(s, "purchase", "anna", "10.00", "--date", "2026-04-01", "--code", "MARCH", contains="expired")
    refused(s, "purchase", "anna", "10.00", "--date", "2026-04-01T00:00", "--code", "march", contains="2026-03-31")
    clean(s)


def test_starts_is_the_first_valid_day(s):
    enroll(s, "anna")
    create(s, "SPRING", "--percent", "10", "--starts", "2026-03-01")
    r = refused(s, "purchase", "anna", "10.00", "--date", "2026-02-28T23:59", "--code", "SPRING",
                contains="not valid yet")
    assert "2026-03-01" in r.stderr
    r = buy(s, "anna", "10.00", "2026-03-01", "--code", "SPRING")
    assert (r["discount"], r["points_earned"]) == ("1.00", 9)
    clean(s)


def test_a_code_created_after_the_purchase_date_did_not_exist_yet(s):
    enroll(s, "anna")
    create(s, "LATE", "--percent", "10", date="2026-03-01")
    refused(s, "purchase", "anna", "10.00", "--date", "2026-02-28", "--code", "LATE", contains="did not exist yet")
    assert buy(s, "anna", "10.00", "2026-03-01", "--code", "LATE")["discount"] == "1.00"
    clean(s)


def test_max_uses_counts_everyone(s):
    for m in ("anna", "bob", "carl"):
        enroll(s, m)
    create(s, "TWICE", "--points", "10", "--max-uses", "2")
    assert buy(s, "anna", "5.00", "2026-02-01", "--code", "TWICE")["bonus_points"] == 10
    assert buy(s, "bob", "5.00", "2026-02-02", "--code", "TWICE")["bonus_points"] == 10
    for m in ("carl", "anna"):
        refused(s, "purchase", m, "5.00", "--date", "2026-02-03", "--code", "TWICE", contains="used up")
    assert s.json("promo", "show", "TWICE")["status"] == "used up"
    clean(s)


def test_per_member_limit(s):
    enroll(s, "anna")
    enroll(s, "bob")
    create(s, "TWOEACH", "--points", "10", "--per-member", "2")
    buy(s, "anna", "5.00", "2026-02-01", "--code", "TWOEACH")
    buy(s, "anna", "5.00", "2026-02-02", "--code", "TWOEACH")
    r = refused(s, "purchase", "anna", "5.00", "--date", "2026-02-03", "--code", "TWOEACH", contains="per member")
    assert "2" in r.stderr and "anna" in r.stderr
    # another member still has their own two uses
    assert buy(s, "bob", "5.00", "2026-02-03", "--code", "TWOEACH")["bonus_points"] == 10
    assert s.json("promo", "show", "TWOEACH")["uses"] == 3
    clean(s)


def test_min_purchase_compares_the_amount_before_discounts(t):
    enroll(t, "anna")
    create(t, "OVER20", "--percent", "10", "--min-purchase", "20")
    r = refused(t, "purchase", "anna", "19.99", "--date", "2026-02-01", "--code", "OVER20", contains="at least 20.00")
    assert "19.99" in r.stderr
    # 20.00 reaches the minimum although the net after the code is 18.00 -> 18 points.
    r = buy(t, "anna", "20.00", "2026-02-01", "--code", "OVER20")
    assert (r["discount"], r["net"], r["points_earned"]) == ("2.00", "18.00", 18)
    clean(t)


def test_min_purchase_is_not_lowered_by_points_paid(make_shop):
    s = make_shop(programme("""
        [redemption]
        point_value = "0.01"
        max_share = 1.0
        """))
    enroll(s, "anna")
    s.run("adjust", "anna", "500", "--reason", "start", "--date", "2026-01-01")
    create(s, "OVER20", "--points", "7", "--min-purchase", "20")
    # amount 20.00, 5.00 paid with 500 points -> net 15.00 -> 15 points, + 7 bonus
    r = buy(s, "anna", "20.00", "2026-02-01", "--redeem", "500", "--code", "OVER20")
    assert (r["paid_with_points"], r["net"], r["points_earned"], r["bonus_points"], r["points"]) == \
        ("5.00", "15.00", 15, 7, 22)
    clean(s)


def test_personal_code_is_for_its_member_only(s):
    enroll(s, "anna")
    enroll(s, "bob")
    create(s, "ANNA5", "--amount", "5", "--member", "anna")
    refused(s, "purchase", "bob", "10.00", "--date", "2026-02-01", "--code", "ANNA5", contains="not for member bob")
    r = buy(s, "anna", "10.00", "2026-02-01", "--code", "ANNA5")
    assert (r["discount"], r["points_earned"]) == ("5.00", 5)
    assert s.json("promo", "show", "ANNA5")["member"] == "anna"
    clean(s)


def test_tier_code_is_for_that_tier_and_higher(t):
    for m in ("bronze", "silver", "gold"):
        enroll(t, m)
    make_silver(t, "silver")
    make_gold(t, "gold")
    create(t, "SILVERUP", "--points", "25", "--tier", "silver")
    r = refused(t, "purchase", "bronze", "10.00", "--date", "2026-02-01", "--code", "SILVERUP", contains="Silver")
    assert "Bronze" in r.stderr
    # Silver: 10.00 x 1.5 = 15 + 25
    r = buy(t, "silver", "10.00", "2026-02-01", "--code", "SILVERUP")
    assert (r["points_earned"], r["bonus_points"]) == (15, 25)
    # Gold (higher): 5% off 10.00 = 0.50 -> 9.50 x 2 = 19 + 25
    r = buy(t, "gold", "10.00", "2026-02-01", "--code", "SILVERUP")
    assert (r["discount"], r["points_earned"], r["bonus_points"]) == ("0.50", 19, 25)
    clean(t)


def test_tier_is_the_one_held_before_the_purchase(t):
    enroll(t, "anna")
    create(t, "SILVERUP", "--points", "25", "--tier", "Silver")
    # 150.00 would make anna Silver, but only after this purchase
    refused(t, "purchase", "anna", "150.00", "--date", "2026-02-01", "--code", "SILVERUP", contains="Silver")
    clean(t)


def test_first_purchase_code(s):
    enroll(s, "anna")
    enroll(s, "bob")
    create(s, "WELCOME", "--amount", "2", "--first-purchase")
    buy(s, "anna", "1.00", "2026-01-05")
    refused(s, "purchase", "anna", "10.00", "--date", "2026-02-01", "--code", "WELCOME", contains="first purchase")
    r = buy(s, "bob", "10.00", "2026-02-01", "--code", "WELCOME")
    assert (r["discount"], r["points_earned"]) == ("2.00", 8)
    # bob's next purchase is not a first purchase any more
    refused(s, "purchase", "bob", "10.00", "--date", "2026-02-02", "--code", "WELCOME", contains="first purchase")
    clean(s)


def test_a_refused_code_leaves_the_order_id_free(s):
    enroll(s, "anna")
    refused(s, "purchase", "anna", "10.00", "--order", "A1", "--date", "2026-02-01", "--code", "NOPE",
            contains="unknown promo code")
    assert buy(s, "anna", "10.00", "2026-02-01", "--order", "A1")["points_earned"] == 10
    clean(s)


# ---------------------------------------------------------------------------
# normalisation
# ---------------------------------------------------------------------------


def test_codes_match_ignoring_case_spaces_hyphens_and_lookalikes(s):
    enroll(s, "anna")
    assert create(s, "Spring Sale", "--points", "1") == "SPRING-SALE"
    variants = ["spring sale", "SPRINGSALE", "spring-sale", "  Spring  Sale ", "s-p-r-i-n-g s-a-l-e",
                "SPR1NG SA1E",  # I and L read as 1
                "spRINg-SALe"]
    for day, typed in enumerate(variants, start=1):
        r = buy(s, "anna", "1.00", f"2026-02-{day:02d}", "--code", typed)
        assert (r["code"], r["bonus_points"]) == ("SPRING-SALE", 1), typed
    # a created code with digits is found when O / I / L are typed for 0 / 1
    assert create(s, "GO1D-10", "--points", "1") == "GO1D-10"
    for day, typed in enumerate(["gold-10", "G0LD 1O", "goid io", "G01D10"], start=10):
        assert buy(s, "anna", "1.00", f"2026-02-{day:02d}", "--code", typed)["code"] == "GO1D-10", typed
    assert s.json("promo", "show", "spring sale")["uses"] == len(variants)
    clean(s)


def test_generated_codes_are_found_with_lookalikes_typed(s):
    enroll(s, "anna")
    out = s.run("promo", "create", "--count", "50", "--points", "1", "--format", "csv", "--date", "2026-01-01").stdout
    made = out.splitlines()[1:]
    pick = next(c for c in made if "0" in c or "1" in c)  # P(none of 50 has a 0 or 1) ~ 1e-14
    typed = pick.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    r = buy(s, "anna", "1.00", "2026-02-01", "--code", typed)
    assert (r["code"], r["bonus_points"]) == (pick, 1)
    clean(s)


# ---------------------------------------------------------------------------
# generated codes and output shapes
# ---------------------------------------------------------------------------


def test_count_500_generates_distinct_single_use_codes_as_csv(s):
    out = s.run("promo", "create", "--count", "500", "--points", "50", "--format", "csv").stdout
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["code"]
    made = [r[0] for r in rows[1:]]
    assert all(len(r) == 1 for r in rows)
    assert len(made) == 500 and len(set(made)) == 500
    for c in made:
        assert GENERATED.fullmatch(c), c
        assert set(c.replace("-", "")) <= set(CROCKFORD)
    # 10 characters of a 32-letter alphabet: 50 bits; all stored single-use
    assert s.sql("SELECT COUNT(*), COUNT(DISTINCT key), MIN(max_uses), MAX(max_uses) FROM promo_codes") == \
        [(500, 500, 1, 1)]
    assert sorted(r[0] for r in s.sql("SELECT code FROM promo_codes")) == sorted(made)
    clean(s)


def test_a_generated_code_is_single_use(s):
    enroll(s, "anna")
    enroll(s, "bob")
    out = s.run("promo", "create", "--count", "2", "--amount", "1", "--format", "csv", "--date", "2026-01-01").stdout
    first, second = out.splitlines()[1:]
    assert buy(s, "anna", "10.00", "2026-02-01", "--code", first)["discount"] == "1.00"
    refused(s, "purchase", "bob", "10.00", "--date", "2026-02-02", "--code", first, contains="used up")
    assert buy(s, "bob", "10.00", "2026-02-02", "--code", second)["discount"] == "1.00"
    clean(s)


def test_output_shapes(s):
    one = s.json("promo", "create", "--percent", "10")
    assert list(one) == ["code"] and isinstance(one["code"], str) and GENERATED.fullmatch(one["code"])
    named = s.json("promo", "create", "named1", "--percent", "10")
    assert named == {"code": "NAMED1"}
    many = s.json("promo", "create", "--count", "3", "--points", "5")
    assert list(many) == ["code"] and len(many["code"]) == 3
    assert all(list(c) == ["code"] and GENERATED.fullmatch(c["code"]) for c in many["code"])
    single_csv = s.run("promo", "create", "--points", "5", "--format", "csv").stdout.splitlines()
    assert single_csv[0] == "code" and len(single_csv) == 2 and GENERATED.fullmatch(single_csv[1])
    # table (piped): one code per line on stdout, the summary on stderr
    r = s.run("promo", "create", "--count", "4", "--points", "5")
    lines = r.stdout.splitlines()
    assert len(lines) == 4 and all(GENERATED.fullmatch(c) for c in lines)
    assert s.sql("SELECT COUNT(*) FROM promo_codes") == [(1 + 1 + 3 + 1 + 4,)]
    clean(s)


# ---------------------------------------------------------------------------
# list, show, disable
# ---------------------------------------------------------------------------


def test_list_statuses_and_active_only(s):
    enroll(s, "anna")
    create(s, "LIVE", "--percent", "10")
    create(s, "OFF", "--percent", "10")
    create(s, "OLD", "--percent", "10", "--expires", "2026-02-28")
    create(s, "LATER", "--percent", "10", "--starts", "2026-12-01")
    create(s, "ONCE", "--percent", "10", "--max-uses", "1")
    buy(s, "anna", "10.00", "2026-02-01", "--code", "ONCE")
    s.run("promo", "disable", "OFF", "--yes", "--date", "2026-03-01")
    status = {r["code"]: r["status"] for r in s.json("promo", "list", "--as-of", "2026-06-01")}
    assert status == {"LIVE": "active", "OFF": "disabled", "OLD": "expired", "LATER": "not yet valid",
                      "ONCE": "used up"}
    active = s.json("promo", "list", "--active", "--as-of", "2026-06-01")
    assert [r["code"] for r in active] == ["LIVE"]
    # as of an earlier day: OFF not disabled yet, OLD not expired yet, ONCE not used yet
    early = {r["code"]: r["status"] for r in s.json("promo", "list", "--as-of", "2026-01-15")}
    assert early == {"LIVE": "active", "OFF": "active", "OLD": "active", "LATER": "not yet valid", "ONCE": "active"}
    assert {r["code"] for r in s.json("promo", "list", "--active", "--as-of", "2026-01-15")} == {"LIVE", "OFF", "OLD", "ONCE"}
    # csv has a header and a row per code
    rows = list(csv.reader(io.StringIO(s.run("promo", "list", "--format", "csv", "--as-of", "2026-06-01").stdout)))
    assert "code" in [h.lower() for h in rows[0]] and len(rows) == 6
    clean(s)


def test_show_lists_every_use(s):
    enroll(s, "anna")
    enroll(s, "bob")
    create(s, "BONUS", "--points", "20", "--per-member", "5", "--min-purchase", "5")
    buy(s, "anna", "10.00", "2026-02-01", "--order", "A1", "--code", "BONUS")
    buy(s, "bob", "6.50", "2026-02-02", "--order", "B1", "--code", "bonus")
    buy(s, "anna", "7.00", "2026-02-03", "--order", "A2", "--code", "Bonus")
    buy(s, "anna", "7.00", "2026-02-04", "--order", "A3")  # without the code
    doc = s.json("promo", "show", "b o n u s")
    assert (doc["code"], doc["effect"], doc["uses"], doc["status"], doc["per_member"], doc["min_purchase"]) == \
        ("BONUS", "points", 3, "active", 5, "5.00")
    assert [(u["member"], u["order"], u["amount"], u["discount"], u["bonus_points"]) for u in doc["used"]] == [
        ("anna", "A1", "10.00", "0.00", 20), ("bob", "B1", "6.50", "0.00", 20), ("anna", "A2", "7.00", "0.00", 20)]
    # as of an earlier day, only the uses up to then
    assert [u["order"] for u in s.json("promo", "show", "BONUS", "--as-of", "2026-02-01")["used"]] == ["A1"]
    table = s.run("promo", "show", "BONUS").stdout
    for order in ("A1", "B1", "A2"):
        assert order in table
    refused(s, "promo", "show", "NOPE", contains="unknown promo code")
    clean(s)


def test_disable_needs_yes_and_is_refused_twice(s):
    enroll(s, "anna")
    create(s, "SHUT", "--percent", "10")
    buy(s, "anna", "10.00", "2026-02-01", "--order", "A1", "--code", "SHUT")
    refused(s, "promo", "disable", "SHUT", contains="--yes")
    assert s.json("promo", "show", "SHUT")["status"] == "active"
    r = s.run("promo", "disable", "shut", "--yes", "--date", "2026-02-02")
    assert "SHUT" in r.stderr
    refused(s, "promo", "disable", "SHUT", "--yes", contains="already disabled")
    refused(s, "promo", "disable", "NOPE", "--yes", contains="unknown promo code")
    refused(s, "purchase", "anna", "10.00", "--date", "2026-02-03", "--code", "SHUT", contains="disabled")
    doc = s.json("promo", "show", "SHUT")
    # its past use stays
    assert (doc["status"], doc["uses"], [u["order"] for u in doc["used"]]) == ("disabled", 1, ["A1"])
    assert s.json("promo", "list", "--active") == []
    assert history(s, "anna") == [("earn", 9, "A1")]
    clean(s)


# ---------------------------------------------------------------------------
# refunds
# ---------------------------------------------------------------------------


def test_refund_keeps_the_use_of_a_single_use_code(s):
    enroll(s, "anna")
    create(s, "ONCE", "--percent", "10", "--max-uses", "1")
    # 10% of 30.00 = 3.00 -> 27 points
    buy(s, "anna", "30.00", "2026-02-01", "--order", "A1", "--code", "ONCE")
    r = s.json("refund", "A1", "--date", "2026-02-02")
    assert (r["points_taken_back"], r["points"]) == (27, 0)
    doc = s.json("promo", "show", "ONCE")
    assert (doc["uses"], doc["status"], [u["order"] for u in doc["used"]]) == (1, "used up", ["A1"])
    refused(s, "purchase", "anna", "30.00", "--date", "2026-02-03", "--code", "ONCE", contains="used up")
    clean(s)


def test_refund_keeps_per_member_uses(s):
    enroll(s, "anna")
    create(s, "ONEEACH", "--amount", "1", "--per-member", "1")
    buy(s, "anna", "10.00", "2026-02-01", "--order", "A1", "--code", "ONEEACH")
    s.run("refund", "A1", "--date", "2026-02-02")
    refused(s, "purchase", "anna", "10.00", "--date", "2026-02-03", "--code", "ONEEACH", contains="per member")
    clean(s)


def test_refund_takes_back_bonus_points_in_proportion(s):
    enroll(s, "anna")
    create(s, "BONUS50", "--points", "50")
    # 20.00 -> 20 points + 50 bonus = 70
    r = buy(s, "anna", "20.00", "2026-02-01", "--order", "A1", "--code", "BONUS50")
    assert r["points"] == 70
    # refund 5.00 of 20.00 = a quarter: 20/4 = 5 earned, 50/4 = 12.5 -> 12 (floor, the order's rounding)
    r = s.json("refund", "A1", "--amount", "5.00", "--date", "2026-02-02")
    assert (r["points_taken_back"], r["points"]) == (17, 53)
    # the rest: 20 - 5 = 15 and 50 - 12 = 38 -> all 70 taken back in total
    r = s.json("refund", "A1", "--date", "2026-02-03")
    assert (r["points_taken_back"], r["points"]) == (53, 0)
    assert [(k, p) for k, p, _ in history(s, "anna")] == [("earn", 20), ("promo", 50), ("refund", -17), ("refund", -53)]
    assert s.json("promo", "show", "BONUS50")["uses"] == 1
    clean(s)


def test_full_refund_of_a_bonus_order_after_the_bonus_was_spent(make_shop):
    s = make_shop(programme("""
        [redemption]
        point_value = "0.01"
        """))
    enroll(s, "anna")
    create(s, "BONUS50", "--points", "50")
    buy(s, "anna", "10.00", "2026-02-01", "--order", "A1", "--code", "BONUS50")  # 10 + 50
    s.run("redeem", "anna", "60", "--date", "2026-02-02")
    r = s.json("refund", "A1", "--date", "2026-02-03")
    # all 60 taken back although spent: the balance goes to -60 and later earnings pay it back
    assert (r["points_taken_back"], r["points"]) == (60, -60)
    assert buy(s, "anna", "100.00", "2026-02-04")["points"] == 40
    clean(s)


def test_refund_of_a_discounted_order_takes_back_what_the_net_earned(t):
    enroll(t, "anna")
    make_gold(t, "anna")  # 500 points
    create(t, "TEN", "--percent", "10")
    # 10% of 40.00 = 4.00 -> 36.00 x 2 = 72
    buy(t, "anna", "40.00", "2026-02-01", "--order", "A1", "--code", "TEN")
    # half of it: 72 / 2 = 36
    r = t.json("refund", "A1", "--amount", "20.00", "--date", "2026-02-02")
    assert (r["points_taken_back"], r["points"]) == (36, 536)
    clean(t)


# ---------------------------------------------------------------------------
# back-dated purchases (a till's sales typed in later, or imported)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("max_uses", [1, 2])
def test_max_uses_counts_uses_recorded_on_later_days_too(s, max_uses):
    """A single-use code is used at most once and max_uses is never exceeded:
    uses dated after a back-dated purchase still count."""
    for m in ("anna", "bob", "carl"):
        enroll(s, m)
    create(s, "LIMITED", "--points", "5", "--max-uses", str(max_uses))
    for day, m in zip(range(1, max_uses + 1), ("anna", "bob")):
        buy(s, m, "10.00", f"2026-03-{day:02d}", "--code", "LIMITED")
    refused(s, "purchase", "carl", "10.00", "--date", "2026-02-01", "--code", "LIMITED", contains="used up")
    assert s.json("promo", "show", "LIMITED")["uses"] == max_uses
    clean(s)


def test_per_member_counts_uses_recorded_on_later_days_too(s):
    enroll(s, "anna")
    create(s, "ONEEACH", "--points", "5", "--per-member", "1")
    buy(s, "anna", "10.00", "2026-03-01", "--code", "ONEEACH")
    refused(s, "purchase", "anna", "10.00", "--date", "2026-02-01", "--code", "ONEEACH", contains="per member")
    clean(s)


def test_first_purchase_means_no_earlier_purchase(s):
    """--first-purchase: the member has no purchase before this one. A sale
    typed in later for an earlier day, before any other, is a first purchase."""
    enroll(s, "anna")
    create(s, "WELCOME", "--points", "20", "--first-purchase")
    buy(s, "anna", "10.00", "2026-03-01", "--order", "later")
    r = buy(s, "anna", "10.00", "2026-02-01", "--order", "first", "--code", "WELCOME")
    assert (r["points_earned"], r["bonus_points"], r["points"]) == (10, 20, 40)
    clean(s)


def test_count_1_still_prints_a_list_in_json(s):
    doc = s.json("promo", "create", "--count", "1", "--points", "5")
    assert list(doc) == ["code"] and len(doc["code"]) == 1 and GENERATED.fullmatch(doc["code"][0]["code"])
