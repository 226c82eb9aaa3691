"""CSV import through the real CLI: the same earnings as `purchase`,
idempotent, all or nothing, and the shapes real exports come in."""

import csv
import io
import json
import textwrap
from datetime import date

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import BASE_TOML, examples

pytestmark = [pytest.mark.backends("sqlite", "postgresql"), pytest.mark.pg_full]  # PostgreSQL: the whole run

# --- the import earns exactly what `purchase` earns -----------------------------

PROGRAMME = """
[program]
name = "Same"
currency = "EUR"
timezone = "UTC"

[earning]
points_per_unit = {ppu}
rounding = "{rounding}"
welcome_bonus = {welcome}
pending_days = {pending}

[expiry]
days = {expiry}

[tiers]
basis = "{basis}"
window = "{window}"
downgrade = {downgrade}

[[tiers.levels]]
name = "Bronze"
min = {zero}

[[tiers.levels]]
name = "Silver"
min = {silver}
multiplier = 1.25

[[tiers.levels]]
name = "Gold"
min = {gold}
multiplier = 1.5
discount_percent = 5
"""

programmes = st.builds(
    lambda ppu, rounding, welcome, pending, expiry, basis, window, downgrade: PROGRAMME.format(
        ppu=ppu, rounding=rounding, welcome=welcome, pending=pending, expiry=expiry, basis=basis, window=window,
        downgrade=downgrade, zero='"0"' if basis == "spend" else 0,
        silver='"60"' if basis == "spend" else 60, gold='"150"' if basis == "spend" else 150),
    st.sampled_from(["1", "0.5", '"1.1"']), st.sampled_from(["floor", "half-up", "ceil"]),
    st.sampled_from([0, 30]), st.sampled_from([0, 7]), st.sampled_from([0, 90]),
    st.sampled_from(["spend", "points"]), st.sampled_from(["lifetime", "calendar-year", "rolling-365"]),
    st.sampled_from(["true", "false"]))

MEMBERS = ["ann", "bob", "cyd"]
dates = st.dates(min_value=date(2025, 1, 2), max_value=date(2026, 6, 30))
rows_ = st.lists(st.tuples(st.sampled_from(MEMBERS), st.integers(0, 9000), dates, st.sampled_from(["", "T10:30"])),
                 min_size=1, max_size=14)
# purchases recorded before the import: some older than every row (fast path), some newer (exact path)
priors = st.lists(st.tuples(st.sampled_from(MEMBERS), st.integers(100, 9000), dates), max_size=4)


def _ledger(shop):
    return {
        "purchases": shop.sql("SELECT order_id, member_id, at, amount, discount, net, points_earned FROM purchases "
                              "ORDER BY order_id"),
        "entries": shop.sql("SELECT member_id, at, kind, points, order_id, expires_on, available_on FROM entries "
                            "ORDER BY member_id, at, kind, order_id, points"),
        "tiers": shop.sql("SELECT member_id, at, from_tier, to_tier FROM tier_changes ORDER BY member_id, at, id"),
        "balances": shop.sql("SELECT id, points FROM members ORDER BY id"),
    }


_PROPERTY = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@settings(max_examples=examples(full=25, fast=5), **_PROPERTY)
@given(toml=programmes, rows=rows_, prior=priors, apply=st.booleans())
# found by the fast lane: a prior purchase made at Gold, typed in both shops
@example(toml=PROGRAMME.format(ppu="1", rounding="floor", welcome=0, pending=0, expiry=0, basis="spend",
                               window="lifetime", downgrade="true", zero='"0"', silver='"60"', gold='"150"'),
         rows=[("ann", 0, date(2025, 1, 2), "")], apply=False,
         prior=[("ann", 100, date(2025, 1, 2)), ("ann", 7286, date(2025, 1, 2)), ("ann", 8960, date(2025, 1, 2)),
                ("ann", 100, date(2025, 1, 2))])
@pytest.mark.sqlite_only("its PostgreSQL case is the test below, with fewer examples: every example draws a "
                         "programme of its own, which there is an `init` and a template database")
