"""One long scenario on both backends: the same commands on an SQLite file and
on a PostgreSQL database give the same JSON, byte for byte (issue 16: "same
answers on both"). Every kind of write is in it (enrolments with generated and
given ids, purchases with codes and points, refunds, redemptions, awards,
adjustments, a referral, the daily run with expiry and birthdays) and every
read (report, balance, history, tiers, members, show, export).

Member ids are chosen so that a server's collation would order them otherwise
than the ledger does (by code point: "1004" < "Bob" < "Cleo" < "anna"; the
suite's PostgreSQL sorts by ICU en-US, where "1004" < "anna" < "Bob" < "Cleo"):
lists come in the ledger's order on both. What is the wall clock's or chance's
own (when a row was recorded, the chain hashes over it, the generated referral
code) is masked; everything else is compared as printed.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest

from tests import pg
from tests.conftest import Shop, clean, programme

PROGRAMME = programme("""
    [earning]
    points_per_unit = 1
    welcome_bonus = 10
    birthday_bonus = 25

    [earning.actions]
    review = { points = 20, limit = 1, per = "year" }

    [redemption]
    point_value = "0.01"

    [[rewards]]
    name = "Free coffee"
    points = 50

    [expiry]
    days = 90

    [tiers]
    basis = "spend"

    [[tiers.levels]]
    name = "Bronze"
    min = "0"

    [[tiers.levels]]
    name = "Silver"
    min = "100"
    multiplier = 1.5
    discount_percent = 5

    [referral]
    referrer_points = 200
    referee_points = 100
    min_purchase = "20"
