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



def _stores_history(shop):
    """Three members at two stores, a purchase without a store and two late
    small stores whose names sort otherwise by a collation than by code point.
    The base programme: a point per euro (rounded down), a point worth 0.01."""
    for m in ("anna", "bob", "cara"):
        shop.run("enroll", m, "--name", m.title(), "--date", "2026-01-01")
    shop.run("promo", "create", "BONUS", "--points", "7", "--date", "2026-01-01")
    for args in (("anna", "10.00", "--order", "A1", "--store", "Kesklinn", "--date", "2026-01-05"),
                 ("bob", "30.00", "--order", "B1", "--store", "Old Town", "--date", "2026-01-06"),
                 ("cara", "5.00", "--order", "C1", "--date", "2026-01-07"),
                 ("anna", "20.00", "--order", "A2", "--store", "Kesklinn", "--date", "2026-02-05"),
                 ("bob", "4.00", "--order", "B2", "--store", "Old Town", "--code", "BONUS", "--date", "2026-02-06"),
                 ("anna", "3.00", "--order", "A3", "--store", "Kesklinn", "--redeem", "20", "--date", "2026-02-07"),
                 ("cara", "1.00", "--order", "D1", "--store", "kiosk", "--date", "2026-03-01"),
                 ("cara", "1.00", "--order", "D2", "--store", "Ämari", "--date", "2026-03-02")):
        shop.run("purchase", *args)
    shop.run("refund", "A2", "--amount", "5.00", "--date", "2026-02-10")  # 5 of A2's 20 points back
    shop.run("refund", "A3", "--date", "2026-02-12")  # its 2 points back, its 20 redeemed points restored


def _row(store, purchases, sales, active, repeat, rate, issued, redeemed, back, share, paid="0.00"):
    return {"store": store, "purchases": purchases, "sales": sales, "discounts": "0.00", "paid_with_points": paid,
            "active_members": active, "repeat_members": repeat, "repeat_rate": rate, "points_issued": issued,
            "points_redeemed": redeemed, "points_taken_back": back, "sales_share": share}


@pytest.mark.backends("sqlite", "postgresql")
@pytest.mark.pg_full
def test_report_by_store_hand_computed_the_same_on_both_backends_and_summing_to_the_report(shop):
    _stores_history(shop)
    # Kesklinn: 10 + 20 + 3 rung up, 5 + 3 refunded = 25.00; points 10 + 20 + 2 issued, 20 redeemed and
    # restored, 5 + 2 taken back. Old Town: 30 + 4 = 34.00, points 30 + 4 + 7 (BONUS). Sales 66.00 in all.
    # Sorted by code point: "Kesklinn" < "Old Town" < "kiosk" < "Ämari", purchases without a store last.
    rows = shop.json("report", "--by", "store", "--as-of", "2026-03-31")
    assert rows == [
        _row("Kesklinn", 3, "25.00", 1, 1, "1.0000", 32, 0, 7, "0.3788", paid="0.20"),
        _row("Old Town", 2, "34.00", 1, 1, "1.0000", 41, 0, 0, "0.5152"),
        _row("kiosk", 1, "1.00", 1, 0, "0.0000", 1, 0, 0, "0.0152"),
        _row("Ämari", 1, "1.00", 1, 0, "0.0000", 1, 0, 0, "0.0152"),
        _row(None, 1, "5.00", 1, 0, "0.0000", 5, 0, 0, "0.0758"),
    ]
    whole = shop.json("report", "--as-of", "2026-03-31")
    for key in ("purchases", "points_taken_back", "points_redeemed", "points_issued"):
        assert sum(r[key] for r in rows) == whole[key], key  # no welcome, award or birthday points here
    assert whole["sales"] == "66.00" and whole["paid_with_points"] == "0.20"
    # February only: the stores known by then, the one with no sale in it at 0; a refund counts when made
    feb = shop.json("report", "--by", "store", "--since", "2026-02-01", "--until", "2026-02-28")
    assert feb == [
        _row("Kesklinn", 2, "15.00", 1, 1, "1.0000", 22, 0, 7, "0.7895", paid="0.20"),
        _row("Old Town", 1, "4.00", 1, 0, "0.0000", 11, 0, 0, "0.2105"),
        _row(None, 0, "0.00", 0, 0, None, 0, 0, 0, "0.0000"),
    ]