def test_import_earns_exactly_what_purchase_commands_earn(make_shop, tmp_path_factory, toml, rows, prior, apply):
    """A typed `purchase` takes the Gold tier's standing discount; an import
    takes it only with --apply-tier-discount (an imported amount is what was
    charged). So the import is held to typed purchases under the same
    programme with the option, and under the programme without the discount
    without it."""
    _import_and_purchases_agree(make_shop, tmp_path_factory, toml, rows, prior, apply)


@settings(max_examples=examples(full=6, fast=2), **_PROPERTY)
@given(toml=programmes, rows=rows_, prior=priors, apply=st.booleans())
@pytest.mark.backends("postgresql")
def test_import_earns_exactly_what_purchase_commands_earn_on_postgresql(make_shop, tmp_path_factory, toml, rows,
                                                                       prior, apply):
    _import_and_purchases_agree(make_shop, tmp_path_factory, toml, rows, prior, apply)


def _import_and_purchases_agree(make_shop, tmp_path_factory, toml, rows, prior, apply):
    plain = toml.replace("discount_percent = 5\n", "")
    # Both shops type the same prior purchases under the same programme (a Gold
    # prior would otherwise be discounted in one shop and not in the other);
    # without the option, `a` then imports under the full programme.
    a, b = make_shop(toml if apply else plain), make_shop(toml if apply else plain)
    for shop in (a, b):
        for m in MEMBERS:
            shop.run("enroll", m, "--name", m.title(), "--date", "2025-01-01")
        for i, (m, cents, d) in enumerate(prior):
            shop.run("purchase", m, f"{cents // 100}.{cents % 100:02d}", "--order", f"prior{i}", "--date", d.isoformat())
    if not apply:
        a.config.write_text(textwrap.dedent(toml), encoding="utf-8")
    lines = ["member,amount,date,order"]
    for i, (m, cents, d, t) in enumerate(rows):
        lines.append(f"{m},{cents // 100}.{cents % 100:02d},{d.isoformat()}{t},o{i}")
    f = tmp_path_factory.mktemp("csv") / "rows.csv"
    f.write_text("\n".join(lines) + "\n")
    r = a.json("import", "purchases", f, *(["--apply-tier-discount"] if apply else []))
    assert (r["read"], r["added"], r["rejected"]) == (len(rows), len(rows), 0)
    ordered = sorted(enumerate(rows), key=lambda x: (x[1][2].isoformat() + x[1][3], x[0]))
    for i, (m, cents, d, t) in ordered:
        b.run("purchase", m, f"{cents // 100}.{cents % 100:02d}", "--order", f"o{i}", "--date", d.isoformat() + t)
    assert _ledger(a) == _ledger(b)
    assert a.run("check").stdout == ""


GOLD = BASE_TOML + """
[[tiers.levels]]
name = "Bronze"
min = "0"

[[tiers.levels]]
name = "Gold"
min = "100"
multiplier = 1.5
discount_percent = 5
"""


def test_an_imported_amount_gets_no_tier_discount_unless_asked_on_both_paths(make_shop, tmp_path):
    """A web order of 22.50 from a Gold (5%) member is 22.50 charged: no
    invented 1.13 discount, and the Gold multiplier still applies to the
    points. anna takes the fast path; bob, with a purchase dated after his
    row, the exact path (`ledger.purchase`); --apply-tier-discount takes the
    discount on both, as a typed `purchase` does."""
    shop = make_shop(GOLD)
    for m in ("anna", "bob"):
        shop.run("enroll", m, "--name", m.title(), "--date", "2026-01-01")
        shop.run("purchase", m, "150.00", "--order", f"{m}-0", "--date", "2026-01-02")
    shop.run("purchase", "bob", "1.00", "--order", "bob-later", "--date", "2026-01-20")  # after his row: exact path
    f = _csv(tmp_path, "member,amount,date,order\nanna,22.50,2026-01-10,W1\nbob,22.50,2026-01-10,W2\n")
    shop.run("import", "purchases", f)
    g = _csv(tmp_path, "member,amount,date,order\nanna,22.50,2026-01-21,W3\nbob,22.50,2026-01-11,W4\n", "g.csv")
    shop.run("import", "purchases", g, "--apply-tier-discount")
    got = shop.sql("SELECT order_id, amount, discount, net, points_earned FROM purchases WHERE order_id LIKE 'W%' "
                   "ORDER BY order_id")
    assert got == [("W1", 2250, 0, 2250, 33), ("W2", 2250, 0, 2250, 33),
                   ("W3", 2250, 113, 2137, 32), ("W4", 2250, 113, 2137, 32)]
    typed = shop.json("purchase", "anna", "22.50", "--date", "2026-01-22")  # the till's own purchase: discounted
    assert (typed["discount"], typed["tier"]) == ("1.13", "Gold")
    assert shop.run("check").stdout == ""


