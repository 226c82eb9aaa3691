"""A real web shop's export through the real CLI: Shopify's orders CSV (one
row per line item, the total on each order's first row, pending, refunded and
voided orders), --where, --decimal-comma, a name made of two columns, UTF-16
by its BOM; and --rejects, which never overwrites what the import reads or
writes and is written only once the import is recorded."""

import csv
import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.backends("sqlite", "postgresql"), pytest.mark.pg_full]  # PostgreSQL: the whole run

EXPORT = Path(__file__).resolve().parents[1] / "data" / "shopify_orders.csv"

# The README's recipe ("Importing a Shopify export"), word for word.
RECIPE = ["import", "purchases", str(EXPORT), "--map", "member=Email", "--map", "amount=Total", "--map", "order=Name",
          "--map", "date=Created at", "--map", "name=Billing Name", "--where", "Financial Status=paid",
          "--create-members"]


def test_the_readme_recipe_imports_the_paid_orders_once(shop):
    r = shop.json(*RECIPE)
    # 12 rows: #1001, #1002, #1006 paid (3 orders); the line-item rows after an order's first carry no
    # Financial Status, so --where leaves them out with the pending, refunded, voided and partly refunded orders
    assert r == {"read": 12, "added": 3, "skipped": 0, "rejected": 0, "created_members": 2, "merged": 0,
                 "not_selected": 9, "amount_on_several_rows": 0, "dry_run": False}
    assert shop.sql("SELECT order_id, amount, discount, net, points_earned FROM purchases ORDER BY order_id") == [
        ("#1001", 4240, 0, 4240, 42), ("#1002", 1890, 0, 1890, 18), ("#1006", 6520, 0, 6520, 65)]
    people = {m["email"]: m for m in shop.json("members")}
    assert set(people) == {"anna@example.com", "bob@example.com"}  # BOB@example.com on #1006 is bob
    assert (people["anna@example.com"]["name"], people["bob@example.com"]["name"]) == ("Anna Tamm", "Bob Kask")
    assert shop.sql("SELECT at FROM purchases WHERE order_id = '#1001'") == [("2026-03-02 10:15:22.000000",)]
    again = shop.json(*RECIPE)  # the same export again (or a later one that includes it): nothing twice
    assert (again["added"], again["skipped"], again["created_members"]) == (0, 3, 0)
    assert shop.sql("SELECT count(*) FROM purchases") == [(3,)]
    assert shop.run("check").stdout == ""


def test_the_rows_of_an_order_merge_into_one_purchase_with_the_first_total(shop):
    """Without --where every order is imported: 12 rows, 7 orders, 5 line-item
    rows merged into their order's first row."""
    r = shop.json(*[a for a in RECIPE if a not in ("--where", "Financial Status=paid")])
    assert (r["read"], r["added"], r["merged"], r["created_members"]) == (12, 7, 5, 5)
    assert shop.sql("SELECT order_id, amount FROM purchases ORDER BY order_id") == [
        ("#1001", 4240), ("#1002", 1890), ("#1003", 950), ("#1004", 3100), ("#1005", 4800), ("#1006", 6520),
        ("#1007", 2500)]


def test_where_one_column_twice_is_either_value_several_columns_must_all_hold(shop):
    both = shop.json(*RECIPE, "--where", "Financial Status=partially_refunded", "--dry-run")
    assert both["added"] == 4  # paid or partially refunded
    narrow = shop.json(*RECIPE, "--where", "fulfillment status=FULFILLED", "--dry-run")  # names and values: any case
    assert narrow["added"] == 2  # paid and fulfilled: #1001, #1002 (#1006 is partial)
    r = shop.fail(*RECIPE, "--where", "Status=paid", contains="no column 'Status' (columns: Name, Email, Financial")
    assert "Traceback" not in r.stderr


