"""The ledger file itself: schema versions and migrations, the currency it is
kept in, and what is never written or shown."""

import hashlib
from pathlib import Path
import sqlite3

from loyalty_cli.store.db import SCHEMA_VERSION
from tests.conftest import BASE_TOML

OLDER = "older than this loyalty's ({}); run `loyalty upgrade`".format(SCHEMA_VERSION)


def _downgrade_to_v1(db):
    """Make the file look like a ledger written by the first release."""
    con = sqlite3.connect(db)
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        con.execute(f"DROP TRIGGER {name}")
    for table in ("promo_uses", "promo_codes", "referral_rewards", "referrals", "referral_codes", "meta",
                  "birthday_bonuses", "consent_changes"):
        con.execute(f"DROP TABLE {table}")
    con.execute("DROP INDEX ix_entries_order")
    con.execute("DROP INDEX ix_entries_expires")
    con.execute("ALTER TABLE entries DROP COLUMN hash")
    con.execute("ALTER TABLE members DROP COLUMN forgotten_at")
    _drop_stores(con)
    con.execute("DELETE FROM schema_version WHERE version > 1")
    con.execute("DROP TABLE alembic_version")  # made before Alembic
    con.commit()
    con.close()


def _drop_stores(con):
    """Take schema version 7's store and till of a purchase away (and version 11's seals)."""
    con.execute("DROP TABLE seals")
    con.execute("DROP INDEX ix_purchases_store_at")
    con.execute("ALTER TABLE purchases DROP COLUMN store")
    con.execute("ALTER TABLE purchases DROP COLUMN till")


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_readers_writers_check_and_init_leave_an_old_ledger_alone_and_upgrade_upgrades_it(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    shop.run("purchase", "anna", "12.50", "--date", "2026-01-02")
    _downgrade_to_v1(shop.db)
    before = _digest(shop.db)
    for command in (["balance"], ["check"], ["init"], ["purchase", "anna", "1.00", "--date", "2026-01-03"]):
        r = shop.fail(*command, contains=f"ledger {shop.db} has schema version 1, " + OLDER)
    assert _digest(shop.db) == before
    r = shop.run("upgrade")
    assert f"Upgraded ledger {shop.db} from schema version 1 to {SCHEMA_VERSION}." in r.stdout
    assert shop.sql("SELECT version FROM schema_version") == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
    assert shop.json("balance")[0]["points"] == 12
    assert shop.run("check").stdout == ""
    # the entries written before the upgrade were sealed into the chain, in order
    assert [r[0] for r in shop.sql("SELECT hash IS NOT NULL FROM entries ORDER BY id")] == [1]


def test_the_currency_of_a_ledger_cannot_change(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    shop.run("purchase", "anna", "12.50", "--order", "X", "--date", "2026-01-02")
    shop.config.write_text(shop.config.read_text().replace('currency = "EUR"', 'currency = "JPY"'))
    before = shop.snapshot()
    shop.fail("show", "anna", contains="keeps its amounts in EUR, but the programme says JPY")
    shop.fail("refund", "X", contains="cannot change")
    r = shop.invoke("check")
    assert r.exit_code == 1 and "currency: the ledger keeps amounts in EUR" in r.stdout
    assert shop.snapshot() == before


def test_a_password_in_a_database_url_is_never_shown(shop):
    r = shop.fail("balance", "--db", "nosuchdriver://user:s3cret@host/db")
    assert "s3cret" not in r.stderr
    r = shop.fail("balance", "--db", "postgresql+nosuchdbapi://user:s3cret@host/db")
    assert "s3cret" not in r.stderr


def test_init_on_an_existing_ledger_in_another_currency_is_refused(make_shop, tmp_path):
    s = make_shop(BASE_TOML)
    s.config.write_text(s.config.read_text().replace('currency = "EUR"', 'currency = "KWD"'))
    s.fail("init", "--force", "--currency", "KWD", contains="cannot change")


def _downgrade_to_v5(db):
    """Make the file look like a ledger of schema version 5: no consent history."""
    con = sqlite3.connect(db)
    con.execute("DROP TABLE consent_changes")
    con.execute("DROP TRIGGER schema_version_no_delete")
    _drop_stores(con)
    con.execute("DELETE FROM schema_version WHERE version > 5")
    con.execute("DROP TABLE alembic_version")  # made before Alembic
    con.execute("CREATE TRIGGER schema_version_no_delete BEFORE DELETE ON schema_version "
                "BEGIN SELECT RAISE(ABORT, 'schema_version is append-only'); END")
    con.commit()
    con.close()


def test_the_upgrade_to_version_6_makes_the_consent_history_from_the_members_consent(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--marketing", "--date", "2026-01-01")
    shop.run("enroll", "bob", "--name", "Bob", "--date", "2026-01-02")
    shop.run("enroll", "cara", "--name", "Cara", "--marketing", "--date", "2026-01-03")
    shop.run("edit", "bob", "--marketing", "--date", "2026-02-01")
    shop.run("edit", "cara", "--no-marketing", "--date", "2026-02-10")
    shop.run("enroll", "dan", "--name", "Dan", "--date", "2026-01-04")
    _downgrade_to_v5(shop.db)
    shop.run("upgrade")
    assert shop.sql("SELECT max(version) FROM schema_version") == [(SCHEMA_VERSION,)]
    # the consent each member had, as it stood: given or withdrawn at marketing_at; nothing invented before
    assert shop.sql("SELECT member_id, at, marketing, via FROM consent_changes ORDER BY member_id") == [
        ("anna", "2026-01-01 00:00:00.000000", 1, "upgrade"),
        ("bob", "2026-02-01 00:00:00.000000", 1, "upgrade"),
        ("cara", "2026-02-10 00:00:00.000000", 0, "upgrade")]
    assert [m["marketing"] for m in shop.json("members", "--as-of", "2026-01-15")] == [True, False, False, False]
    assert [m["marketing"] for m in shop.json("members", "--as-of", "2026-02-05")] == [True, True, False, False]
    assert shop.run("check").stdout == ""
    # and the table is append-only like the others
    con = sqlite3.connect(shop.db)
    for sql in ("UPDATE consent_changes SET marketing = 1", "DELETE FROM consent_changes"):
        try:
            con.execute(sql)
            raise AssertionError(f"{sql} was allowed")
        except sqlite3.IntegrityError as e:
            assert "append-only" in str(e)
    con.close()


def test_the_upgrade_to_version_7_gives_purchases_a_store_and_till_and_old_ones_none(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    shop.run("purchase", "anna", "5.00", "--order", "OLD", "--date", "2026-01-02")
    con = sqlite3.connect(shop.db)
    con.execute("DROP TRIGGER schema_version_no_delete")
    _drop_stores(con)
    con.execute("DELETE FROM schema_version WHERE version > 6")
    con.execute("DROP TABLE alembic_version")  # made before Alembic
    con.commit()
    con.close()
    shop.fail("balance", contains="has schema version 6, " + OLDER)
    shop.run("upgrade")
    shop.run("purchase", "anna", "2.00", "--order", "NEW", "--store", "Kesklinn", "--date", "2026-01-03")
    assert shop.sql("SELECT max(version) FROM schema_version") == [(SCHEMA_VERSION,)]
    assert shop.sql("SELECT order_id, store, till FROM purchases ORDER BY id") == [
        ("OLD", None, None), ("NEW", "Kesklinn", None)]
    assert ("ix_purchases_store_at",) in shop.sql("SELECT name FROM sqlite_master WHERE type = 'index'")
    assert shop.run("check").stdout == ""


def test_a_ledger_path_with_question_mark_or_percent_is_a_plain_file(shop, tmp_path):
    for name in ("shop?.db", "50%.db", "50%25.db", "a#b.db"):
        target = tmp_path / name
        r = shop.run("init", "--db", str(target))
        assert f"Created ledger {target}." in r.stderr
        assert target.is_file(), sorted(p.name for p in tmp_path.iterdir())
        shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01", "--db", str(target))
        assert shop.json("balance", "--db", str(target))[0]["member"] == "anna"
        assert shop.run("check", "--db", str(target)).stdout == ""
    # nothing was made under a cut-off name
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("shop1")) == \
        ["50%.db", "50%25.db", "a#b.db", "shop?.db"]


def test_tilde_paths_name_home_folders_and_an_unknown_user_is_refused(shop, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    shop.run("init", "--db", "~/home.db")
    assert (tmp_path / "home.db").is_file()
    assert shop.json("balance", "--db", "~/home.db") == []
    for args in (("balance", "--db", "~nosuchuser9/x.db"), ("init", "--db", "~nosuchuser9/x.db"),
                 ("balance", "--config", "~nosuchuser9/loyalty.toml"), ("init", "--config", "~nosuchuser9/l.toml"),
                 ("backup", "x.db", "--db", "~nosuchuser9/x.db")):
        shop.fail(*args, contains="there is no user 'nosuchuser9' on this machine")
    shop.config.write_text(shop.config.read_text().replace('database = "loyalty.db"',
                                                           'database = "~nosuchuser9/l.db"'))
    shop.fail("balance", contains="[ledger] database '~nosuchuser9/l.db': there is no user 'nosuchuser9'")


def test_a_nul_byte_in_any_path_is_refused(shop, tmp_path):
    before = shop.snapshot()
    for args in (("balance", "--db", "x\x00.db"), ("balance", "--config", "l\x00.toml"),
                 ("import", "purchases", "p\x00.csv"), ("backup", "b\x00.db"), ("batch", "b\x00.txt"),
                 ("import", "purchases", "-", "--skip-errors", "--rejects", "r\x00.csv"), ("init", "--db", "x\x00")):
        shop.fail(*args, contains="holds a NUL byte; nothing was done")
    shop.config.write_text(shop.config.read_text().replace('database = "loyalty.db"', 'database = "l\\u0000.db"'))
    shop.fail("balance", contains="[ledger] database: 'l\\x00.db' holds a NUL byte")
    assert shop.snapshot() == before
    assert sorted(p.name for p in shop.folder.iterdir()) == ["loyalty.db", "loyalty.toml"]


# --- an unprivileged user ------------------------------------------------------
# chmod does not stop root, so as root the command runs in a forked child that
# has become `nobody` (in-process: the modules are already imported, as nobody
# could not read them from a root-only Python). Otherwise, as the user we are,
# a folder chmod-ed 0500 does the same.

import json as _json
import os as _os
import shutil as _shutil
import tempfile as _tempfile

import pytest as _pytest
from click.testing import CliRunner as _CliRunner

from loyalty_cli.cli import cli as _cli


def _unprivileged(args, env):
    """Run `loyalty ARGS` as an unprivileged user: (exit, stderr)."""
    def run():
        r = _CliRunner().invoke(_cli, args, env=env, catch_exceptions=True)
        crash = None if r.exception is None or isinstance(r.exception, SystemExit) else repr(r.exception)
        return {"exit": r.exit_code, "stderr": r.stderr, "crash": crash}
    if _os.geteuid() != 0:
        return run()
    import pwd
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        _pytest.skip("running as root and there is no user 'nobody' to drop to: cannot test an unprivileged user")
    rd, wr = _os.pipe()
    pid = _os.fork()
    if pid == 0:  # the child: become nobody, run, report, and leave without running pytest's exit handlers
        try:
            _os.close(rd)
            _os.setgroups([])
            _os.setgid(nobody.pw_gid)
            _os.setuid(nobody.pw_uid)
            out = run()
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            out = {"exit": None, "stderr": "", "crash": repr(e)}
        _os.write(wr, _json.dumps(out).encode())
        _os._exit(0)
    _os.close(wr)
    data = b""
    while chunk := _os.read(rd, 65536):
        data += chunk
    _os.close(rd)
    _os.waitpid(pid, 0)
    out = _json.loads(data)
    assert out["crash"] is None, out
    return out["exit"], out["stderr"]


@_pytest.fixture
def open_folder(shop):
    """A folder an unprivileged user can reach (pytest's own are root-only),
    with `closed/` they cannot write and `open/` they can."""
    shop.run("balance")  # every module a command needs is imported before any fork
    base = _tempfile.mkdtemp(prefix="loyalty-unpriv-")
    try:
        _os.chmod(base, 0o755)
        closed, opened = _os.path.join(base, "closed"), _os.path.join(base, "open")
        _os.mkdir(closed)
        _os.mkdir(opened)
        _os.chmod(opened, 0o777)
        _os.chmod(closed, 0o755 if _os.geteuid() == 0 else 0o500)
        yield Path(closed), Path(opened)
    finally:
        _os.chmod(closed, 0o755)
        _shutil.rmtree(base)


def _files(*folders):
    return sorted(str(p) for f in folders for p in f.iterdir())


@_pytest.mark.process
def test_init_as_an_unprivileged_user_writes_both_files_or_neither(open_folder):
    closed, opened = open_folder
    env = {"LOYALTY_CONFIG": None, "LOYALTY_DB": None, "LOYALTY_FORMAT": None}
    # the programme file's folder cannot be written: no ledger is left behind
    code, err = _unprivileged(["init", "--config", str(closed / "loyalty.toml"), "--db", str(opened / "l.db")], env)
    assert (code, err) == (1, f"Error: cannot write {closed / 'loyalty.toml'}: Permission denied\n")
    assert _files(closed, opened) == []
    # the ledger's folder cannot be written: no programme file is left behind
    code, err = _unprivileged(["init", "--config", str(opened / "loyalty.toml"), "--db", str(closed / "l.db")], env)
    assert (code, err) == (1, f"Error: cannot create ledger {closed / 'l.db'}: Permission denied\n")
    assert _files(closed, opened) == []
    # where both can be written, a re-run does it all
    code, err = _unprivileged(["init", "--config", str(opened / "loyalty.toml"), "--db", str(opened / "l.db")], env)
    assert code == 0, err
    assert _files(opened) == [str(opened / "l.db"), str(opened / "loyalty.toml")]


@_pytest.mark.process
def test_a_ledger_an_unprivileged_user_cannot_write_or_read_is_refused(shop, open_folder):
    closed, opened = open_folder
    ledger = closed / "l.db"
    _shutil.copyfile(shop.db, ledger)
    _os.chmod(ledger, 0o644)  # readable, but in a folder where its -wal file cannot be made
    _shutil.copyfile(shop.config, opened / "loyalty.toml")
    _os.chmod(opened / "loyalty.toml", 0o644)
    env = {"LOYALTY_CONFIG": str(opened / "loyalty.toml"), "LOYALTY_DB": str(ledger), "LOYALTY_FORMAT": None}
    before = ledger.read_bytes()
    for args in (["enroll", "zed", "--name", "Zed"], ["balance"], ["check"]):
        code, err = _unprivileged(args, env)
        assert code == 1 and err.count("\n") == 1 and err.startswith(f"Error: "), (args, err)
        assert f"its folder {closed} cannot be written by this user" in err, err
    _os.chmod(ledger, 0o600)  # not even readable
    code, err = _unprivileged(["balance"], env)
    assert code == 1 and err.startswith(f"Error: cannot open the ledger {ledger}: this user may not read it"), err
    assert ledger.read_bytes() == before and _files(closed) == [str(ledger)]


def test_init_on_an_old_ledger_is_refused_before_its_currency_is_looked_at(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    con = sqlite3.connect(shop.db)  # a version-4 ledger (its currency recorded)
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        con.execute(f"DROP TRIGGER {name}")
    con.execute("ALTER TABLE entries DROP COLUMN hash")
    con.execute("ALTER TABLE members DROP COLUMN forgotten_at")
    con.execute("DROP TABLE consent_changes")
    _drop_stores(con)
    con.execute("DELETE FROM schema_version WHERE version >= 5")
    con.execute("DROP TABLE alembic_version")  # made before Alembic
    con.commit()
    con.close()
    config = shop.config.read_bytes()
    before = _digest(shop.db)
    shop.fail("init", "--force", "--currency", "USD", contains=OLDER)
    assert _digest(shop.db) == before and shop.config.read_bytes() == config
    assert sorted(p.name for p in shop.folder.iterdir()) == ["loyalty.db", "loyalty.toml"]
    shop.run("upgrade")
    shop.fail("init", "--force", "--currency", "USD", contains="cannot change")


def test_init_with_db_writes_that_ledger_into_the_programme_file_it_writes(tmp_path, monkeypatch):
    """`init --db PATH` names its ledger in the new programme file, so the next
    command finds it (it used to write the default `loyalty.db`)."""
    from click.testing import CliRunner

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    env = {"LOYALTY_CONFIG": None, "LOYALTY_DB": None, "LOYALTY_FORMAT": None}
    (tmp_path / "data").mkdir()
    for args, database in ((["init", "--db", "q?x%41.db"], "q?x%41.db"),
                           (["init", "--config", "sub/l.toml", "--db", "data/shop.db"], str(tmp_path / "data/shop.db")),
                           (["init", "--sample", "--config", "data/s.toml", "--db", "data/s.db"], "s.db")):
        cfg = Path(args[args.index("--config") + 1]) if "--config" in args else Path("loyalty.toml")
        cfg.parent.mkdir(exist_ok=True)
        r = runner.invoke(_cli, args, env=env)
        assert r.exit_code == 0, r.stderr
        assert f'database = "{database}"' in cfg.read_text(encoding="utf-8")
        r = runner.invoke(_cli, ["balance", "--config", str(cfg), "--format", "json"], env=env)
        assert (r.exit_code, r.stdout.strip()) == (0, "[]"), r.stderr
    # from LOYALTY_DB the file keeps its default: the environment is this shell's, not the shop's
    r = runner.invoke(_cli, ["init", "--config", "e.toml"], env={**env, "LOYALTY_DB": "env.db"})
    assert r.exit_code == 0, r.stderr
    assert 'database = "loyalty.db"' in Path("e.toml").read_text(encoding="utf-8")
