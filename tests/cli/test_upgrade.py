"""`loyalty upgrade` on real ledgers made by every older schema version.

tests/data/ledgers/vN.db were written by the loyalty of schema version N (1-7, and 10)
(scripts/make_old_ledgers.sh says which commit and which commands), with the
balances that loyalty printed beside them (vN.balance.json). Each is upgraded
here, on a copy, and must then have the schema of a fresh `init` (tables,
columns, types, indexes, constraints, triggers), check clean and keep every
balance. On PostgreSQL the closest real thing: the schema of version N built
on a fresh database by the frozen steps of that version (migrations/legacy.py,
the same steps the old loyalty ran there), the fixture's rows copied in, then
`loyalty upgrade`, compared with a fresh PostgreSQL ledger.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from loyalty_cli.cli import cli
from loyalty_cli.store.db import SCHEMA_VERSION
from tests import pg

LEDGERS = Path(__file__).parent.parent / "data" / "ledgers"
VERSIONS = (1, 2, 3, 4, 5, 6, 7, 10)  # 8-10 came within a day of each other: 10 stands for them
AS_OF = "2025-06-01"  # the day the fixtures' balances were printed as of (every event before it, no expiry due yet)


def loyalty(*args, folder: Path):
    env = {"LOYALTY_CONFIG": str(folder / "loyalty.toml"), "LOYALTY_DB": None, "LOYALTY_FORMAT": None}
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


def ok(*args, folder: Path):
    r = loyalty(*args, folder=folder)
    assert r.exit_code == 0, f"loyalty {' '.join(map(str, args))} -> {r.exit_code}\n{r.stdout}\n{r.stderr}"
    return r


def one_line_error(r) -> str:
    assert r.exit_code == 1 and "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    return lines[0]


@pytest.fixture
def folder(tmp_path) -> Path:
    """A programme like the fixtures' (today's starter, same name, currency
    and timezone) and a fresh ledger beside it, fresh.db, made by `init`."""
    ok("init", "--name", "Old Shop", "--currency", "EUR", "--timezone", "UTC", "--db", tmp_path / "fresh.db",
       folder=tmp_path)
    return tmp_path


def old_copy(version: int, folder: Path) -> Path:
    target = folder / f"v{version}.db"
    shutil.copy(LEDGERS / f"v{version}.db", target)
    return target


def points(version: int) -> dict[str, int]:
    return {r["member"]: r["points"] for r in json.loads((LEDGERS / f"v{version}.balance.json").read_text())}


def cached_points(path: Path) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT id, points FROM members ORDER BY id").fetchall()
    finally:
        con.close()


def sqlite_schema(path: Path) -> set[tuple]:
    """Every schema object of an SQLite file, its SQL normalised (ALTER
    TABLE ADD COLUMN writes no line break, see _normal), and the file's
    header fields."""
    con = sqlite3.connect(path)
    try:
        rows = con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
        header = {("pragma", p, "", str(con.execute(f"PRAGMA {p}").fetchone()[0]))
                  for p in ("application_id", "user_version")}
    finally:
        con.close()
    return {(t, n, tb, _normal(s or "")) for t, n, tb, s in rows} | header


_CONSTRAINT = re.compile(r"(CONSTRAINT|PRIMARY KEY|UNIQUE|FOREIGN KEY|CHECK)\b")


def _normal(sql: str) -> str:
    """An object's SQL with runs of white space as one and, in a CREATE
    TABLE, its table constraints in sorted order after the columns (which
    keep theirs): a table rebuilt by Alembic's batch mode lists them in the
    order of a Python set."""
    sql = re.sub(r"\s+", " ", sql).strip()
    head, paren, body = sql.partition("(")
    if not head.startswith("CREATE TABLE") or not body.endswith(")"):
        return sql
    items, depth, start = [], 0, 0
    body = body[:-1]
    for i, ch in enumerate(body):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            items.append(body[start:i].strip())
            start = i + 1
    items.append(body[start:].strip())
    columns = [x for x in items if not _CONSTRAINT.match(x)]
    return f"{head}({', '.join(columns + sorted(x for x in items if _CONSTRAINT.match(x)))})"


@pytest.mark.parametrize("version", VERSIONS)
def test_an_old_ledger_is_refused_until_upgraded_and_then_is_a_fresh_ledger(folder, version):
    ledger = old_copy(version, folder)
    before = ledger.read_bytes()
    cached = cached_points(ledger)
    if version < SCHEMA_VERSION:
        for command in (("balance",), ("enroll", "zed", "--name", "Zed"), ("check",), ("init",)):
            line = one_line_error(loyalty(*command, "--db", ledger, folder=folder))
            assert line == (f"Error: ledger {ledger} has schema version {version}, older than this loyalty's "
                            f"({SCHEMA_VERSION}); run `loyalty upgrade`")
        assert ledger.read_bytes() == before, "a refused command changed the file"
        dry = ok("upgrade", "--dry-run", "--db", ledger, folder=folder)
        assert "nothing was written" in dry.stdout and ledger.read_bytes() == before
    r = ok("upgrade", "--db", ledger, folder=folder)
    if version < SCHEMA_VERSION:
        backup = folder / f"v{version}.db.before-upgrade-v{version}.bak"
        assert f"Backed up ledger {ledger} to {backup}." in r.stdout
        assert f"from schema version {version} to {SCHEMA_VERSION}." in r.stdout
        assert sqlite_schema(backup) == sqlite_schema(LEDGERS / f"v{version}.db")  # the old ledger, as it was
    assert sqlite_schema(ledger) == sqlite_schema(folder / "fresh.db")
    assert cached_points(ledger) == cached
    assert loyalty("check", "--db", ledger, folder=folder).output == ""
    got = json.loads(ok("balance", "--as-of", AS_OF, "--format", "json", "--db", ledger, folder=folder).stdout)
    assert {r["member"]: r["points"] for r in got} == points(version)
    again = ok("upgrade", "--db", ledger, folder=folder)
    assert again.stdout == f"Ledger {ledger} is up to date (schema version {SCHEMA_VERSION}).\n"


def test_upgrade_in_json_names_each_step(folder):
    ledger = old_copy(4, folder)
    doc = json.loads(ok("upgrade", "--db", ledger, "--format", "json", folder=folder).stdout)
    assert doc["from_version"] == 4 and doc["to_version"] == SCHEMA_VERSION and doc["dry_run"] is False
    assert [s["version"] for s in doc["steps"]] == list(range(5, SCHEMA_VERSION + 1))
    assert doc["backup"] == str(folder / "v4.db.before-upgrade-v4.bak")


def test_a_second_backup_never_replaces_the_first(folder):
    ledger = old_copy(3, folder)
    taken = folder / "v3.db.before-upgrade-v3.bak"
    taken.write_text("an earlier backup")
    r = ok("upgrade", "--db", ledger, folder=folder)
    assert f"to {taken}.1." in r.stdout and taken.read_text() == "an earlier backup"


def test_upgrade_of_a_missing_or_empty_ledger_is_refused(folder):
    line = one_line_error(loyalty("upgrade", "--db", folder / "none.db", folder=folder))
    assert "no ledger at" in line
    (folder / "empty.db").touch()
    assert "is empty; run `loyalty init`" in one_line_error(loyalty("upgrade", "--db", folder / "empty.db",
                                                                    folder=folder))


# --- PostgreSQL ---------------------------------------------------------------------------------


def pg_schema(url: str) -> set[tuple]:
    """Columns (type, nullability, default), constraints, indexes, triggers and
    sequences of the ledger's schema on PostgreSQL, as the catalog states them."""
    queries = (
        "SELECT 'column', table_name, column_name, data_type, is_nullable, coalesce(column_default, '') "
        "FROM information_schema.columns WHERE table_schema = current_schema()",
        "SELECT 'constraint', conrelid::regclass::text, conname, pg_get_constraintdef(oid), '', '' "
        "FROM pg_constraint WHERE connamespace = current_schema()::regnamespace",
        "SELECT 'index', tablename, indexname, indexdef, '', '' FROM pg_indexes WHERE schemaname = current_schema()",
        "SELECT 'trigger', tgrelid::regclass::text, tgname, pg_get_triggerdef(oid), '', '' FROM pg_trigger "
        "WHERE NOT tgisinternal",
        "SELECT 'sequence', sequence_name, data_type, maximum_value, '', '' FROM information_schema.sequences "
        "WHERE sequence_schema = current_schema()",
    )
    return {row for q in queries for row in pg.sql(url, q)}


