"""`check` names the first row changed, added or removed outside loyalty in
any table, through the seals (loyalty_cli/store/seals.py), on both backends.

The tampering gets past the append-only triggers first (tests/cli/
test_check_chain.py's `_tamper`) and keeps the other checks' sums right
where it can, so what names the edit is the seal."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.cli.test_check_chain import _problems, _tamper
from tests.conftest import clean, copy_shop, programme, shop_template

pytestmark = [pytest.mark.backends("sqlite", "postgresql"), pytest.mark.pg_full]

PROGRAMME = programme("""
    [earning]
    points_per_unit = 1
    welcome_bonus = 10

    [redemption]
    point_value = "0.01"

    [tiers]
    basis = "spend"

    [[tiers.levels]]
    name = "Bronze"
    min = "0"

    [[tiers.levels]]
    name = "Silver"
    min = "100"

    [referral]
    referrer_points = 50
    referee_points = 20
""")


@pytest.fixture(scope="module")
def shop_template_(tmp_path_factory, backend):
    """A shop with a row in every sealed table (built once per backend)."""
    shop = shop_template(tmp_path_factory.mktemp("seals") / "shop", PROGRAMME, [
        ("enroll", "anna", "--name", "Anna", "--email", "anna@example.com", "--marketing", "--date", "2026-01-01"),
        ("enroll", "ben", "--name", "Ben", "--date", "2026-01-01"),
        ("promo", "create", "SPRING", "--points", "5", "--max-uses", "3", "--date", "2026-01-01"),
        ("purchase", "anna", "60.00", "--order", "A1", "--date", "2026-01-02"),
        ("purchase", "ben", "30.00", "--order", "B1", "--code", "spring", "--date", "2026-01-03"),
        ("purchase", "anna", "50.00", "--order", "A2", "--redeem", "40", "--date", "2026-01-04"),
        ("refund", "B1", "--amount", "10.00", "--date", "2026-01-05"),
        ("referral", "anna"),
        ("promo", "disable", "SPRING", "--yes", "--date", "2026-01-06"),
        ("daily", "--as-of", "2026-01-07"),
    ], backend)
    clean(shop)
    return shop.folder


@pytest.fixture
def shop(shop_template_, tmp_path):
    return copy_shop(shop_template_, tmp_path / "shop")


def _id(shop, table, where):
    return shop.sql(f"SELECT id FROM {table} WHERE {where}")[0][0]


def test_every_table_of_facts_is_sealed(shop):
    sealed = {t for (t,) in shop.sql("SELECT DISTINCT table_name FROM seals")}
    assert sealed == {"members", "purchases", "refunds", "allocations", "tier_changes", "promo_codes", "promo_uses",
                      "referral_codes", "consent_changes", "meta"}
    # each row has a seal, and a row loyalty changed (the promo code disabled) has two: the newest counts
    spring = _id(shop, "promo_codes", "code = 'SPRING'")
    assert len(shop.sql(f"SELECT id FROM seals WHERE table_name = 'promo_codes' AND row_key = '{spring}'")) == 2


def test_a_digest_is_the_documented_canonical_content(shop):
    """sha256 of the row's non-NULL columns as sorted, compact JSON: integers
    as integers, date-times as ISO 8601 with microseconds (written out here,
    independently of loyalty_cli/store/seals.py)."""
    (row,) = shop.sql("SELECT id, order_id, member_id, at, amount, discount, points_redeemed, points_paid, net, "
                      "points_earned, rounding, recorded_at FROM purchases WHERE order_id = 'A1'")
    names = ("id", "order_id", "member_id", "at", "amount", "discount", "points_redeemed", "points_paid", "net",
             "points_earned", "rounding", "recorded_at")
    values = dict(zip(names, row, strict=True))
    for k in ("at", "recorded_at"):
        v = values[k]
        values[k] = v.isoformat(timespec="microseconds") if not isinstance(v, str) else v.replace(" ", "T")
    body = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    want = hashlib.sha256(body.encode()).hexdigest()
    assert shop.sql(f"SELECT digest FROM seals WHERE table_name = 'purchases' AND row_key = '{row[0]}'") == [(want,)]


def test_a_purchase_whose_amount_was_raised_is_named(shop):
    """The issue's case: 60.00 made 90.00 (which would move anna to Silver)."""
    a1 = _id(shop, "purchases", "order_id = 'A1'")
    _tamper(shop, f"UPDATE purchases SET amount = 9000, net = 9000 WHERE id = {a1}")
    assert f"purchase {a1}: does not match its seal: the row was changed outside loyalty" in _problems(shop)