# --- idempotency ------------------------------------------------------------------


def _csv(tmp_path, text, name="in.csv"):
    f = tmp_path / name
    f.write_text(text)
    return f


def test_reimporting_the_same_file_or_with_rows_appended_adds_only_new_rows(shop, tmp_path):
    for m in ("anna", "bob"):
        shop.run("enroll", m, "--name", m, "--date", "2026-01-01")
    text = "member,amount,date,order\nanna,10.00,2026-01-02,A1\nbob,5.00,2026-01-03,A2\n"
    f = _csv(tmp_path, text)
    assert shop.json("import", "purchases", f)["added"] == 2
    assert shop.json("import", "purchases", f) == {"read": 2, "added": 0, "skipped": 2, "rejected": 0,
                                                   "created_members": 0, "merged": 0, "not_selected": 0,
                                                   "amount_on_several_rows": 0, "dry_run": False}
    f.write_text(text + "anna,7.50,2026-01-04,A3\n")
    assert shop.json("import", "purchases", f)["added"] == 1
    assert shop.json("balance", "anna")[0]["points"] == 17
    assert shop.run("check").stdout == ""


def test_without_an_order_column_identical_rows_are_two_purchases_and_stay_two(shop, tmp_path):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    f = _csv(tmp_path, "member,amount,date\nanna,3.00,2026-01-02\nanna,3.00,2026-01-02\n")
    assert shop.json("import", "purchases", f)["added"] == 2
    assert shop.json("import", "purchases", f)["added"] == 0
    f.write_text(f.read_text() + "anna,3.00,2026-01-02\n")  # a third identical sale, appended
    assert shop.json("import", "purchases", f)["added"] == 1
    assert shop.sql("SELECT count(*) FROM purchases") == [(3,)]


def test_the_same_order_with_other_content_is_an_error_naming_the_order(shop, tmp_path):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    shop.run("import", "purchases", _csv(tmp_path, "member,amount,date,order\nanna,10.00,2026-01-02,A1\n"))
    before = shop.snapshot()
    r = shop.invoke("import", "purchases", _csv(tmp_path, "member,amount,date,order\nanna,11.00,2026-01-02,A1\n", "b.csv"))
    assert r.exit_code == 1
    assert "line 2 (order): order A1 is already in the ledger with other content" in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("Error: 1 bad row; nothing was imported")
    assert shop.snapshot() == before


# --- all or nothing ----------------------------------------------------------------


def test_one_bad_row_refuses_the_file_and_lists_the_first_twenty(shop, tmp_path):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    lines = ["member,amount,date"] + ["anna,1.00,2026-01-02"] * 3 + [f"anna,-{i},2026-01-02" for i in range(25)]
    before = shop.snapshot()
    r = shop.invoke("import", "purchases", _csv(tmp_path, "\n".join(lines) + "\n"))
    assert r.exit_code == 1 and "Traceback" not in r.stderr
    err = r.stderr.splitlines()
    assert err[0] == "  line 5 (amount): '-0' is not an amount: negative amounts are not accepted " \
                     "(record a refund with `loyalty refund`)"
    assert "  ... and 5 more" in err and err[-1] == "Error: 25 bad rows; nothing was imported " \
                                                    "(--skip-errors --rejects FILE imports the good rows)"
    assert shop.snapshot() == before


