"""backup PATH expands ~ and ~user as --db does; a full disk names the file
that could not be written, or the disk itself (issue 14, part b2)."""

from __future__ import annotations

import os
import sqlite3
from collections import namedtuple

from sqlalchemy import exc

from loyalty_cli.store import db as dbm


def test_backup_expands_home_and_refuses_an_unknown_user(shop, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(shop.folder)
    shop.run("backup", "~/bk.db")
    assert (home / "bk.db").is_file() and not (shop.folder / "~").exists()
    (shop.folder / "~nosuchuser").mkdir()
    shop.fail("backup", "~nosuchuser/b.db", contains="there is no user 'nosuchuser' on this machine")
    assert list((shop.folder / "~nosuchuser").iterdir()) == []


class _Cursor:
    def __init__(self, real):
        self.real = real

    def execute(self, sql, *args):
        if sql.startswith("VACUUM INTO"):
            raise sqlite3.OperationalError("database or disk is full")
        return self.real.execute(sql, *args)


class _Raw:
    def __init__(self, real):
        self.real = real

    def cursor(self):
        return _Cursor(self.real.cursor())

    def close(self):
        self.real.close()


_Vfs = namedtuple("_Vfs", "f_bavail f_frsize")


def test_a_backup_to_a_full_disk_names_the_backup_not_the_ledger(shop, tmp_path, monkeypatch):
    real = dbm.Engine.raw_connection
    monkeypatch.setattr(dbm.Engine, "raw_connection", lambda self: _Raw(real(self)))
    monkeypatch.setattr(os, "statvfs", lambda p: _Vfs(0, 4096))
    target = tmp_path / "full" / "bk.db"
    target.parent.mkdir()
    r = shop.fail("backup", str(target), contains=f"cannot write the backup {target}: the disk holding "
                                                  f"{target.parent} is full (0 bytes free); no backup was written")
    assert "ledger" not in r.stderr
    assert list(target.parent.iterdir()) == []


def test_a_read_on_a_full_disk_says_the_disk_is_full(shop, monkeypatch):
    def io_error(conn, where):
        raise exc.OperationalError("PRAGMA", {}, sqlite3.OperationalError("disk I/O error"))

    monkeypatch.setattr(dbm, "_check_version", io_error)
    monkeypatch.setattr(os, "statvfs", lambda p: _Vfs(0, 4096))
    shop.fail("balance", contains=f"ledger {shop.db}: the disk holding {shop.folder} is full (0 bytes free)")
    monkeypatch.setattr(os, "statvfs", lambda p: _Vfs(10**6, 4096))  # room enough: SQLite's own words
    shop.fail("balance", contains=f"ledger {shop.db}: disk I/O error")