def build_old_on_postgresql(version: int, url: str) -> None:
    """The schema of `version` on an empty PostgreSQL database, by the frozen
    steps up to it, and the rows of the SQLite fixture of that version."""
    from sqlalchemy import MetaData, create_engine, insert, select, text

    from loyalty_cli.store.migrations import legacy

    source = create_engine(f"sqlite:///{LEDGERS / f'v{version}.db'}")
    target = create_engine(url)
    try:
        with target.begin() as conn:
            for v, _name, step in legacy.STEPS[:version]:
                step(conn)
            old, new = MetaData(), MetaData()
            old.reflect(source)
            new.reflect(conn)
            with source.connect() as src:
                for table in old.sorted_tables:
                    rows = [dict(r) for r in src.execute(select(table).order_by(*table.primary_key.columns))
                            .mappings()]
                    if rows:
                        conn.execute(insert(new.tables[table.name]), rows)
            for table in new.sorted_tables:
                if "id" in table.c and table.c.id.autoincrement and table.name != "schema_version":
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                      f"coalesce((SELECT max(id) FROM {table.name}), 0) + 1, false)"))
    finally:
        source.dispose()
        target.dispose()


@pytest.mark.postgresql
@pytest.mark.parametrize("version", [1, 5])
def test_an_old_ledger_upgrades_on_postgresql_to_a_fresh_ledger(tmp_path, version):
    pg.require()
    ok("init", "--name", "Old Shop", "--currency", "EUR", "--timezone", "UTC", "--db", tmp_path / "unused.db",
       folder=tmp_path)
    fresh, url = pg.new_database(), pg.new_database()
    ok("init", "--db", fresh, folder=tmp_path)
    build_old_on_postgresql(version, url)
    line = one_line_error(loyalty("balance", "--db", url, folder=tmp_path))
    assert line.endswith(f"has schema version {version}, older than this loyalty's ({SCHEMA_VERSION}); "
                         "run `loyalty upgrade`")
    r = ok("upgrade", "--db", url, folder=tmp_path)
    assert "Backed up" not in r.stdout and f"from schema version {version} to {SCHEMA_VERSION}." in r.stdout
    assert pg_schema(url) == pg_schema(fresh)
    assert loyalty("check", "--db", url, folder=tmp_path).output == ""
    got = json.loads(ok("balance", "--as-of", AS_OF, "--format", "json", "--db", url, folder=tmp_path).stdout)
    assert {r["member"]: r["points"] for r in got} == points(version)


@pytest.mark.process
def test_commands_that_do_not_migrate_never_import_alembic(folder):
    import subprocess
    import sys

    ok("enroll", "anna", "--name", "Anna", "--db", folder / "fresh.db", folder=folder)
    for command in ("show anna", "balance", "purchase anna 5.00"):
        code = ("import sys; from loyalty_cli.cli import main\n"
                f"sys.argv = ['loyalty', *{command.split()!r}, '--db', {str(folder / 'fresh.db')!r}]\n"
                "try: main()\nexcept SystemExit as e: assert not e.code, e.code\n"
                "print('ALEMBIC', 'alembic' in sys.modules, file=sys.stderr)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=folder)
        assert "ALEMBIC False" in out.stderr, out.stderr
