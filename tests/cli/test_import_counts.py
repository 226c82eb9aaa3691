"""Import: every row counted and rejected once, and the all-or-nothing error
names the same bad rows --skip-errors rejects (issue 14)."""

import csv
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import BASE_TOML

pytestmark = [pytest.mark.backends("sqlite", "postgresql"), pytest.mark.pg_full]  # PostgreSQL: the whole run


def test_a_row_that_cannot_be_enrolled_is_rejected_once(shop, tmp_path):
    shop.run("enroll", "bob", "--name", "Bob", "--date", "2026-01-01")
    f = tmp_path / "imp.csv"
    f.write_text("member,amount,date,order,name\nbob,1.00,2026-03-01,IMP-1,\n"
                 "new guy,5.00,2026-03-01,IMP-2,New Guy\nnew guy,6.00,2026-03-02,IMP-3,\n")
    rej = tmp_path / "rej.csv"
    r = shop.json("import", "purchases", f, "--create-members", "--skip-errors", "--rejects", rej)
    assert (r["read"], r["added"], r["rejected"], r["created_members"]) == (3, 1, 2, 0)
    rows = list(csv.DictReader(io.StringIO(rej.read_text(), newline="")))
    assert [row["line"] for row in rows] == ["3", "4"]
    assert all(row["reason"] == "cannot enrol 'new guy': not a valid id, e-mail or phone" for row in rows)
    before = shop.snapshot()
    r = shop.invoke("import", "purchases", f, "--create-members")
    assert r.exit_code == 1 and "Error: 2 bad rows;" in r.stderr, r.stderr
    assert r.stderr.count("line 3") == 1 and "unknown member" not in r.stderr
    assert shop.snapshot() == before


def test_a_row_bad_for_two_reasons_is_one_rejected_row_with_both_reasons():
    from loyalty_cli.io.importer import Problem, one_per_line

    out = one_per_line([Problem(5, "member", "a", []), Problem(2, None, "x", []), Problem(5, "date", "b", [])])
    assert [(p.line, p.column, p.reason) for p in out] == [(2, None, "x"), (5, None, "(member) a; (date) b")]


EE = BASE_TOML.replace("[program]\n", "[program]\nphone_region = \"EE\"\n")


def test_import_members_refusal_lists_every_bad_row_as_skip_errors_rejects(make_shop, tmp_path):
    shop = make_shop(EE)
    f = tmp_path / "mem.csv"
    f.write_text("member,name,phone\nm1,M One,5123 0007\nm2,M Two,+372 5123 0007\nm3,M Three,+372 5123 0007\n")
    before = shop.snapshot()
    r = shop.invoke("import", "members", f)
    assert r.exit_code == 1, r.stderr
    assert "line 3:" in r.stderr and "line 4:" in r.stderr and "Error: 2 bad rows;" in r.stderr, r.stderr
    assert shop.snapshot() == before
    r = shop.json("import", "members", f, "--dry-run", "--skip-errors")
    assert (r["added"], r["rejected"]) == (1, 2)


def test_import_purchases_refusal_lists_every_bad_row_of_the_exact_path(shop, tmp_path):
    """Rows that fail inside `purchase` (a promo code that is not there) are all listed, not just the first."""
    shop.run("enroll", "ann", "--name", "Ann", "--date", "2026-01-01")
    f = tmp_path / "p.csv"
    f.write_text("member,amount,date,code\nann,5.00,2026-02-01,NOPE1\nann,5.00,2026-02-02,\n"
                 "ann,5.00,2026-02-03,NOPE2\n")
    r = shop.invoke("import", "purchases", f)
    assert r.exit_code == 1 and "line 2" in r.stderr and "line 4" in r.stderr and "2 bad rows" in r.stderr, r.stderr


cells = st.sampled_from(["ann", "bob", "nobody", "x y", "a@b.example", "", "1.00", "-1", "abc", "2026-02-01",
                         "2026-13-01", "2099-01-01", "O1", "O2", "has space", "NOPE"])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(cells, cells, cells, cells, cells), max_size=8), create=st.booleans(),
       where=st.booleans())
def test_every_row_read_is_counted_exactly_once(make_shop, tmp_path_factory, rows, create, where):
    shop = make_shop()
    shop.run("enroll", "ann", "--name", "Ann", "--date", "2026-01-01")
    shop.run("purchase", "ann", "1.00", "--order", "O2", "--date", "2026-01-15")
    folder = tmp_path_factory.mktemp("csv")
    f, rej = folder / "rows.csv", folder / "rej.csv"
    with f.open("w", newline="") as out:
        w = csv.writer(out)
        w.writerow(["member", "amount", "date", "order", "code"])
        w.writerows(rows)
    args = ["import", "purchases", f, "--skip-errors", "--rejects", rej, *(["--create-members"] if create else []),
            *(["--where", "code="] if where else [])]
    r = shop.json(*args)
    assert r["read"] == r["added"] + r["skipped"] + r["rejected"] + r["merged"] + r["not_selected"], r
    lines = [row["line"] for row in csv.DictReader(io.StringIO(rej.read_text(), newline=""))]
    assert len(lines) == len(set(lines)) == r["rejected"]