def test_skip_errors_imports_the_good_rows_and_writes_the_bad_ones(shop, tmp_path):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    f = _csv(tmp_path, "member,amount,date,order\nanna,10.00,2026-01-02,A1\nzed,5.00,2026-01-02,A2\n"
                       "anna,1e3,2026-01-02,A3\nanna,2.00,2099-01-01,A4\n")
    rejects = tmp_path / "bad.csv"
    r = shop.json("import", "purchases", f, "--skip-errors", "--rejects", rejects)
    assert (r["read"], r["added"], r["rejected"]) == (4, 1, 3)
    with open(rejects, newline="") as fh:
        bad = list(csv.DictReader(fh))
    assert [b["order"] for b in bad] == ["A2", "A3", "A4"]
    assert "unknown member 'zed'" in bad[0]["reason"] and "exponents" in bad[1]["reason"]
    assert "in the future" in bad[2]["reason"]
    shop.fail("import", "purchases", f, "--rejects", rejects, code=2)  # --rejects needs --skip-errors


def test_dry_run_reports_and_writes_nothing(shop, tmp_path):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    before = shop.snapshot()
    r = shop.json("import", "purchases", _csv(tmp_path, "member,amount,date\nanna,10.00,2026-01-02\nnew,1,2026-01-02\n"),
                  "--dry-run", "--create-members")
    assert (r["added"], r["created_members"], r["dry_run"]) == (2, 1, True)
    assert shop.snapshot() == before


# --- real exports --------------------------------------------------------------------


def test_a_web_shop_export_through_map(shop, tmp_path):
    """Shopify-like: "Name" is the order number, members are e-mails."""
    text = ("Name,Email,Financial Status,Total,Created at\n"
            "#1001,anna@example.com,paid,120.00,2026-02-01 10:00:00 +0200\n"
            "#1002,BOB@example.com,paid,18.90,2026-02-02 11:00:00 +0200\n")
    args = ["import", "purchases", "-", "--map", "member=Email", "--map", "amount=Total", "--map", "order=Name",
            "--map", "date=Created at", "--create-members", "--format", "json"]
    r = shop.invoke(*args, input=text)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["added"] == 2
    people = {m["email"]: m for m in shop.json("members")}
    assert set(people) == {"anna@example.com", "bob@example.com"}
    assert people["anna@example.com"]["name"] == "anna@example.com"  # not "#1001"
    assert shop.sql("SELECT order_id, at FROM purchases ORDER BY order_id")[0] == ("#1001", "2026-02-01 10:00:00.000000")
    assert shop.invoke(*args, input=text).exit_code == 0
    assert shop.sql("SELECT count(*) FROM purchases") == [(2,)]


def test_semicolons_latin1_a_bom_and_a_date_format(shop, tmp_path):
    shop.run("enroll", "jose", "--name", "José", "--date", "2026-01-01")
    f = tmp_path / "till.csv"
    f.write_bytes("kunde;summa;aeg;märkus\njose;12.50;03.02.2026 14:05;café\n".encode("latin-1"))
    shop.fail("import", "purchases", f, "--delimiter", ";", contains="not valid utf-8-sig; try --encoding latin-1")
    r = shop.json("import", "purchases", f, "--delimiter", ";", "--encoding", "latin-1", "--map", "member=kunde",
                  "--map", "amount=summa", "--map", "date=aeg", "--date-format", "%d.%m.%Y %H:%M")
    assert r["added"] == 1
    g = tmp_path / "bom.csv"
    g.write_bytes(b"\xef\xbb\xbfmember,amount,date\njose,1.00,2026-02-04\n")
    assert shop.json("import", "purchases", g)["added"] == 1