""")

# (arguments, whether the command takes --format json); every one must succeed
SCENARIO: list[tuple[str, ...]] = [
    ("enroll", "anna", "--name", "Anna Tamm", "--email", "anna@example.com", "--birthday", "1990-03-10",
     "--date", "2026-01-05"),
    ("enroll", "Bob", "--name", "Bob Berg", "--birthday", "1985-03-11", "--date", "2026-01-05"),
    ("enroll", "Cleo", "--name", "Cleo", "--phone", "+372 5555 1234", "--date", "2026-01-06"),
    ("enroll", "--name", "Generated Id", "--date", "2026-01-06"),  # 1004
    ("enroll", "dan-2", "--name", "Dan Two", "--date", "2026-01-07"),
    ("enroll", "dan.1", "--name", "Dan One", "--date", "2026-01-07"),
    ("promo", "create", "TENOFF", "--percent", "10", "--date", "2026-01-07"),
    ("promo", "create", "BONUS", "--points", "30", "--max-uses", "1", "--date", "2026-01-07"),
    ("promo", "create", "FIVE", "--amount", "5.00", "--min-purchase", "20.00", "--date", "2026-01-07"),
    ("purchase", "anna", "80.00", "--order", "A1", "--code", "tenoff", "--date", "2026-01-10"),
    ("purchase", "Bob", "45.50", "--order", "B1", "--code", "BONUS", "--date", "2026-01-11"),
    ("purchase", "Cleo", "12.00", "--date", "2026-01-12"),  # a generated order id
    ("purchase", "anna", "60.00", "--order", "A2", "--date", "2026-01-20"),  # Silver from here (72 + 60)
    ("purchase", "dan-2", "30.00", "--order", "D2", "--code", "FIVE", "--date", "2026-01-21"),
    ("purchase", "1004", "9.99", "--order", "G1", "--date", "2026-01-22"),
    ("refund", "A1", "--amount", "20.00", "--date", "2026-01-25"),
    ("refund", "D2", "--date", "2026-01-26"),
    ("redeem", "anna", "--reward", "Free coffee", "--date", "2026-02-01"),
    ("redeem", "Bob", "40", "--date", "2026-02-02"),
    ("award", "Cleo", "review", "--date", "2026-02-03"),
    ("adjust", "dan.1", "15", "--reason", "goodwill", "--date", "2026-02-04"),
    ("adjust", "Bob", "-5", "--reason", "correction", "--date", "2026-02-04"),
    ("referral", "anna"),
    ("enroll", "erik", "--name", "Erik", "--referral", "<referral code>", "--date", "2026-02-05"),
    ("purchase", "erik", "25.00", "--order", "E1", "--date", "2026-02-06"),
    ("purchase", "anna", "30.00", "--order", "A3", "--redeem", "100", "--date", "2026-02-07"),
    ("daily", "--as-of", "2026-03-15"),
    ("daily", "--as-of", "2026-05-01"),  # expiry of January's points
    ("purchase", "Bob", "15.00", "--order", "B2", "--date", "2026-05-02"),
    ("refund", "B2", "--date", "2026-05-03"),
    ("report", "--as-of", "2026-06-01"),
    ("report", "--since", "2026-01-01", "--until", "2026-01-31"),
    ("balance", "--as-of", "2026-06-01"),
    ("balance", "anna", "Bob", "Cleo", "--as-of", "2026-06-01"),
    ("history", "anna"),
    ("history", "Bob", "--since", "2026-02-01"),
    ("tiers", "--as-of", "2026-06-01"),
    ("members",),
    ("members", "--tier", "Silver"),
    ("members", "--search", "dan"),
    ("show", "anna", "--as-of", "2026-06-01"),
    ("show", "Bob", "--as-of", "2026-02-10"),
    ("promo", "list"),
    ("promo", "show", "BONUS"),
    ("expiring", "--as-of", "2026-04-01"),
    ("lapsed", "--as-of", "2026-06-01"),
    ("export", "ledger"),
    ("export", "members"),
    ("export", "purchases", "--since", "2026-01-15"),
]

WALL_CLOCK = {"recorded_at", "hash", "created_at", "head"}  # stamped by the clock, or hashed over such a stamp


def _masked(doc, code: str):
    if isinstance(doc, dict):
        return {k: "<now>" if k in WALL_CLOCK and v is not None else _masked(v, code) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_masked(v, code) for v in doc]
    if isinstance(doc, str):
        return doc.replace(code, "<referral code>") if code else doc
    return doc


def _play(shop: Shop) -> list:
    out, code = [], ""
    for args in SCENARIO:
        args = tuple(code if a == "<referral code>" else a for a in args)
        r = shop.invoke(*args, "--format", "json")
        assert r.exit_code == 0, f"{shop.backend}: loyalty {' '.join(args)} -> {r.exit_code}\n{r.stderr}"
        doc = json.loads(r.stdout)
        if args[0] == "referral":
            code = doc["code"]
        out.append((args[0], _masked(doc, code), _masked(r.stderr, code)))
    clean(shop)
    return out


@pytest.mark.postgresql  # it needs both; without a server it is skipped, with the reason
def test_one_long_scenario_prints_the_same_on_sqlite_and_postgresql(tmp_path):
    pg.require()
    lite_folder, pg_folder = tmp_path / "sqlite", tmp_path / "postgresql"
    lite_folder.mkdir()
    pg_folder.mkdir()
    lite = _play(Shop(lite_folder, PROGRAMME, "sqlite"))
    post = _play(Shop(pg_folder, PROGRAMME, "postgresql"))
    for (cmd, a, a_err), (_, b, b_err), args in zip(lite, post, SCENARIO):
        assert b == a, f"loyalty {' '.join(args)}: PostgreSQL printed otherwise than SQLite"
        assert re.sub(r"/\S+|postgresql\S+", "<ledger>", b_err) == re.sub(r"/\S+", "<ledger>", a_err), cmd
    # the lists are in the ledger's order (code points), not the server's collation
    balance = dict(zip(SCENARIO, lite))[("balance", "--as-of", "2026-06-01")][1]
    ids = [row["member"] for row in balance]
    assert ids == sorted(ids) == ["1004", "Bob", "Cleo", "anna", "dan-2", "dan.1", "erik"]


@pytest.mark.backends("sqlite", "postgresql")
def test_a_unique_key_the_database_refuses_is_a_one_line_refusal(shop):
    """What the write lock keeps from happening, should it happen anyway (a
    writer outside loyalty): the database's own refusal of a duplicate key is
    a LedgerError of one line, never the driver's raw text."""
    from sqlalchemy import insert

    from loyalty_cli.errors import LedgerError
    from loyalty_cli.store import db, models

    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-05")
    engine = db.engine_for(shop.url)
    try:
        with pytest.raises(LedgerError) as refused, db.transaction(engine, write=True) as conn:
            conn.execute(insert(models.members).values(id="anna", name="Again", enrolled_at=datetime(2026, 1, 6),
                                                       points=0, marketing=False))
    finally:
        engine.dispose()
    message = str(refused.value)
    assert "already holds that record" in message and "nothing was written" in message
    assert "\n" not in message and "DETAIL" not in message


@pytest.mark.backends("sqlite", "postgresql")
def test_a_ledger_holding_another_applications_table_is_refused(shop):
    """The ledger's own tables are found in the catalog on both backends (on
    PostgreSQL without SQLAlchemy's reflection): a stranger among them is named."""
    shop.sql("CREATE TABLE invoices (n INTEGER)")
    shop.fail("balance", contains="it has tables invoices, which are not loyalty's")