def test_a_decimal_comma_file_with_semicolons(shop, tmp_path):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    f = tmp_path / "kassa.csv"
    f.write_text("member;amount;date;order\nanna;12,50;2026-01-02;K1\nanna;3;2026-01-03;K2\n")
    before = shop.snapshot()
    r = shop.invoke("import", "purchases", f, "--delimiter", ";")
    assert r.exit_code == 1 and "line 2 (amount): '12,50' is not an amount" in r.stderr
    assert "(--decimal-comma reads 12,50)" in r.stderr
    assert shop.snapshot() == before
    r = shop.json("import", "purchases", f, "--decimal-comma")  # ';' found in the header line
    assert r["added"] == 2
    assert shop.sql("SELECT order_id, amount FROM purchases ORDER BY order_id") == [("K1", 1250), ("K2", 300)]
    g = tmp_path / "quoted.csv"  # with a ',' delimiter a decimal comma needs quotes
    g.write_text('member,amount,date,order\nanna,"7,05",2026-01-04,K3\n')
    assert shop.json("import", "purchases", g, "--decimal-comma")["added"] == 1
    assert shop.sql("SELECT amount FROM purchases WHERE order_id = 'K3'") == [(705,)]


def test_import_members_builds_the_name_from_several_columns(shop, tmp_path):
    f = tmp_path / "customers.csv"
    f.write_text("Customer ID,First Name,Last Name,Email,Accepts Email Marketing\n"
                 "c1,Anna,Tamm,anna@example.com,yes\nc2,Bob,,bob@example.com,no\nc3, , Kask ,kask@example.com,no\n")
    r = shop.json("import", "members", f, "--map", "member=Customer ID", "--map", "name=First Name+Last Name",
                  "--map", "marketing=Accepts Email Marketing")
    assert r["added"] == 3
    assert {m["member"]: m["name"] for m in shop.json("members")} == {"c1": "Anna Tamm", "c2": "Bob", "c3": "Kask"}
    shop.fail("import", "members", f, "--map", "name=First Name+Surname", contains="no column 'Surname'")


def test_a_utf16_file_is_read_by_its_bom_and_utf8_with_a_bom_still_is(shop, tmp_path):
    shop.run("enroll", "jose", "--name", "José", "--date", "2026-01-01")
    for n, (name, encoding) in enumerate((("u16.csv", "utf-16"), ("u16be.csv", "utf-16-be"), ("u8.csv", "utf-8-sig"),
                                          ("u32.csv", "utf-32"))):
        text = f"member,amount,date,order,märkus\njose,1.00,2026-01-0{n + 2},E{n},café\n"
        f = tmp_path / name
        f.write_bytes(("\ufeff" + text).encode(encoding) if encoding == "utf-16-be" else text.encode(encoding))
        assert shop.json("import", "purchases", f)["added"] == 1, name
    r = shop.invoke("import", "purchases", "-", "--format", "json",
                    input="member,amount,date,order\njose,2.00,2026-01-09,E9\n".encode("utf-16"))
    assert r.exit_code == 0, r.stderr
    assert shop.sql("SELECT count(*) FROM purchases") == [(5,)]


@pytest.mark.process
def test_import_from_a_closed_stdin_is_a_one_line_error(shop):
    """`loyalty import purchases - 0<&-` (Python then has no sys.stdin), and a
    stdin whose descriptor was closed under a live sys.stdin."""
    import shlex
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    env["LOYALTY_CONFIG"] = str(shop.config)
    before = shop.snapshot()
    for kind in ("purchases", "members"):
        for argv in (["sh", "-c", f"{shlex.quote(sys.executable)} -m loyalty_cli import {kind} - 0<&-"],
                     [sys.executable, "-c", "import os, sys; os.close(0); sys.argv = ['loyalty', 'import', "
                      f"'{kind}', '-']; from loyalty_cli.cli import main; main()"]):
            p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
            assert p.returncode == 1, p.stderr
            assert p.stderr.splitlines() == ["Error: FILE is - but stdin is closed: pipe the CSV in, or name the file"]
    assert shop.snapshot() == before


# --- --rejects ------------------------------------------------------------------------

BAD = "member,amount,date,order\nanna,5.00,2026-01-02,A1\nzed,1.00,2026-01-02,A2\n"


def _shop_with_file(shop, tmp_path):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    f = tmp_path / "in.csv"
    f.write_text(BAD)
    return f


@pytest.mark.parametrize("target", ["ledger", "wal", "shm", "journal", "symlink-to-ledger", "hardlink-to-ledger",
                                    "symlink-to-wal", "programme", "symlink-to-programme", "input", "hardlink-to-input",
                                    "input-via-dots"])