@pytest.mark.parametrize("args, text, says", [
    (["--map", "colour=x"], "member,amount,date\n", "unknown field 'colour'"),
    (["--map", "amount"], "member,amount,date\n", "expected FIELD=COLUMN"),
    (["--map", "amount=Total"], "member,amount,date\n", "no column 'Total'"),
    ([], "member,date\n", "no 'amount' column"),
    ([], "", "the file is empty"),
    (["--delimiter", ";;"], "member,amount,date\n", "one character"),
    (["--encoding", "klingon"], "member,amount,date\n", "not an encoding"),
    (["--date-format", "%d.%m.%Y"], "member,amount,date\nanna,1,2026-01-02\n", "does not match --date-format"),
    ([], 'member,amount,date\n"anna,1,2026-01-02\n', "line"),
])
def test_bad_files_and_options_are_refused_cleanly(shop, tmp_path, args, text, says):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    before = shop.snapshot()
    r = shop.invoke("import", "purchases", _csv(tmp_path, text), *args)
    assert r.exit_code == 1 and "Traceback" not in r.stderr and says in r.stderr, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert shop.snapshot() == before


def test_a_code_column_goes_through_the_exact_path(shop, tmp_path):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    shop.run("promo", "create", "TEN", "--percent", "10", "--max-uses", "1", "--date", "2026-01-01")
    f = _csv(tmp_path, "member,amount,date,order,code\nanna,30.00,2026-01-02,A1,ten\nanna,30.00,2026-01-03,A2,TEN\n")
    r = shop.invoke("import", "purchases", f)
    assert r.exit_code == 1 and "line 3: promo code TEN is used up" in r.stderr
    assert shop.sql("SELECT count(*) FROM purchases") == [(0,)]
    r = shop.json("import", "purchases", f, "--skip-errors")
    assert (r["added"], r["rejected"]) == (1, 1)
    assert shop.json("balance", "anna")[0]["points"] == 27  # 30.00 - 3.00 off


# --- members --------------------------------------------------------------------------


def test_import_members_moves_a_customer_list_in_once(shop, tmp_path):
    text = ("member,name,email,phone,birthday,enrolled,marketing\n"
            "c1,Anna Tamm,anna@example.com,+372 5555 0001,1990-04-12,2025-03-01,yes\n"
            "c2,Bob Kask,,5555 0002,,2025-04-01,no\n")
    f = _csv(tmp_path, text)
    assert shop.json("import", "members", f)["added"] == 2
    assert shop.json("import", "members", f)["skipped"] == 2
    anna = shop.json("show", "c1")
    assert (anna["email"], anna["phone"], anna["birthday"], anna["marketing"]) == (
        "anna@example.com", "+37255550001", "1990-04-12", True)
    f.write_text(text.replace("Bob Kask", "Robert Kask"))
    r = shop.invoke("import", "members", f)
    assert r.exit_code == 1
    assert r.stderr.splitlines() == ["  line 3: member c2 is already in the ledger with other details",
                                     "Error: 1 bad row; nothing was imported (--skip-errors --rejects FILE imports "
                                     "the good rows)"]


# --- export -----------------------------------------------------------------------------


def test_export_streams_csv_and_json(shop, tmp_path):
    shop.run("enroll", "anna", "--name", "Anna", "--marketing", "--date", "2026-01-01")
    shop.run("enroll", "bob", "--name", "Bob", "--date", "2026-01-01")
    shop.run("purchase", "anna", "12.50", "--order", "A1", "--date", "2026-01-02")
    shop.run("purchase", "bob", "2.00", "--order", "B1", "--date", "2026-02-02")
    shop.run("refund", "A1", "--amount", "2.50", "--date", "2026-01-03")
    rows = list(csv.DictReader(io.StringIO(shop.run("export", "purchases").stdout)))
    assert [(r["order"], r["amount"], r["refunded"]) for r in rows] == [("A1", "12.50", "2.50"), ("B1", "2.00", "0.00")]
    assert [r["order"] for r in json.loads(shop.run("export", "purchases", "--since", "2026-02-01",
                                                    "--format", "json").stdout)] == ["B1"]
    ledger = list(csv.DictReader(io.StringIO(shop.run("export", "ledger").stdout)))
    assert [(e["member"], e["kind"], e["points"]) for e in ledger] == [("anna", "earn", "12"), ("anna", "refund", "-2"),
                                                                      ("bob", "earn", "2")]
    assert [m["member"] for m in json.loads(shop.run("export", "members", "--marketing-only",
                                                     "--format", "json").stdout)] == ["anna"]
    assert json.loads(shop.run("export", "ledger", "--since", "2030-01-01", "--format", "json").stdout) == []
    shop.fail("export", "ledger", "--marketing-only", code=2)


