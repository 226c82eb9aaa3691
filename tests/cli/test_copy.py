"""`loyalty copy --to`: a whole ledger moved SQLite -> PostgreSQL -> SQLite,
proven by the chain head, the rows per table, `check` and the reports'
JSON; refused, with nothing written, into a database that is not empty, one
that cannot be reached, the ledger itself, or from something not a ledger.
And `backup` of a PostgreSQL ledger, which writes an SQLite copy the same way."""

from __future__ import annotations

import json
import os
import re
import shlex
import sqlite3
import stat
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests import pg
from tests.conftest import Shop, clean

pytestmark = pytest.mark.backends("postgresql")  # the shops are made here: SQLite ones, and empty databases

ROOT = Path(__file__).resolve().parent.parent.parent
SAMPLE = (ROOT / "sample_config.toml").read_text(encoding="utf-8")
AS_OF = "2026-04-30"


def _demo(shop: Shop) -> None:
    """The commands of scripts/demo.sh (the README's tour), on `shop`."""
    carmen = ""
    for line in (ROOT / "scripts" / "demo.sh").read_text(encoding="utf-8").splitlines():
        line = line.split("   #")[0].strip()
        made = re.fullmatch(r"carmen=\$\(loyalty (.*)\)", line)
        if made:
            carmen = shop.run(*shlex.split(made.group(1))).stdout.strip()
        elif line.startswith("say loyalty ") and line != "say loyalty init":
            shop.run(*(carmen if a == "$carmen" else a for a in shlex.split(line)[2:]))


def _figures(shop: Shop, db: str) -> dict:
    return {cmd: json.loads(shop.run(cmd, "--db", db, "--as-of", AS_OF, "--format", "json").stdout)
            for cmd in ("balance", "report", "members", "tiers")}


def _head(shop: Shop, db: str) -> str:
    return shop.run("check", "--db", db, "--print-head").stdout.strip()


def test_the_demo_shop_goes_to_postgresql_and_back(backend, tmp_path):
    shop = Shop(tmp_path, SAMPLE)
    _demo(shop)
    source = str(shop.db)
    head, figures = _head(shop, source), _figures(shop, source)
    target = pg.new_database()
    dry = json.loads(shop.run("copy", "--to", target, "--dry-run", "--format", "json").stdout)
    assert dry["dry_run"] is True and dry["head"] == head and dry["rows"] > 0
    assert pg.sql(target, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]

    r = shop.run("copy", "--to", target)
    rows = dict(line.split() for line in r.stdout.splitlines()[1:])
    assert rows["entries"] == head.split(".")[0] and rows["seals"] == head.split(".")[1].split(":")[0]
    assert rows["members"] == "3"
    assert f". Head: {head}\n" in r.stderr and "set [ledger] database in" in r.stderr
    assert _head(shop, target) == head and _figures(shop, target) == figures
    clean_on = shop.run("check", "--db", target)
    assert clean_on.stdout == clean_on.stderr == ""

    back = tmp_path / "back" / "loyalty.db"
    back.parent.mkdir()
    moved = json.loads(shop.run("copy", "--db", target, "--to", str(back), "--format", "json").stdout)
    assert moved["head"] == head and moved["target"] == str(back) and moved == {**dry, "dry_run": False,
                                                                               "source": moved["source"],
                                                                               "target": moved["target"]}
    assert _head(shop, str(back)) == head and _figures(shop, str(back)) == figures
    assert stat.S_IMODE(back.stat().st_mode) == 0o600

    # the copy on PostgreSQL takes new writes: its sequences start past the copied ids
    shop.run("purchase", "anna", "10.00", "--order", "T-100", "--db", target, "--date", "2026-05-01")
    shop.run("promo", "create", "SPRING", "--points", "5", "--db", target)
    n = int(head.split(".")[0])
    assert pg.sql(target, "SELECT max(id) FROM entries") == [(n + 1,)]
    assert pg.sql(target, "SELECT max(id) FROM purchases") == [(6,)]
    assert shop.run("check", "--db", target).stdout == ""


def test_refusals_write_nothing(backend, tmp_path, monkeypatch):
    shop = Shop(tmp_path, SAMPLE)
    shop.run("enroll", "anna", "--name", "Anna Tamm", "--date", "2026-01-05")
    target = pg.new_database()
    shop.run("copy", "--to", target)
    before = pg.snapshot(target)
    shop.fail("copy", "--to", target, contains="already holds a ledger; copy only into an empty database")
    assert pg.snapshot(target) == before

    other = pg.new_database()
    pg.sql(other, "CREATE TABLE notes (id int)")
    shop.fail("copy", "--to", other, contains="already holds tables (notes)")
    assert pg.sql(other, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'") == [("notes",)]

    away = make_url(other).set(port=1).render_as_string(hide_password=False)
    assert "Error: ledger " in shop.fail("copy", "--to", away).stderr
    shop.fail("copy", "--to", str(shop.db), contains="onto itself")
    monkeypatch.chdir(tmp_path)
    shop.fail("copy", "--to", "loyalty.db", contains="onto itself")  # relative to the working folder
    missing = tmp_path / "no" / "such" / "x.db"
    shop.fail("copy", "--to", str(missing), "--dry-run", contains="folder")
    shop.fail("copy", "--to", str(missing), contains="folder")
    assert not missing.parent.exists()

    stranger = tmp_path / "stranger.db"
    con = sqlite3.connect(stranger)
    con.execute("CREATE TABLE notes (id int)")
    con.close()
    fresh = tmp_path / "fresh.db"
    shop.fail("copy", "--db", str(stranger), "--to", str(fresh), contains="is not a loyalty ledger")
    shop.fail("copy", "--to", str(stranger), contains="already holds tables (notes)")
    assert not fresh.exists()


def test_a_copy_that_fails_its_check_is_rolled_back(tmp_path, monkeypatch):
    """The proof runs before the commit: a problem found there leaves no file (SQLite only: no server needed)."""
    from loyalty_cli import checks

    shop = Shop(tmp_path, SAMPLE)
    shop.run("enroll", "anna", "--name", "Anna Tamm", "--date", "2026-01-05")
    monkeypatch.setattr(checks, "check", lambda conn, prog, head=None: ["entry 1: hash does not match"])
    target = tmp_path / "copy.db"
    said = shop.fail("copy", "--to", str(target)).stderr
    assert said == (f"Error: the copy in {target} fails check (entry 1: hash does not match); "
                    "nothing was copied\n")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("copy")) == []


def test_backup_of_a_postgresql_ledger_is_a_checked_sqlite_copy(make_shop, tmp_path):
    shop = make_shop(SAMPLE)
    shop.run("enroll", "anna", "--name", "Anna Tamm", "--date", "2026-01-05")
    shop.run("purchase", "anna", "42.00", "--order", "T-1", "--date", "2026-01-06")
    head = _head(shop, shop.url)
    target = tmp_path / "backup.db"
    r = shop.run("backup", str(target))
    assert r.stderr.startswith("Backed up 2 entries to ") and r.stderr.strip().endswith(f"Head: {head}")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert _head(shop, str(target)) == head
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("backup")) == ["backup.db"]
    shop.fail("backup", str(target), contains="already exists")
    clean(shop)
