"""What the database itself guarantees, whatever writes to it: 64-bit
amounts and points, CHECK constraints, append-only tables (triggers on
both backends), and the least-privilege grants of docs/postgresql.md."""

from __future__ import annotations

import pytest

from tests.conftest import clean

pytestmark = pytest.mark.backends("sqlite", "postgresql")


def test_amounts_and_points_beyond_32_bits(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2025-01-10")
    shop.run("purchase", "anna", "30000000.00", "--order", "BIG1", "--date", "2025-01-11")
    shop.run("adjust", "anna", "3000000000", "--reason", "beyond 2^31", "--date", "2025-01-12")
    assert shop.sql("SELECT amount, net FROM purchases WHERE order_id = 'BIG1'") == [(3_000_000_000, 3_000_000_000)]
    [member] = shop.json("balance", "anna", "--as-of", "2025-01-13")
    assert member["points"] > 2**31 and member["points"] == shop.sql("SELECT points FROM members")[0][0]
    clean(shop)


_PURCHASE = ("INSERT INTO purchases (order_id, member_id, at, amount, discount, points_redeemed, points_paid, net, "
             "points_earned, rounding, recorded_at) VALUES (?, 'anna', '2025-01-02 00:00:00', ?, ?, 0, ?, ?, 0, "
             "'floor', '2025-01-02 00:00:00')")


@pytest.mark.parametrize("statement, params, constraint", [
    (_PURCHASE, ("NEG", -100, 0, 0, -100), "ck_purchases_non_negative"),
    (_PURCHASE, ("DISC", 100, -5, 0, 105), "ck_purchases_non_negative"),
    (_PURCHASE, ("NET", 100, 10, 0, 100), "ck_purchases_net"),
    ("INSERT INTO refunds (purchase_id, at, amount, net, points, points_restored, recorded_at) "
     "SELECT id, at, 0, 0, 0, 0, at FROM purchases", (), "ck_refunds_amount_positive"),
    ("INSERT INTO refunds (purchase_id, at, amount, net, points, points_restored, recorded_at) "
     "SELECT id, at, 100, 100, -1, 0, at FROM purchases", (), "ck_refunds_non_negative"),
    ("INSERT INTO entries (id, member_id, at, kind, points, recorded_at) "
     "VALUES (99, 'anna', '2025-01-02 00:00:00', 'adjust', 0, '2025-01-02 00:00:00')", (), "ck_entries_points_nonzero"),
])
def test_check_constraints_refuse_what_can_never_hold(shop, statement, params, constraint):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2025-01-01")
    shop.run("purchase", "anna", "10.00", "--order", "P1", "--date", "2025-01-02")
    before = shop.snapshot()
    with pytest.raises(Exception, match=constraint):
        shop.sql(statement, *params)
    assert shop.snapshot() == before


@pytest.mark.parametrize("statement", [
    "UPDATE entries SET points = 1000", "DELETE FROM entries", "DELETE FROM allocations",
    "UPDATE purchases SET amount = 1", "DELETE FROM schema_version", "UPDATE consent_changes SET marketing = false",
    "UPDATE promo_codes SET max_uses = 5", "DELETE FROM promo_codes", "TRUNCATE entries CASCADE",
])
def test_append_only_tables_refuse_changes_on_both_backends(shop, statement):
    if statement.startswith("TRUNCATE") and shop.backend == "sqlite":
        pytest.skip("SQLite has no TRUNCATE")
    shop.run("enroll", "anna", "--name", "Anna", "--marketing", "--date", "2025-01-01")
    shop.run("purchase", "anna", "10.00", "--date", "2025-01-02")
    shop.run("redeem", "anna", "5", "--date", "2025-01-02")
    shop.run("promo", "create", "SPRING", "--percent", "10", "--date", "2025-01-02")
    before = shop.snapshot()
    with pytest.raises(Exception, match="append-only|never deleted"):
        shop.sql(statement.replace("false", "0") if shop.backend == "sqlite" else statement)
    assert shop.snapshot() == before


def test_what_loyalty_updates_still_works_and_a_refusal_is_one_line(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--email", "anna@example.com", "--date", "2025-01-01")
    shop.run("purchase", "anna", "10.00", "--date", "2025-01-02")
    shop.run("edit", "anna", "--name", "Anna Tamm", "--marketing", "--date", "2025-01-03")
    shop.run("promo", "create", "SPRING", "--percent", "10", "--date", "2025-01-02")
    shop.run("promo", "disable", "SPRING", "--yes", "--date", "2025-01-04")
    shop.run("daily", "--as-of", "2025-01-05")
    shop.run("forget", "anna", "--yes")
    clean(shop)
    assert shop.sql("SELECT name, email FROM members") == [(None, None)]


@pytest.mark.backends("postgresql")
def test_a_refusal_by_a_postgresql_trigger_is_the_usual_one_line_error(shop):
    from sqlalchemy import text

    from loyalty_cli.errors import LedgerError
    from loyalty_cli.store import db

    shop.run("enroll", "anna", "--name", "Anna", "--date", "2025-01-01")
    shop.run("purchase", "anna", "10.00", "--date", "2025-01-02")
    engine = db.engine_for(shop.url)
    try:
        with pytest.raises(LedgerError) as e, db.transaction(engine, write=True) as conn:
            conn.execute(text("DELETE FROM entries"))
    finally:
        engine.dispose()
    assert str(e.value) == f"refused by the ledger {db.describe(shop.url)}: entries is append-only"


def _grants() -> list[str]:
    """The statements of docs/postgresql.md's second SQL block under "Roles and grants"."""
    from pathlib import Path

    text = (Path(__file__).parent.parent.parent / "docs" / "postgresql.md").read_text(encoding="utf-8")
    section = text.split("## Roles and grants", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sql\n")[2].split("```", 1)[0]
    return [s.strip() for s in block.split(";") if s.strip()]


@pytest.mark.backends("postgresql")
def test_the_documented_grants_are_enough_for_a_till_and_no_more(shop):
    from sqlalchemy.engine import make_url

    from tests import pg

    database = pg.name_of(shop.url)
    role = f"till_{database}"
    pg.sql(shop.url, f'CREATE ROLE "{role}" LOGIN')
    try:
        for statement in _grants():
            pg.sql(shop.url, statement.replace("loyalty_till", f'"{role}"').replace("loyalty_shop", f'"{database}"'))
        till = make_url(shop.url).set(username=role).render_as_string(hide_password=False)
        shop.run("enroll", "anna", "--name", "Anna", "--date", "2025-01-01", "--db", till)
        shop.run("purchase", "anna", "40.00", "--order", "T1", "--date", "2025-01-02", "--db", till)
        shop.run("redeem", "anna", "10", "--date", "2025-01-03", "--db", till)
        shop.run("refund", "T1", "--amount", "5.00", "--date", "2025-01-04", "--db", till)
        shop.run("promo", "create", "SPRING", "--percent", "10", "--date", "2025-01-04", "--db", till)
        shop.run("purchase", "anna", "20.00", "--code", "SPRING", "--date", "2025-01-05", "--db", till)
        shop.run("promo", "disable", "SPRING", "--yes", "--date", "2025-01-06", "--db", till)
        shop.run("daily", "--as-of", "2025-01-07", "--db", till)
        shop.run("report", "--as-of", "2025-01-31", "--db", till)
        shop.run("check", "--db", till)
        for statement in ("DELETE FROM entries", "UPDATE purchases SET amount = 1", "TRUNCATE entries",
                          "UPDATE promo_codes SET max_uses = 9", "INSERT INTO schema_version VALUES (99, 'x', now())"):
            with pytest.raises(Exception, match="permission denied"):
                pg.sql(till, statement)
    finally:
        pg.sql(shop.url, f'DROP OWNED BY "{role}"')
        pg.sql(shop.url, f'DROP ROLE "{role}"')