@pytest.mark.process
def test_a_progress_bar_only_when_stderr_is_a_terminal(shop, tmp_path):
    import os
    import pty
    import select
    import subprocess
    import sys
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    f = _csv(tmp_path, "member,amount,date\n" + "anna,1.00,2026-01-02\n" * 50)
    piped = shop.invoke("import", "purchases", f)
    assert piped.stderr.splitlines() == ["Read 50 rows: added 50, skipped 0 already in the ledger, rejected 0."]
    primary, secondary = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    env["LOYALTY_CONFIG"] = str(shop.config)
    g = _csv(tmp_path, "member,amount,date\n" + "anna,2.00,2026-01-03\n" * 50, "g.csv")
    p = subprocess.run([sys.executable, "-m", "loyalty_cli", "import", "purchases", str(g)], stdout=subprocess.PIPE,
                       stderr=secondary, env=env, timeout=60)
    out = b""
    while select.select([primary], [], [], 0.2)[0]:
        out += os.read(primary, 65536)
    os.close(primary)
    os.close(secondary)
    assert p.returncode == 0 and b"Importing purchases" in out and b"added 50" in out


def test_a_referral_paid_during_an_import_counts_for_the_referrers_later_rows(make_shop, tmp_path):
    """Points basis: bob's first purchase pays anna 200 referral points, which
    lift her to Silver before her own purchase the next day (10.00 x 1.25)."""
    shop = make_shop(BASE_TOML + """
[referral]
referrer_points = 200
referee_points = 100
min_purchase = "20"

[tiers]
basis = "points"

[[tiers.levels]]
name = "Bronze"
min = 0

[[tiers.levels]]
name = "Silver"
min = 200
multiplier = 1.25
""")
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    code = shop.json("referral", "anna")["code"]
    shop.run("enroll", "bob", "--name", "Bob", "--referral", code, "--date", "2026-01-01")
    f = _csv(tmp_path, "member,amount,date,order\nbob,25.00,2026-01-02,b1\nanna,10.00,2026-01-03,a1\n")
    shop.run("import", "purchases", f)
    assert shop.sql("SELECT points_earned FROM purchases WHERE order_id = 'a1'") == [(12,)]
    # her tier change is dated at bob's purchase, which paid the points, not at her own
    assert shop.sql("SELECT member_id, substr(CAST(at AS TEXT), 1, 10), to_tier FROM tier_changes") == [("anna", "2026-01-02", "Silver")]
    assert shop.run("check").stdout == ""


# --- found by a second cold review ---------------------------------------------------


def test_generated_ids_never_collide_with_ids_the_file_names(shop, tmp_path):
    f = _csv(tmp_path, "member,amount,date\n+3725551234,10,2025-03-01\n1001,20,2025-03-02\n")
    r = shop.json("import", "purchases", f, "--create-members")
    assert (r["added"], r["created_members"]) == (2, 2)
    assert {m["member"] for m in shop.json("members")} == {"1001", "1002"}
    assert shop.json("show", "+3725551234")["member"] == "1002"
    assert shop.run("check").stdout == ""


def test_ids_match_ignoring_case_like_the_other_commands(shop, tmp_path):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2025-01-01")
    f = _csv(tmp_path, "member,amount,date\nANNA,10,2025-03-01\nNew,1,2025-03-01\nNEW,2,2025-03-02\n")
    r = shop.json("import", "purchases", f, "--create-members")
    assert (r["added"], r["created_members"]) == (3, 1)
    assert sorted(m["member"] for m in shop.json("members")) == ["New", "anna"]
    assert shop.json("balance", "anna")[0]["points"] == 10