@pytest.mark.parametrize("table, where, change, noun", [
    ("purchases", "order_id = 'A2'", "points_redeemed = 30", "purchase"),
    ("refunds", "1 = 1", "amount = 2000", "refund"),
    ("promo_codes", "code = 'SPRING'", "max_uses = 1000", "promo code"),
    ("promo_codes", "code = 'SPRING'", "disabled_at = NULL", "promo code"),
    ("promo_uses", "1 = 1", "bonus_points = 500", "promo use"),
    ("tier_changes", "1 = 1", "to_tier = 'Gold'", "tier change"),
    ("allocations", "1 = 1", "points = points + 1", "allocation"),
    ("consent_changes", "1 = 1", "marketing = NOT marketing", "consent change"),
])
def test_a_changed_row_of_any_table_is_named(shop, table, where, change, noun):
    key = _id(shop, table, where)
    _tamper(shop, f"UPDATE {table} SET {change} WHERE id = {key}")
    assert f"{noun} {key}: does not match its seal: the row was changed outside loyalty" in _problems(shop)


def test_a_members_non_personal_fields_are_sealed_and_personal_data_is_not(shop):
    _tamper(shop, "UPDATE members SET name = 'Someone', email = 'someone@example.com' WHERE id = 'anna'")
    clean(shop)  # personal data is outside the seals
    _tamper(shop, "UPDATE members SET enrolled_at = '2025-01-01 00:00:00' WHERE id = 'anna'")
    assert "member anna: does not match its seal: the row was changed outside loyalty" in _problems(shop)


def test_edit_forget_and_disable_reseal_what_they_change(shop):
    shop.run("edit", "ben", "--marketing", "--email", "ben@example.com", "--date", "2026-01-08")
    shop.run("forget", "anna", "--yes")
    shop.run("promo", "create", "LATER", "--percent", "5", "--date", "2026-01-08")
    shop.run("promo", "disable", "LATER", "--yes", "--date", "2026-01-09")
    clean(shop)
    assert shop.sql("SELECT count(*) FROM seals WHERE table_name = 'members' AND row_key = 'anna'") == [(2,)]


def test_a_row_added_outside_loyalty_is_named(shop):
    _tamper(shop, "INSERT INTO tier_changes (id, member_id, at, from_tier, to_tier) "
                  "VALUES (900, 'ben', '2026-01-06 00:00:00', 'Bronze', 'Silver')")
    assert "tier change 900: has no seal: the row was added outside loyalty" in _problems(shop)


def test_a_row_removed_outside_loyalty_is_named(shop):
    refund = _id(shop, "refunds", "1 = 1")
    _tamper(shop, f"DELETE FROM refunds WHERE id = {refund}")
    assert (f"refund {refund}: is sealed but no longer in refunds: the row was removed outside loyalty"
            in _problems(shop))


def test_a_changed_seal_breaks_the_seals_chain(shop):
    (n,) = shop.sql("SELECT id FROM seals WHERE table_name = 'refunds'")[0]
    a1 = _id(shop, "purchases", "order_id = 'A1'")
    # the forger changes a purchase and puts its new digest in its seal, but cannot rehash what follows
    _tamper(shop, f"UPDATE purchases SET amount = 9000, net = 9000 WHERE id = {a1}")
    r = shop.invoke("check")
    assert f"purchase {a1}: does not match its seal" in r.stdout
    _tamper(shop, f"UPDATE seals SET digest = '{'0' * 64}' WHERE id = {n}")
    assert (f"seal {n}: hash does not match its content and the seal before it: the seal, or one before it, "
            "was changed outside loyalty (the seals' chain is broken from here)") in _problems(shop)


def test_the_seals_are_append_only(shop):
    for statement in ("UPDATE seals SET digest = 'x'", "DELETE FROM seals"):
        with pytest.raises(Exception, match="seals is append-only"):
            shop.sql(statement)
