"""The command line as a whole: help, version, start-up weight, init, output
formats, and the ledger's own guarantees (append-only, schema version, check)."""

import json
import os
import sqlite3
import stat
import subprocess
import sys

import pytest
from click.testing import CliRunner

from loyalty_cli.cli import cli
from loyalty_cli.store.db import SCHEMA_VERSION
from tests.conftest import clean, programme_file, run_process


def test_version_and_help():
    r = CliRunner().invoke(cli, ["--version"])
    assert r.exit_code == 0 and r.stdout.startswith("loyalty ")
    r = CliRunner().invoke(cli, ["-h"])
    assert r.exit_code == 0 and "purchase" in r.stdout


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_help_with_an_example(name):
    r = CliRunner().invoke(cli, [name, "--help"])
    assert r.exit_code == 0
    assert "Examples:" in r.stdout and f"loyalty {name}" in r.stdout, r.stdout


@pytest.mark.process
def test_help_does_not_import_the_database_or_rich():
    code = ("import sys; from loyalty_cli.cli import main; sys.argv=['loyalty','--help'];\n"
            "try: main()\nexcept SystemExit: pass\n"
            "heavy=[m for m in ('sqlalchemy','sqlmodel','rich','pydantic','alembic') if m in sys.modules]\n"
            "print('HEAVY', heavy, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stderr


@pytest.mark.process
def test_python_dash_m_runs_the_cli(tmp_path):
    r = run_process("--version")
    assert r.returncode == 0 and r.stdout.startswith("loyalty ")


@pytest.mark.process
def test_init_writes_a_config_and_an_owner_only_ledger(tmp_path):
    r = run_process("init", "--name", "Corner Coffee", "--currency", "eur", "--timezone", "Europe/Tallinn",
                    cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "loyalty.toml").read_text()
    assert 'name = "Corner Coffee"' in text and 'currency = "EUR"' in text
    db = tmp_path / "loyalty.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    con = sqlite3.connect(db)
    assert con.execute("SELECT version FROM schema_version").fetchall() == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
    assert con.execute("SELECT value FROM meta WHERE key = 'currency'").fetchall() == [("EUR:2",)]
    assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    con.close()
    # A second init refuses; --force rewrites the config but keeps the ledger.
    run_process("enroll", "anna", "--name", "Anna", cwd=tmp_path)
    again = run_process("init", cwd=tmp_path)
    assert again.returncode == 1 and again.stderr.startswith("Error: already set up")
    forced = run_process("init", "--force", "--name", "Renamed", "--timezone", "Europe/Tallinn", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert 'name = "Renamed"' in (tmp_path / "loyalty.toml").read_text()
    assert "anna" in run_process("balance", cwd=tmp_path).stdout


@pytest.mark.process
def test_init_refuses_unknown_currency_and_timezone_and_writes_nothing(tmp_path):
    r = run_process("init", "--currency", "XYZ", cwd=tmp_path)
    assert r.returncode == 1 and "currency" in r.stderr
    r = run_process("init", "--timezone", "Mars/Olympus", cwd=tmp_path)
    assert r.returncode == 1 and "timezone" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_env_and_flags_choose_config_and_ledger(shop, tmp_path):
    other = tmp_path / "elsewhere.db"
    shop.run("init", "--db", other)  # config kept, a second ledger created
    shop.run("enroll", "zed", "--name", "Zed", "--db", other)
    assert shop.json("balance", "--db", other)[0]["member"] == "zed"
    assert shop.json("balance") == []  # the config's own ledger is untouched
    env = {**shop.env(), "LOYALTY_DB": str(other), "LOYALTY_FORMAT": "json"}
    r = shop.runner.invoke(cli, ["balance"], env=env)
    assert json.loads(r.stdout)[0]["member"] == "zed"
    # A flag beats the environment.
    r = shop.runner.invoke(cli, ["balance", "--db", str(shop.db)], env=env)
    assert json.loads(r.stdout) == []


def test_piped_tables_are_plain_text_and_csv_has_a_header(shop):
    shop.run("enroll", "anna", "--name", "Anna Tamm", "--date", "2026-01-01")
    out = shop.run("balance").stdout
    assert "\x1b[" not in out and "│" not in out
    assert out.splitlines() == ["Member  Name       Points  Tier", "anna    Anna Tamm       0  Member"]
    assert shop.run("balance", "--format", "csv").stdout.splitlines() == ["member,name,points,tier",
                                                                          "anna,Anna Tamm,0,Member"]


def test_json_money_is_strings_and_points_are_integers(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    r = shop.json("purchase", "anna", "0.30", "--date", "2026-01-02")
    assert r["amount"] == "0.30" and isinstance(r["points_earned"], int)
    assert shop.json("show", "anna")["lifetime_spend"] == "0.30"


def test_member_found_by_email_or_phone(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--email", "Anna@Example.COM", "--phone", "+372 555-1234",
             "--date", "2026-01-01")
    assert shop.json("show", "ANNA@example.com")["member"] == "anna"
    assert shop.json("show", "+3725551234")["member"] == "anna"
    assert shop.json("show", "Anna")["member"] == "anna"  # case-insensitive id when unambiguous


def test_generated_member_ids_and_order_ids(shop):
    assert shop.run("enroll", "--name", "First", "--date", "2026-01-01").stdout.strip() == "1001"
    assert shop.json("enroll", "--name", "Second", "--date", "2026-01-01")["member"] == "1002"
    assert shop.json("purchase", "1001", "5.00", "--date", "2026-01-02")["order"] == "P000001"


def test_edit_changes_personal_data_and_records_consent_date(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--email", "a@example.com", "--date", "2026-01-01")
    shop.run("edit", "anna", "--name", "Anna Tamm", "--email", "", "--marketing", "--date", "2026-02-01")
    s = shop.json("show", "anna")
    assert (s["name"], s["email"], s["marketing"], s["marketing_at"]) == ("Anna Tamm", None, True, "2026-02-01T00:00:00")


# --- the ledger's guarantees ----------------------------------------------------


def test_entries_cannot_be_updated_or_deleted(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    shop.run("purchase", "anna", "10.00", "--date", "2026-01-02")
    shop.run("redeem", "anna", "5", "--date", "2026-01-02")  # so that allocations has a row
    con = sqlite3.connect(shop.db)
    for sql in ("UPDATE entries SET points = 1000", "DELETE FROM entries", "DELETE FROM allocations",
                "UPDATE purchases SET amount = 1", "DELETE FROM schema_version"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            con.execute(sql)
    con.close()


def test_check_is_silent_on_a_clean_ledger(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    shop.run("purchase", "anna", "50.00", "--order", "o1", "--date", "2026-01-02")
    shop.run("redeem", "anna", "20", "--date", "2026-01-03")
    shop.run("refund", "o1", "--amount", "25.00", "--date", "2026-01-04")
    r = shop.run("check")
    assert r.stdout == "" and r.stderr == ""


def _tamper(db, *statements):
    con = sqlite3.connect(db)
    for t in ("entries", "allocations", "purchases"):
        for op in ("update", "delete"):
            con.execute(f"DROP TRIGGER IF EXISTS {t}_no_{op}")
    con.execute("PRAGMA ignore_check_constraints = ON")  # a tamperer can; check must still see it
    for s in statements:
        con.execute(s)
    con.commit()
    con.close()


@pytest.mark.parametrize("statements, expected", [
    (["UPDATE entries SET points = 999 WHERE kind = 'earn'"], "entries sum to"),
    (["UPDATE members SET points = points + 5"], "balance is"),
    (["UPDATE allocations SET points = points + 30"], "debit of 20 covered by 50"),
    (["UPDATE entries SET points = -60 WHERE kind = 'redeem'", "UPDATE members SET points = -10",
      "UPDATE allocations SET points = 60"], "60 points spent from a credit of 50"),
    (["UPDATE purchases SET net = net + 1"], "net"),
    (["DELETE FROM allocations WHERE debit_id IN (SELECT id FROM entries WHERE kind = 'redeem')"],
     "spent beyond the balance"),
])
def test_check_names_each_problem_and_exits_1(shop, statements, expected):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    shop.run("purchase", "anna", "50.00", "--order", "o1", "--date", "2026-01-02")
    shop.run("redeem", "anna", "20", "--date", "2026-01-03")
    _tamper(shop.db, *statements)
    r = shop.invoke("check")
    assert r.exit_code == 1
    assert expected in r.stdout, r.stdout
    assert r.stderr.startswith("Error: ") and "problem" in r.stderr


def test_a_newer_schema_is_refused(shop):
    con = sqlite3.connect(shop.db)
    con.execute("DROP TRIGGER schema_version_no_update")
    con.execute("INSERT INTO schema_version VALUES (99, 'future', '2030-01-01 00:00:00')")
    con.commit()
    con.close()
    shop.fail("balance", contains="newer than this loyalty knows")


def test_check_catches_a_code_used_beyond_its_limit_and_a_referral_paid_twice(make_shop):
    shop = make_shop(programme_file("referral"))
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    code = shop.json("referral", "anna")["code"]
    shop.run("enroll", "bob", "--name", "Bob", "--referral", code, "--date", "2026-01-02")
    shop.run("promo", "create", "ONCE", "--points", "5", "--max-uses", "1", "--per-member", "1", "--date", "2026-01-01")
    shop.run("purchase", "bob", "25.00", "--code", "ONCE", "--order", "b1", "--date", "2026-01-03")
    assert shop.run("check").stdout == ""
    shop.run("purchase", "bob", "1.00", "--order", "b2", "--date", "2026-01-04")
    second = shop.sql("SELECT id FROM purchases WHERE order_id = 'b2'")[0][0]
    con = sqlite3.connect(shop.db)
    con.execute("INSERT INTO promo_uses (promo_id, member_id, purchase_id, at, discount, bonus_points) "
                "SELECT promo_id, member_id, ?, at, 0, 0 FROM promo_uses", (second,))
    con.execute("INSERT INTO entries (member_id, at, kind, points, recorded_at) "
                "VALUES ('anna', '2026-01-04 00:00:00', 'referral', 200, '2026-01-04 00:00:00')")
    con.execute("UPDATE members SET points = points + 200 WHERE id = 'anna'")
    con.commit()
    con.close()
    out = shop.invoke("check").stdout
    assert "promo code ONCE: used 2 times, the limit is 1" in out
    assert "used 2 times by member bob, the limit is 1 per member" in out
    assert "member anna: 2 referral payments, but only 1 rewarded referrals" in out


@pytest.mark.process
def test_a_real_terminal_gets_a_rich_table_that_shows_markup_literally(shop):
    import pty
    import select
    shop.run("enroll", "zed", "--name", "[bold]Zed [/]", "--date", "2026-01-01")
    shop.run("adjust", "zed", "7", "--reason", "[/] sorry", "--date", "2026-01-02")
    primary, secondary = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    env.update(LOYALTY_CONFIG=str(shop.config), COLUMNS="120", NO_COLOR="1")
    for args, expected in ((["balance"], "[bold]Zed [/]"), (["history", "zed"], "[/] sorry"),
                           (["show", "zed"], "[bold]Zed [/]")):
        p = subprocess.run([sys.executable, "-m", "loyalty_cli", *args], stdout=secondary, stderr=subprocess.PIPE,
                           env=env, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        out = b""
        while True:
            ready, _, _ = select.select([primary], [], [], 0.2)
            if not ready:
                break
            out += os.read(primary, 65536)
        text = out.decode()
        assert expected in text, text
        assert "─" in text  # a rich table, not the plain one
        assert "\x1b[3" not in text  # NO_COLOR: no colour codes
    os.close(primary)
    os.close(secondary)


def test_small_refusals_from_review(shop):
    shop.run("enroll", "anna", "--name", "Anna 100%", "--date", "2026-01-02")
    shop.run("enroll", "bob", "--name", "Bob", "--date", "2026-01-02")
    assert [m["member"] for m in shop.json("members", "--search", "%")] == ["anna"]  # % is literal
    assert shop.json("members", "--search", "_") == []
    shop.run("purchase", "bob", "0", "--order", "visit", "--date", "2026-01-03")
    shop.fail("refund", "visit", contains="nothing to refund")
    shop.fail("edit", "anna", "--marketing", "--date", "2026-01-01", contains="before member anna enrolled")


@pytest.mark.parametrize("name", ["refund", "check", "purchase"])
def test_help_paragraphs_are_not_indented(name):
    r = CliRunner().invoke(cli, [name, "--help"], terminal_width=100)
    description = r.stdout.split("Examples:")[0].splitlines()[2:]
    assert description and all(not line.startswith("    ") for line in description), r.stdout


def test_email_addresses_are_stored_and_matched_by_one_rule(shop):
    """The local part keeps its characters (NFC), only ASCII letters lower-cased;
    the domain is compared as DNS does (IDNA). A KELVIN SIGN is not a K."""
    emails = lambda: dict(shop.sql("SELECT id, email FROM members"))  # noqa: E731
    # ASCII addresses: lower-cased, exactly as before
    shop.run("enroll", "kim", "--name", "Kim", "--email", "Kim.Tamm+Shop@Example.COM", "--date", "2026-01-01")
    assert emails() == {"kim": "kim.tamm+shop@example.com"}
    assert shop.json("show", "KIM.TAMM+SHOP@example.com")["member"] == "kim"
    # a look-alike of kim's address is another address: stored as typed, found only as typed
    kelvin = "\u212aim.tamm+shop@example.com"
    shop.run("enroll", "kelvin", "--name", "Kelvin", "--email", kelvin, "--date", "2026-01-01")
    assert emails()["kelvin"] == kelvin
    assert shop.json("show", kelvin)["member"] == "kelvin"
    assert shop.json("show", "kim.tamm+shop@example.com")["member"] == "kim"
    # a domain in Unicode or in its xn-- form, in any case or composition: one domain, shown readable
    shop.run("enroll", "jyri", "--name", "Jüri", "--email", "Jüri@MÜLLER.ee", "--date", "2026-01-01")
    assert emails()["jyri"] == "jüri@müller.ee"
    for key in ("jüri@xn--mller-kva.ee", "ju\u0308ri@MU\u0308LLER.EE", "Jüri@Müller.EE"):
        assert shop.json("show", key)["member"] == "jyri", key
    shop.fail("enroll", "dup", "--name", "Dup", "--email", "jüri@XN--MLLER-KVA.EE", contains="already belongs to member jyri")
    # only ASCII letters fold in the local part: JÜRI is another mailbox than jüri
    shop.fail("show", "JÜRI@müller.ee", contains="unknown member")
    clean(shop)