def test_report_store_gives_one_stores_figures_and_months_and_no_programme_wide_ones(shop):
    _stores_history(shop)
    r = shop.json("report", "--store", " Kesklinn", "--as-of", "2026-03-31")
    assert r == {"store": "Kesklinn", "since": None, "until": "2026-03-31T23:59:59",
                 **{k: v for k, v in _row("Kesklinn", 3, "25.00", 1, 1, "1.0000", 32, 0, 7, "0.3788",
                                          paid="0.20").items() if k != "store"},
                 "months": [{"month": "2026-01", "purchases": 1, "sales": "10.00", "points_issued": 10,
                             "points_redeemed": 0},
                            {"month": "2026-02", "purchases": 2, "sales": "15.00", "points_issued": 22,
                             "points_redeemed": 0}]}
    assert "liability" not in r and "members" not in r
    table = shop.run("report", "--store", "Kesklinn", "--as-of", "2026-03-31").stdout
    assert "store Kesklinn" in table and "programme-wide" in table
    assert shop.json("report", "--by", "store", "--store", "kiosk", "--as-of", "2026-03-31") == [
        _row("kiosk", 1, "1.00", 1, 0, "0.0000", 1, 0, 0, "0.0152")]
    table = shop.run("report", "--by", "store", "--as-of", "2026-03-31").stdout
    assert table.splitlines()[-1].startswith("(none) ") and "39.4%" not in table and "37.9%" in table
    lines = shop.run("report", "--by", "store", "--as-of", "2026-03-31", "--format", "csv").stdout.splitlines()
    assert lines[0].startswith("store,purchases,sales,share,") and lines[-1].startswith(",1,5.00,0.0758,")


def test_report_store_refusals(shop):
    _stores_history(shop)
    shop.fail("report", "--store", "Nowhere", contains="no purchase was rung up at store 'Nowhere' "
                                                      "(stores: Kesklinn, Old Town, kiosk, Ämari)")
    shop.fail("report", "--store", "a\x07", contains="--store holds a control character")
    shop.fail("report", "--by", "till", code=2, contains="'till' is not 'store'")
    shop.fail("report", "--store", "kiosk", "--shop-sales", "100.00", code=2,
              contains="--shop-sales goes with the programme's report")
    shop.fail("report", "--by", "store", "--lapsed-days", "30", code=2, contains="--lapsed-days goes with")


def test_balance_store_lists_who_bought_there_by_then_with_their_programme_wide_points(shop):
    _stores_history(shop)
    def ids(*args):
        return [(b["member"], b["points"]) for b in shop.json("balance", *args)]
    # anna: 10 + 20 + 2 earned, 20 redeemed, 5 + 2 taken back, 20 restored = 25; cara 5 + 1 + 1 anywhere
    assert ids("--store", "Kesklinn", "--as-of", "2026-03-31") == [("anna", 25)]
    assert ids("--store", "kiosk", "--as-of", "2026-03-31") == [("cara", 7)]
    assert ids("--store", "kiosk", "--as-of", "2026-02-28") == []  # her kiosk purchase is of March
    assert len(ids("--as-of", "2026-03-31")) == 3
    shop.fail("balance", "anna", "--store", "Kesklinn", contains="name no member with it")
    shop.fail("balance", "--store", "Nowhere", contains="no purchase was rung up at store 'Nowhere'")


def test_show_names_a_members_usual_store(shop):
    _stores_history(shop)
    shop.run("enroll", "dan", "--name", "Dan", "--date", "2026-01-01")

    def usual(member, as_of):
        return shop.json("show", member, "--as-of", as_of)["usual_store"]

    assert usual("anna", "2026-03-31") == "Kesklinn"
    # cara: once without a store, once at kiosk (1 March), once at Ämari (2 March): of a tie, the latest
    assert (usual("cara", "2026-03-01"), usual("cara", "2026-03-31")) == ("kiosk", "Ämari")
    assert usual("cara", "2026-02-28") is None and usual("dan", "2026-03-31") is None
    assert "usual store     Kesklinn" in shop.run("show", "anna", "--as-of", "2026-03-31").stdout
    assert "usual store" not in shop.run("show", "dan", "--as-of", "2026-03-31").stdout
