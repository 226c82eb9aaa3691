"""Only a truly empty file becomes a ledger, and a ledger holding anything
loyalty did not make is refused by every command (issue 14, part b2)."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from loyalty_cli.store import db as dbm


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sqlite(path, *sql) -> None:
    con = sqlite3.connect(path)
    try:
        for s in sql:
            con.execute(s)
        con.commit()
    finally:
        con.close()


@pytest.mark.parametrize("sql, says", [
    ("CREATE VIEW v AS SELECT 1", "it holds view v, which loyalty did not make"),
    ("PRAGMA user_version = 1", "its user_version is 1 (another tool's schema number)"),
    ("PRAGMA application_id = 1234", "its application_id is 0x4d2, another application's"),
])
def test_init_does_not_turn_a_non_empty_sqlite_file_into_a_ledger(shop, sql, says):
    f = shop.folder / "other.db"
    _sqlite(f, sql)
    f.chmod(0o644)
    before = _sha(f)
    shop.fail("init", "--db", str(f), contains=f"{f} is not a loyalty ledger: {says}; nothing was written to it")
    assert _sha(f) == before and (f.stat().st_mode & 0o777) == 0o644
    shop.fail("balance", "--db", str(f), contains=says)


@pytest.mark.parametrize("sql, says", [
    ("CREATE VIEW someone AS SELECT * FROM members", "view someone"),
    ("CREATE INDEX theirs ON members (name)", "index theirs"),
    ("CREATE TRIGGER spy AFTER INSERT ON entries BEGIN SELECT 1; END", "trigger spy"),
])
@pytest.mark.parametrize("command", [("balance",), ("check",), ("enroll", "kim", "--name", "Kim"), ("init",)])
def test_a_ledger_with_someone_elses_object_is_refused_by_every_command(shop, sql, says, command):
    _sqlite(shop.db, sql)
    before = _sha(shop.db)
    shop.fail(*command, contains=f"is not a loyalty ledger: it holds {says}, which loyalty did not make")
    assert _sha(shop.db) == before


def test_a_new_ledger_has_our_application_id_and_only_our_objects(shop):
    assert shop.sql("PRAGMA application_id") == [(dbm.APPLICATION_ID,)]
    con = sqlite3.connect(shop.db)
    try:
        rows = {r for r in con.execute("SELECT type, name, tbl_name FROM sqlite_master") if not r[1].startswith("sqlite_")}
    finally:
        con.close()
    assert rows <= dbm._our_objects()  # the list of what is ours keeps step with the migrations


def test_an_empty_file_still_becomes_a_ledger(shop):
    f = shop.folder / "empty.db"
    f.write_bytes(b"")
    shop.run("init", "--db", str(f))
    shop.run("balance", "--db", str(f))