def test_the_same_order_with_another_promo_code_is_other_content(shop, tmp_path):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    shop.run("promo", "create", "TEN", "--percent", "10", "--date", "2026-01-01")
    # Rows of one order merge, an empty code taking the order's (a web shop writes it on the first row only),
    # so in one file it takes two different codes to be other content.
    r = shop.invoke("import", "purchases", _csv(tmp_path, "member,amount,date,order,code\n"
                                                          "anna,10,2026-01-02,X1,FIVE\nanna,10,2026-01-02,X1,TEN\n"))
    assert r.exit_code == 1 and "order X1 appears on line 2 with other content: code FIVE there, TEN here" \
        in r.stderr, r.stderr
    shop.run("import", "purchases", _csv(tmp_path, "member,amount,date,order,code\nanna,10,2026-01-02,X1,ten\n", "a.csv"))
    r = shop.invoke("import", "purchases", _csv(tmp_path, "member,amount,date,order\nanna,10,2026-01-02,X1\n", "b.csv"))
    assert r.exit_code == 1 and "order X1 is already in the ledger with other content" in r.stderr
    assert shop.json("import", "purchases", tmp_path / "a.csv")["skipped"] == 1  # same code: the same purchase


@pytest.mark.parametrize("encoding", ["utf-16", "undefined", "punycode"])
def test_any_decoding_failure_is_a_clean_error(shop, tmp_path, encoding):
    r = shop.invoke("import", "purchases", _csv(tmp_path, "member,amount,date\nanna,10,2025-03-01\n"),
                    "--encoding", encoding)
    assert r.exit_code == 1 and "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr


def test_duplicate_column_names_are_refused(shop, tmp_path):
    shop.fail("import", "purchases", _csv(tmp_path, "member,amount,amount,date\nanna,10,20,2025-03-01\n"),
              contains="2 columns named 'amount'")


def test_a_row_spanning_lines_is_reported_at_its_first_line(shop, tmp_path):
    r = shop.invoke("import", "purchases", _csv(tmp_path, 'member,amount,date,order\n"an\nna",10,2025-03-01,q1\n'))
    assert r.exit_code == 1 and r.stderr.startswith("  line 2 (member): unknown member 'an\\nna'"), r.stderr


def test_a_welcome_bonus_that_gives_a_tier_is_recorded_at_enrolment_as_enroll_does(make_shop, tmp_path):
    """Points basis: the welcome bonus of a member the import creates counts as
    points earned, so its tier change is dated at enrolment, like `enroll`'s,
    not at the member's first purchase."""
    toml = BASE_TOML + """
[earning]
welcome_bonus = 100

[tiers]
basis = "points"

[[tiers.levels]]
name = "Bronze"
min = 0

[[tiers.levels]]
name = "Silver"
min = 100
multiplier = 1.5
"""
    a, b = make_shop(toml), make_shop(toml)
    r = a.json("import", "purchases", _csv(tmp_path, "member,amount,date,order\nzoe,10.00,2025-03-01T10:30,z1\n"),
               "--create-members")
    assert (r["added"], r["created_members"]) == (1, 1)
    b.run("enroll", "zoe", "--name", "zoe", "--date", "2025-03-01")
    b.run("purchase", "zoe", "10.00", "--date", "2025-03-01T10:30", "--order", "z1")
    log = "SELECT member_id, at, from_tier, to_tier FROM tier_changes ORDER BY id"
    assert a.sql(log) == b.sql(log) == [("zoe", "2025-03-01 00:00:00.000000", "Bronze", "Silver")]
    assert [(h["kind"], h["points"]) for h in a.json("history", "zoe")] == [("welcome", 100), ("tier", 0), ("earn", 15)]
    assert a.json("daily", "--as-of", "2025-03-02")["tier_changes"] == []
    assert a.run("check").stdout == ""
