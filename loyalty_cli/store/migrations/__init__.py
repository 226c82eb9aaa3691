"""The ledger's schema, as a history of frozen steps (Alembic revisions).

A ledger's schema is built and upgraded only here, never from today's
``models``: each step is the DDL of its day, written out, so editing a model
cannot rewrite what an old ledger becomes. Two parts:

- ``legacy``: the steps of schema versions 1-6 as loyalty made them before
  Alembic, frozen; they bring a ledger made by an older loyalty (v1-v5) to
  version 6, which is then stamped as the baseline revision.
- ``versions/``: the Alembic revisions, one file per schema version from 6
  (the baseline: today's v6 schema as explicit DDL) on. A fresh ledger is
  the baseline and every later revision, run in order, so a fresh ledger and
  an upgraded one are built by the same steps.

The schema version users see (``schema_version``, which `check`, `init` and
the "older than" refusal name) is a plain number that every revision adds a
row for; ``alembic_version`` holds the revision id Alembic works from. Both
are written in the same transaction. Alembic is imported only by the
functions that migrate (`upgrade`, `pending`), never when a command opens a
ledger. How to add a revision: README.md beside this file.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Connection

FOLDER = Path(__file__).resolve().parent
VERSIONS = FOLDER / "versions"
_FILE = re.compile(r"v(\d+)_\w+\.py$")

# The schema version of the newest revision: the number in its file name (vNN_what.py), read without
# importing Alembic or the revisions.
SCHEMA_VERSION = max(int(m.group(1)) for m in map(_FILE.match, os.listdir(VERSIONS)) if m)
BASELINE = "v06"  # the revision a ledger made before Alembic is stamped with once at version 6
# Version 7 (a purchase's store and till) was first a step of the home-made migrations, for a short
# while: a ledger that step made is stamped with the revision that does the same.
PRE_ALEMBIC = {6: "v06", 7: "v07"}


def _script():
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(FOLDER), version_locations=[str(VERSIONS)])


def _context(conn: Connection):
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn)


def _versions(conn: Connection) -> set[int]:
    from sqlalchemy import inspect, text

    if "schema_version" not in inspect(conn).get_table_names():
        return set()
    return set(conn.execute(text("SELECT version FROM schema_version")).scalars())


def _todo(conn: Connection) -> tuple[list, list, bool]:
    """(legacy steps, revisions) still to run on this ledger, in order, and
    whether it is a ledger from before Alembic (to be stamped as the baseline)."""
    from loyalty_cli.store.migrations import legacy

    script = _script()
    current = _context(conn).get_current_revision()
    steps: list = []
    before_alembic = False
    if current is None:
        have = _versions(conn)
        if have:  # made before Alembic: the old steps up to version 6, then stamped as the baseline
            steps = [s for s in legacy.STEPS if s[0] > max(have)]
            current = PRE_ALEMBIC.get(max(have), BASELINE)
            before_alembic = True
    revisions = list(script.iterate_revisions("head", current))
    revisions.reverse()
    return steps, revisions, before_alembic


def pending(conn: Connection) -> list[tuple[int, str]]:
    """(schema version, what it does) of every step an upgrade would run."""
    steps, revisions, _ = _todo(conn)
    return [(v, name) for v, name, _ in steps] + [(r.module.SCHEMA_VERSION, r.doc) for r in revisions]


def upgrade(conn: Connection) -> list[tuple[int, str]]:
    """Run every pending step in the caller's transaction (an empty database
    gets the whole schema); returns what ran, as `pending` names it. On SQLite
    the caller must have turned foreign keys off before the transaction
    began (a table rebuild drops the old table): `foreign_key_check` is
    asked at the end instead."""
    from alembic.operations import Operations

    steps, revisions, before_alembic = _todo(conn)
    done = []
    for version, name, fn in steps:
        fn(conn)
        _record(conn, version, name)
        done.append((version, name))
    script = _script()
    ctx = _context(conn)
    if before_alembic:
        ctx.stamp(script, PRE_ALEMBIC.get(max(_versions(conn)), BASELINE))
    with Operations.context(ctx):
        for rev in revisions:
            rev.module.upgrade()
            for version, name in getattr(rev.module, "RECORDS", ((rev.module.SCHEMA_VERSION, rev.doc),)):
                _record(conn, version, name)
            ctx.stamp(script, rev.revision)
            done.append((rev.module.SCHEMA_VERSION, rev.doc))
    if conn.dialect.name == "sqlite":
        bad = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if bad:
            from loyalty_cli.errors import LedgerError

            raise LedgerError(f"the upgrade would leave {len(bad)} rows whose reference points nowhere "
                              f"(first: {tuple(bad[0])}); nothing was written")
    return done


def _record(conn: Connection, version: int, name: str) -> None:
    from sqlalchemy import DateTime, column, insert, table

    schema_version = table("schema_version", column("version"), column("name"), column("applied_at", DateTime))
    conn.execute(insert(schema_version).values(
        version=version, name=name, applied_at=datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)))
