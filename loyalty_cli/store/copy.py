"""A whole ledger copied to another database: `loyalty copy --to`, and `backup` of a PostgreSQL ledger.

The source is read on the caller's connection, one snapshot (a reader's
transaction: REPEATABLE READ on PostgreSQL). The target must be empty: a
database without tables, an empty SQLite file, or a file that does not exist
yet. Its schema is made by `db.create`, as `init` makes it, and in that same
transaction every table of the models is copied in foreign-key order, in
batches, with its ids; PostgreSQL's sequences are then set past the copied
ids. Before it commits, the target must hold as many rows per table as the
source and the same chain head, and pass `verify` (the api's `check`); any
difference rolls it all back (and removes a file this copy created).
`schema_version` is the one table not copied: the target records when its
own schema was made, and must be at the source's version.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, func, insert, select, text
from sqlalchemy.engine import make_url

from loyalty_cli.errors import LedgerError
from loyalty_cli.store import chain, db, models

BATCH = 1000
_OWN = "schema_version"  # made by the target's create, not copied


@dataclass(frozen=True)
class Copy:
    """What was (or, in a dry run, would be) copied: rows per table, in the
    order copied, and the chain head both sides hold."""

    tables: tuple[tuple[str, int], ...]
    head: str
    created_file: bool  # the target was an SQLite file that did not exist


def counts(conn: Connection) -> tuple[tuple[str, int], ...]:
    """Rows per table of the ledger, in foreign-key order (the copy's order)."""
    return tuple((t.name, conn.execute(select(func.count()).select_from(t)).scalar_one())
                 for t in models.metadata.sorted_tables if t.name != _OWN)


def copy(src: Connection, source_url: str, target_url: str, *, dry_run: bool = False,
         verify: Callable[[Connection], list[str]] | None = None) -> Copy:
    """Copy the ledger `src` reads (at `source_url`) into the empty ledger at
    `target_url`, or (`dry_run`) only say what would be copied, after
    checking that the target can take it."""
    where = db.describe(target_url)
    if _identity(target_url) == _identity(source_url):
        raise LedgerError(f"cannot copy the ledger {where} onto itself: give --to another database or file")
    have, head = counts(src), chain.head(src)
    file = db.sqlite_file(target_url)
    new_file = file is not None and not os.path.lexists(file)
    if new_file and dry_run:
        _parent_exists(file, where)  # type: ignore[arg-type]  # new_file: a file is named
        return Copy(have, head, True)
    engine = db.engine_for(target_url, create=True)
    try:
        _must_be_empty(engine, where)
        if not dry_run:
            db.create(engine, lambda conn, state: _fill(src, conn, state, where, (have, head), verify))
    except BaseException:
        engine.dispose()
        if new_file:
            _remove(file)  # type: ignore[arg-type]
        raise
    engine.dispose()
    return Copy(have, head, new_file)


def _fill(src: Connection, dst: Connection, state: str, where: str, expected, verify) -> None:
    """Inside the target's creating transaction: the rows, the sequences, the proof."""
    if state != "created":  # someone else set it up since we looked
        raise LedgerError(f"{where} already holds a ledger; copy only into an empty database")
    own = dst.execute(select(models.schema_version.c.version).order_by(models.schema_version.c.version)).scalars()
    mine = src.execute(select(models.schema_version.c.version).order_by(models.schema_version.c.version)).scalars()
    if list(own) != list(mine):
        raise LedgerError(f"the schema made in {where} is not the source's: nothing was copied")
    for table in models.metadata.sorted_tables:
        if table.name != _OWN:
            _copy_table(src, dst, table)
    if dst.dialect.name == "postgresql":
        _set_sequences(dst)
    _prove(dst, where, expected, verify)


def _copy_table(src: Connection, dst: Connection, table) -> None:
    stmt = select(table).order_by(*table.primary_key.columns).execution_options(yield_per=BATCH)
    for rows in src.execute(stmt).partitions(BATCH):
        dst.execute(insert(table), [r._asdict() for r in rows])


def _set_sequences(conn: Connection) -> None:
    """Each serial id's sequence past the highest id copied, so the next
    insert does not collide with a copied row."""
    for table in models.metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or pk[0].name != "id" or pk[0].type.python_type is not int:
            continue
        conn.execute(text(f"SELECT setval(pg_get_serial_sequence(:t, 'id'), "
                          f"(SELECT coalesce(max(id), 0) + 1 FROM {table.name}), false)"), {"t": table.name})


def _prove(dst: Connection, where: str, expected, verify) -> None:
    have, head = expected
    got = counts(dst)
    wrong = [f"{n} {a} rows, the source {b}" for (n, a), (_, b) in zip(got, have, strict=True) if a != b]
    if wrong:
        raise LedgerError(f"the copy in {where} does not match the source ({'; '.join(wrong)}); nothing was copied")
    if chain.head(dst) != head:
        raise LedgerError(f"the copy in {where} has chain head {chain.head(dst)}, the source {head}; "
                          "nothing was copied")
    problems = verify(dst) if verify is not None else []
    if problems:
        raise LedgerError(f"the copy in {where} fails check ({problems[0]}"
                          + (f", and {len(problems) - 1} more" if len(problems) > 1 else "") + "); nothing was copied")


def _must_be_empty(engine: Engine, where: str) -> None:
    names = db.table_names(engine, where)
    if not names:
        return
    if {"schema_version", "members", "entries"} <= names:
        raise LedgerError(f"{where} already holds a ledger; copy only into an empty database or a new file")
    shown = ", ".join(sorted(names)[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    raise LedgerError(f"{where} already holds tables ({shown}); copy only into an empty database or a new file")


def _identity(url: str) -> tuple:
    """What makes two URLs the same database: a file's real path, or the
    server's address and the database's name."""
    file = db.sqlite_file(url)
    if file is not None:
        return ("file", os.path.realpath(file))
    u = make_url(url)
    return (u.get_backend_name(), u.host or u.query.get("host"), u.port, u.database)


def _parent_exists(file: Path, where: str) -> None:
    if not file.parent.is_dir():
        raise LedgerError(f"cannot create {where}: folder {file.parent} does not exist")


def _remove(file: Path) -> None:
    for p in (file, *(Path(f"{file}{x}") for x in ("-wal", "-shm", "-journal"))):
        p.unlink(missing_ok=True)
