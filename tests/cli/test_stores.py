"""Several stores and tills (issue 16): a purchase's --store and --till, the
import's store and till columns, `export purchases --store`, and the report
per store (`report --store S`, `report --by store`), on both backends where
the figures are sums the database makes."""

import json

import pytest


def test_a_purchase_keeps_its_store_and_till_trimmed_and_shows_them(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    r = shop.json("purchase", "anna", "12.50", "--order", "A1", "--store", "  Old   Town ", "--till", " 2 ",
                  "--date", "2026-01-02")
    assert (r["store"], r["till"], r["points_earned"]) == ("Old Town", "2", 12)
    r = shop.json("purchase", "anna", "1.00", "--order", "A2", "--date", "2026-01-02")
    assert (r["store"], r["till"]) == (None, None)
    table = shop.run("purchase", "anna", "2.00", "--store", "Kesklinn", "--date", "2026-01-02").stdout
    assert "Store" in table and "Kesklinn" in table
    assert "Store" not in shop.run("purchase", "anna", "2.00", "--date", "2026-01-02").stdout
    assert shop.sql("SELECT order_id, store, till FROM purchases ORDER BY id")[:2] == [
        ("A1", "Old Town", "2"), ("A2", None, None)]


def test_the_environment_gives_a_tills_store_and_till_and_an_option_wins(shop, monkeypatch):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    monkeypatch.setenv("LOYALTY_STORE", "Kesklinn")
    monkeypatch.setenv("LOYALTY_TILL", "3")
    r = shop.json("purchase", "anna", "1.00", "--date", "2026-01-02")
    assert (r["store"], r["till"]) == ("Kesklinn", "3")
    r = shop.json("purchase", "anna", "1.00", "--store", "Mustamäe", "--date", "2026-01-02")
    assert (r["store"], r["till"]) == ("Mustamäe", "3")


@pytest.mark.parametrize(("value", "message"), [
    ("a\tb", "Error: --store holds a control character (U+0009)"),
    ("a\x1b[31m", "Error: --store holds a control character (U+001B"),
    ("   ", "Error: --store must not be empty"),
    ("x" * 65, "Error: --store is longer than 64 characters"),
])
def test_a_bad_store_is_refused_and_nothing_is_written(shop, value, message):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    before = shop.snapshot()
    r = shop.fail("purchase", "anna", "1.00", "--store", value, "--date", "2026-01-02")
    assert r.stderr.startswith(message) and r.stderr.count("\n") == 1, r.stderr
    r = shop.fail("purchase", "anna", "1.00", "--till", value, "--date", "2026-01-02")
    assert r.stderr.startswith(message.replace("--store", "--till")), r.stderr
    assert shop.snapshot() == before


def test_the_python_api_takes_store_and_till(shop):
    from loyalty_cli import open_ledger

    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    with open_ledger(shop.config) as ledger:
        sale = ledger.purchase("anna", "5.00", order="X1", store="Kesklinn", till="1", date="2026-01-02")
        with pytest.raises(Exception, match="must be"):
            ledger.purchase("anna", "5.00", store=7, date="2026-01-02")  # type: ignore[arg-type]
    assert (sale.store, sale.till, sale.to_json()["store"]) == ("Kesklinn", "1", "Kesklinn")


ORDERS = """member,amount,date,order,store,till
anna,10.00,2026-01-03,A1,Kesklinn,1
anna,,,A1,,
anna,5.00,2026-01-04,A2,,
bob,7.00,2026-01-04,,Old  Town,
"""


def _two(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    shop.run("enroll", "bob", "--name", "Bob", "--date", "2026-01-01")


def _exported(shop, *args):
    return [(p["order"][:4], p["store"], p["till"]) for p in json.loads(
        shop.run("export", "purchases", "--format", "json", *args).stdout)]


def test_import_reads_store_and_till_columns_and_store_fills_the_rest(shop, tmp_path):
    _two(shop)
    f = tmp_path / "orders.csv"
    f.write_text(ORDERS)
    r = shop.json("import", "purchases", f, "--store", "Web")
    assert (r["added"], r["merged"]) == (3, 1)
    # an order takes the first store its rows give; --store only the orders none of whose rows gives one
    assert _exported(shop) == [("A1", "Kesklinn", "1"), ("A2", "Web", None), ("csv-", "Old Town", None)]
    # the same file again: nothing new, with or without --store; the order id (or content) is the key
    assert shop.json("import", "purchases", f)["skipped"] == 3
    assert shop.json("import", "purchases", f, "--store", "Web")["skipped"] == 3


def test_import_refuses_an_order_recorded_at_another_store_or_a_bad_store_cell(shop, tmp_path):
    _two(shop)
    f = tmp_path / "orders.csv"
    f.write_text(ORDERS)
    shop.run("import", "purchases", f, "--store", "Web")
    before = shop.snapshot()
    r = shop.invoke("import", "purchases", f, "--store", "Other")
    assert r.exit_code == 1 and "line 4 (order): order A2 is already in the ledger with other content (member anna, 5.00, " \
           "2026-01-04, store Web)" in r.stderr, r.stderr
    g = tmp_path / "bad.csv"
    g.write_text('member,amount,date,order,store\nanna,1.00,2026-01-05,B1,"a\nb"\n'
                 "anna,1.00,2026-01-05,B2,Kesklinn\nanna,,,B2,Mustamäe\n")
    r = shop.invoke("import", "purchases", g)
    assert r.exit_code == 1 and "line 2 (store): holds a control character (U+000A)" in r.stderr, r.stderr
    assert "order B2 appears on line 4 with other content: store Kesklinn there, Mustamäe here" in r.stderr
    assert shop.snapshot() == before


def test_import_maps_a_shops_location_column_to_store_on_the_fast_and_exact_paths(shop, tmp_path):
    _two(shop)
    shop.run("promo", "create", "TEN", "--percent", "10", "--date", "2026-01-01")
    f = tmp_path / "shop.csv"
    f.write_text("Email,Total,Day,Location,Code\nanna,10.00,2026-01-03,Kesklinn,\nbob,20.00,2026-01-03,Web,TEN\n")
    shop.run("import", "purchases", f, "--map", "member=Email", "--map", "amount=Total", "--map", "date=Day",
             "--map", "store=Location")  # bob's code takes the exact path, anna's row the fast one
    assert sorted(shop.sql("SELECT member_id, store FROM purchases")) == [("anna", "Kesklinn"), ("bob", "Web")]


def test_export_purchases_has_store_and_till_and_filters_by_store(shop):
    _two(shop)
    shop.run("purchase", "anna", "1.00", "--order", "A1", "--store", "Kesklinn", "--till", "1",
             "--date", "2026-01-02")
    shop.run("purchase", "bob", "2.00", "--order", "B1", "--date", "2026-01-02")
    csv_text = shop.run("export", "purchases").stdout.splitlines()
    assert csv_text[0].endswith(",refunded,store,till") and csv_text[1].endswith(",0.00,Kesklinn,1")
    assert csv_text[2].endswith(",0.00,,")
    assert _exported(shop, "--store", " Kesklinn ") == [("A1", "Kesklinn", "1")]
    assert _exported(shop, "--store", "Nowhere") == []
    r = shop.fail("export", "ledger", "--store", "Kesklinn", code=2)
    assert "--store goes with `export purchases`" in r.stderr