@pytest.mark.sqlite_only("the ledger's own files: the SQLite file, its -wal, -shm and -journal, links to them")
def test_rejects_is_refused_when_it_is_the_ledger_its_side_files_the_programme_or_the_input(shop, tmp_path, target):
    f = _shop_with_file(shop, tmp_path)
    db, config = shop.db, shop.config
    paths = {"ledger": db, "wal": f"{db}-wal", "shm": f"{db}-shm", "journal": f"{db}-journal",
             "programme": config, "input": f, "input-via-dots": tmp_path / "x" / ".." / "in.csv"}
    (tmp_path / "x").mkdir()
    link = tmp_path / "link.csv"
    if target.startswith("symlink-to-"):
        link.symlink_to({"ledger": db, "wal": Path(f"{db}-wal"), "programme": config}[target[11:]])
        paths[target] = link
    elif target.startswith("hardlink-to-"):
        os.link({"ledger": db, "input": f}[target[12:]], link)
        paths[target] = link
    files = {p: p.read_bytes() for p in (db, config, f)}
    before = shop.snapshot()
    r = shop.fail("import", "purchases", f, "--skip-errors", "--rejects", paths[target], contains="--rejects")
    assert "name another file for the rejected rows" in r.stderr
    assert shop.snapshot() == before
    assert {p: p.read_bytes() for p in files} == files
    assert not Path(f"{db}-wal").exists() and not Path(f"{db}-journal").exists()
    shop.fail("import", "purchases", f, "--skip-errors", "--rejects", paths[target], "--dry-run")  # dry run too


def test_rejects_is_not_written_on_a_dry_run(shop, tmp_path):
    f = _shop_with_file(shop, tmp_path)
    new, old = tmp_path / "new.csv", tmp_path / "old.csv"
    old.write_text("kept\n")
    for target in (new, old):
        r = shop.json("import", "purchases", f, "--skip-errors", "--rejects", target, "--dry-run")
        assert (r["added"], r["rejected"], r["dry_run"]) == (1, 1, True)
    assert not new.exists() and old.read_text() == "kept\n"
    shop.run("import", "purchases", f, "--skip-errors", "--rejects", old)  # the real run writes it
    with open(old, newline="") as fh:
        assert [row["order"] for row in csv.DictReader(fh)] == ["A2"]


def test_a_rejects_file_that_cannot_be_opened_is_refused_before_anything_is_recorded(shop, tmp_path):
    f = _shop_with_file(shop, tmp_path)
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    before = shop.snapshot()
    shop.fail("import", "purchases", f, "--skip-errors", "--rejects", loop, contains="cannot write --rejects")
    assert shop.snapshot() == before
    # a file refused whole leaves no rejects file behind that it made
    made = tmp_path / "made.csv"
    g = tmp_path / "g.csv"
    g.write_text("member,date\nanna,2026-01-02\n")
    shop.fail("import", "purchases", g, "--skip-errors", "--rejects", made, contains="no 'amount' column")
    assert not made.exists()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_rejects_file_on_a_full_disk_says_the_import_was_recorded(shop, tmp_path):
    f = _shop_with_file(shop, tmp_path)
    r = shop.invoke("import", "purchases", f, "--skip-errors", "--rejects", "/dev/full")
    assert r.exit_code == 1
    *rejected, error = r.stderr.rstrip().splitlines()  # the rows the file could not take are named on stderr
    assert error == ("Error: could not write the rejects file (/dev/full: No space left on device); "
                     "the import was recorded: 1 added")
    assert rejected and all(line.startswith("  rejected line ") for line in rejected), r.stderr
    assert shop.sql("SELECT order_id FROM purchases") == [("A1",)]
    assert shop.run("check").stdout == ""


@pytest.mark.parametrize("encoding", ["idna", "utf_32_be", "punycode"])
def test_odd_text_encodings_never_crash_the_header_sniffing(shop, tmp_path, encoding):
    f = tmp_path / "p.csv"
    f.write_text("member;amount;date\nanna;1,50;2026-01-02\n")
    for extra in ([], ["--decimal-comma"]):
        r = shop.invoke("import", "purchases", f, "--encoding", encoding, *extra)
        assert r.exit_code in (0, 1) and "internal error" not in r.stderr and "Traceback" not in r.stderr, r.stderr
