"""Opening the ledger, transactions and schema versions.

Everything specific to SQLite lives here: pragmas on every connection (WAL,
synchronous=FULL, foreign keys, busy timeout), BEGIN IMMEDIATE for writes, the
triggers that make the ledger append-only, and the translation of SQLite's
errors into one-line messages. The rest of the package speaks portable
SQLAlchemy.
"""

from __future__ import annotations

import errno
import glob
import os
import re
import sqlite3
import stat
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import Connection, Engine, create_engine, event, exc, inspect, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import functions
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from loyalty_cli.domain.config import hide_password
from loyalty_cli.errors import LedgerError
from loyalty_cli.store import migrations as _migrations
from loyalty_cli.store import models

BUSY_TIMEOUT_MS = 30_000


# The schema version this loyalty works on: its newest migration (store/migrations). A ledger at an
# older version is refused by every command until `loyalty upgrade` brings it here.
SCHEMA_VERSION = _migrations.SCHEMA_VERSION


def _sqlite_path(url: str) -> Path | None:
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        return None
    if not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def engine_for(url: str, *, create: bool = False) -> Engine:
    """An engine for the ledger at `url`. Refuses a missing SQLite file unless
    `create`, and anything at the path that is not a regular file (a folder,
    a FIFO, a device, a dangling symlink or a loop of them)."""
    try:
        u = make_url(url)
    except exc.ArgumentError:
        raise LedgerError(f"{hide_password(url)!r} is neither a file path nor a database URL") from None
    path = _sqlite_path(url)
    if path is not None:
        _check_ledger_path(path, create)
    try:
        if u.get_backend_name() == "sqlite":
            engine = create_engine(u, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
            event.listen(engine, "connect", _sqlite_on_connect)
            event.listen(engine, "begin", _sqlite_on_begin)
        else:
            engine = create_engine(u)
            if engine.dialect.name == "postgresql":
                event.listen(engine, "begin", _postgresql_on_begin)
    except (exc.ArgumentError, exc.NoSuchModuleError, ImportError) as e:
        raise LedgerError(f"cannot open ledger {_shown(u)}: {hide_password(str(e))}") from None
    return engine


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _check_ledger_path(path: Path, create: bool) -> None:
    """What is at the ledger's path must be a regular file (or nothing, for
    `create`, which then makes it owner-only from the first byte)."""
    if "\x00" in str(path):
        raise LedgerError(f"ledger path {str(path)!r} holds a NUL byte, which no file name can hold")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if path.is_symlink():
            raise LedgerError(f"ledger {path} is a symbolic link to {os.readlink(path)}, which does not exist; "
                              "remove the link or give the ledger's real path") from None
        if not create:
            raise LedgerError(f"no ledger at {path}; run `loyalty init` to create one, or pass --db") from None
        if not path.parent.is_dir():
            raise LedgerError(f"cannot create ledger {path}: folder {path.parent} does not exist") from None
        claim_file(path)
        return
    except NotADirectoryError:
        raise LedgerError(f"no ledger at {path}: a part of that path is a file, not a folder") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise LedgerError(f"ledger {path} is a loop of symbolic links that never reaches a file") from None
        raise LedgerError(f"cannot open the ledger {path}: {e.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise LedgerError(f"ledger {path} is a folder, not a ledger file")
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
        raise LedgerError(f"ledger {path} is {kind}, not a ledger file")


def claim_file(path: Path) -> bool:
    """Create the empty, owner-only file of a new SQLite ledger; False when
    another process made it first (it is theirs: never remove it)."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return False
    except OSError as e:
        raise LedgerError(f"cannot create ledger {path}: {e.strerror}") from None
    return True


def holds_tables(path: Path) -> bool:
    """Whether the SQLite file at `path` holds any table (someone's creation
    committed there); a file that cannot be read counts as holding some."""
    try:
        con = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            return con.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0] > 0
        finally:
            con.close()
    except sqlite3.Error:
        return True


def describe(url: str) -> str:
    """The ledger as messages name it: its path, or its URL without a password."""
    path = _sqlite_path(url)
    return str(path) if path is not None else _shown(make_url(url))


def _shown(url: URL) -> str:
    # SQLAlchemy hides the password before the host; libpq also takes one as ?password=
    return hide_password(url.render_as_string(hide_password=True))


def _sqlite_on_connect(dbapi_conn, _record) -> None:
    # Take transaction control from the driver: we emit BEGIN ourselves.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.execute("PRAGMA synchronous = FULL")
    cur.close()
    # journal_mode=WAL is persistent, so it is set once, by create(): opening a
    # file that turns out not to be a ledger must leave it exactly as it was.


def _sqlite_on_begin(conn: Connection) -> None:
    # Writers take the write lock up front, so a read-then-write never races
    # another writer; readers get a consistent snapshot.
    if conn.get_execution_options().get("loyalty_write"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


# The key of the ledger's write lock on PostgreSQL: a transaction-scoped advisory lock, which is
# local to the database, so every ledger on a server has its own.
WRITE_LOCK = 7351


def _postgresql_on_begin(conn: Connection) -> None:
    # What BEGIN IMMEDIATE is on SQLite: a writer waits for the ledger's one write lock before it
    # reads anything, so every check-then-write (an order id, a promo code's uses, a daily mark,
    # `init` on an empty database) sees what the writer before it committed (READ COMMITTED reads
    # the latest commit on each statement) and no other writer can slip in between. Readers take
    # no lock.
    if conn.get_execution_options().get("loyalty_write"):
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")


def _disk_full(folder: str | Path) -> str | None:
    """"the disk holding FOLDER is full", when it has no room left (asked only
    after SQLite failed with a full disk or an I/O error); None otherwise."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    free = st.f_bavail * st.f_frsize
    if free >= 64 * 1024:
        return None
    return f"the disk holding {folder} is full ({free:,} bytes free)"


def _translate(e: Exception, where: str) -> LedgerError:
    orig = getattr(e, "orig", None)  # the driver's error, when SQLAlchemy wrapped one
    msg = str(orig) if orig is not None else str(e)
    low = msg.lower()
    if "disk is full" in low or "disk i/o error" in low:
        full = _disk_full(os.path.dirname(os.path.abspath(where)))
        if full is not None:
            return LedgerError(f"ledger {where}: {full}; SQLite needs room beside the ledger even to read it "
                               f"(its -wal and -shm files); free some space and try again ({msg})")
    if "locked" in low or "busy" in low:
        return LedgerError(
            f"the ledger {where} is busy: another loyalty process held it for over "
            f"{BUSY_TIMEOUT_MS // 1000} s; nothing was written, try again"
        )
    if "not a database" in low or "malformed" in low or "disk image" in low:
        return LedgerError(f"{where} is not a loyalty ledger, or is damaged ({msg})")
    if "unable to open" in low or "readonly" in low or "read-only" in low:
        folder = os.path.dirname(os.path.abspath(where))
        if os.path.isfile(where) and not os.access(where, os.R_OK):
            return LedgerError(f"cannot open the ledger {where}: this user may not read it ({msg})")
        if os.path.isdir(folder) and not os.access(folder, os.W_OK):
            return LedgerError(f"cannot use the ledger {where}: its folder {folder} cannot be written by this user, "
                               f"and SQLite keeps the ledger's -wal and -shm files beside it ({msg})")
        if "unable to open" in low:
            return LedgerError(f"cannot open the ledger {where} ({msg})")
        return LedgerError(f"the ledger {where} is read-only ({msg})")
    if "integer overflow" in low or "bigint out of range" in low:  # SQLite's, PostgreSQL's
        return _overflow()
    if "duplicate key value violates unique constraint" in low or "unique constraint failed" in low:
        # PostgreSQL: 'duplicate key value violates unique constraint "purchases_order_id_key"' and a DETAIL line
        first = msg.strip().splitlines()[0] if msg.strip() else msg
        return LedgerError(f"the ledger {where} already holds that record ({first}): another writer recorded it "
                           "first; nothing was written, try again")
    if "append-only" in low or "never deleted" in low:  # a trigger: SQLite's RAISE, PostgreSQL's loyalty_refuse
        first = msg.strip().splitlines()[0] if msg.strip() else msg  # not PostgreSQL's CONTEXT lines
        return LedgerError(f"refused by the ledger {where}: {first}")
    return LedgerError(f"ledger {where}: {' '.join(msg.split())}")  # the driver's lines and tabs as one line


def _where(engine: Engine) -> str:
    path = _sqlite_path(str(engine.url))
    return str(path) if path is not None else _shown(engine.url)


@contextmanager
def transaction(engine: Engine, *, write: bool) -> Iterator[Connection]:
    """One transaction: BEGIN IMMEDIATE for writes (SQLite), committed on
    success and rolled back on any exception. The schema version is checked
    first: a ledger older than this loyalty is refused, by readers and
    writers alike (`older`): only `loyalty upgrade` migrates, never opening.
    A reader on PostgreSQL reads one snapshot (REPEATABLE READ), as SQLite's
    reader does: a report or an export streamed for minutes is of one moment."""
    where = _where(engine)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(loyalty_write=write)
            if not write and conn.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                current = _check_version(conn, where)
                if current < SCHEMA_VERSION:
                    raise older(where, current)
                yield conn
    except exc.DBAPIError as e:
        raise _translate(e, where) from None


def older(where: str, current: int) -> LedgerError:
    """The one line every command gives for a ledger older than this loyalty."""
    return LedgerError(f"ledger {where} has schema version {current}, older than this loyalty's "
                       f"({SCHEMA_VERSION}); run `loyalty upgrade`")


def _tables(names) -> str:
    names = sorted(names)
    return ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")


# PRAGMA application_id of a loyalty ledger ("LOY1"): set when init creates or
# upgrades one; a file with another application's id is never taken for one.
APPLICATION_ID = 0x4C4F5931


def _our_objects() -> set[tuple[str, str, str]]:
    """(type, name, table) of every schema object loyalty itself makes: its
    tables, their indexes and the append-only triggers."""
    objs = set()
    objs.add(("table", "alembic_version", "alembic_version"))  # Alembic's record of the ledger's revision
    for t in models.metadata.tables.values():
        objs.add(("table", t.name, t.name))
        objs.update(("index", ix.name, t.name) for ix in t.indexes if ix.name is not None)  # all are named
    for name in models.APPEND_ONLY:
        objs.update(("trigger", f"{name}_no_{op}", name) for op in ("update", "delete"))
    objs.update({("trigger", "promo_codes_no_delete", "promo_codes"),
                 ("trigger", "promo_codes_no_update", "promo_codes")})
    return objs


def _sqlite_header(conn: Connection) -> tuple[int, int]:
    """(user_version, application_id) of an SQLite file."""
    return (conn.exec_driver_sql("PRAGMA user_version").scalar() or 0,
            conn.exec_driver_sql("PRAGMA application_id").scalar() or 0)


def _foreign_sqlite(conn: Connection, where: str) -> None:
    """Refuse an SQLite file that holds anything loyalty did not make: a view,
    index, trigger or table of someone else's, a user_version (another tool's
    schema number) or another application's id."""
    user_version, app_id = _sqlite_header(conn)
    ours = _our_objects()
    rows = conn.exec_driver_sql("SELECT type, name, tbl_name FROM sqlite_master").fetchall()
    foreign = sorted(f"{t} {n}" for t, n, tb in rows if not n.startswith("sqlite_") and (t, n, tb) not in ours)
    why = []
    if app_id not in (0, APPLICATION_ID):
        why.append(f"its application_id is {app_id:#x}, another application's")
    if user_version:
        why.append(f"its user_version is {user_version} (another tool's schema number)")
    if foreign:
        why.append("it holds " + _tables(foreign) + ", which loyalty did not make")
    if why:
        raise LedgerError(f"{where} is not a loyalty ledger: {'; '.join(why)}; nothing was written to it")


def _mark_ours(conn: Connection) -> None:
    if conn.dialect.name == "sqlite" and _sqlite_header(conn)[1] != APPLICATION_ID:
        conn.exec_driver_sql(f"PRAGMA application_id = {APPLICATION_ID}")


def _table_names(conn: Connection) -> set[str]:
    """The tables in the ledger's schema. On PostgreSQL one read of the
    catalog: SQLAlchemy's reflection there costs a third of a short command."""
    if conn.dialect.name == "postgresql":
        return {r[0] for r in conn.exec_driver_sql(
            "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema()")}
    return set(inspect(conn).get_table_names())


def table_names(engine: Engine, where: str) -> set[str]:
    """The tables of the database `engine` opens (a copy's target, which must
    have none); an SQLite file holding objects of another tool's is refused."""
    try:
        with engine.connect() as conn:
            names = _table_names(conn)
            if not names and conn.dialect.name == "sqlite":
                _foreign_sqlite(conn, where)
            return names
    except exc.DBAPIError as e:
        raise _translate(e, where) from None


def _column_names(conn: Connection, table: str) -> set[str]:
    if conn.dialect.name == "postgresql":
        return {r[0] for r in conn.exec_driver_sql(
            "SELECT attname FROM pg_catalog.pg_attribute WHERE attnum > 0 AND NOT attisdropped "
            "AND attrelid = to_regclass(quote_ident(current_schema()) || '.' || quote_ident(%(t)s))", {"t": table})}
    return {c["name"] for c in inspect(conn).get_columns(table)}


def _check_version(conn: Connection, where: str) -> int:
    """The ledger's schema version, after making sure the file is a loyalty
    ledger: its schema_version table is ours, and every table in it is one
    loyalty made. Another application's database is refused before anything
    is read from or written to it."""
    names = _table_names(conn)
    if not names:
        if conn.dialect.name == "sqlite":
            _foreign_sqlite(conn, where)
        raise LedgerError(f"ledger {where} is empty; run `loyalty init` to set it up")
    ours = "schema_version" in names and {"members", "entries"} <= names and \
        {"version", "name", "applied_at"} <= _column_names(conn, "schema_version")
    if not ours:
        whose = " (its schema_version table is another tool's)" if "schema_version" in names else ""
        raise LedgerError(f"{where} is not a loyalty ledger: it has tables {_tables(names)}{whose}; "
                          "nothing was written to it")
    current = conn.execute(select(models.schema_version.c.version).order_by(
        models.schema_version.c.version.desc()).limit(1)).scalar()
    if current is None or current > SCHEMA_VERSION:
        raise LedgerError(
            f"ledger {where} has schema version {current}, newer than this loyalty knows "
            f"({SCHEMA_VERSION}); upgrade loyalty"
        )
    foreign = {n for n in names if n not in models.metadata.tables and n != "alembic_version"
               and not n.startswith("sqlite_")}
    if foreign:
        raise LedgerError(f"{where} is not a loyalty ledger: it has tables {_tables(foreign)}, which are not "
                          "loyalty's (another application's data in the same file); nothing was written to it")
    if conn.dialect.name == "sqlite":
        _foreign_sqlite(conn, where)
    return current


def sqlite_file(url: str) -> Path | None:
    """The file of an SQLite ledger URL; None for other databases."""
    return _sqlite_path(url)


def _wal(engine: Engine) -> None:
    """journal_mode=WAL, outside any transaction, on the driver's connection.
    Switching needs the file to itself: while another process holds it open
    (an init racing for a new ledger) it waits, as a busy write would."""
    if engine.dialect.name != "sqlite":
        return
    import time

    give_up = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        raw = engine.raw_connection()
        try:
            raw.cursor().execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e) or time.monotonic() > give_up:
                raise LedgerError(f"cannot set up ledger {_where(engine)}: {e}") from None
        finally:
            raw.close()
        time.sleep(0.05)


def create(engine: Engine, settle=None) -> str:
    """Create the schema in an empty ledger (every migration, in order).
    Returns "created", or "current" for a ledger that is up to date; an
    older one is refused (`older`: `loyalty upgrade` migrates). `settle(conn,
    state)`, when given, runs in the same transaction before it commits
    (raising rolls all of it back)."""
    where = _where(engine)
    path = _sqlite_path(str(engine.url))
    if path is not None and path.is_file() and path.stat().st_size == 0:
        _wal(engine)  # before any other init racing for the new file holds it open
    try:
        with _migrating(engine) as conn:
            names = _table_names(conn)
            if names:
                current = _check_version(conn, where)
                if current < SCHEMA_VERSION:
                    raise older(where, current)
                if settle is not None:
                    settle(conn, "current")
                _mark_ours(conn)
                return "current"
            if conn.dialect.name == "sqlite":  # only a truly empty file becomes a ledger
                _foreign_sqlite(conn, where)
            _migrations.upgrade(conn)
            _mark_ours(conn)
            if settle is not None:
                settle(conn, "created")
        _wal(engine)
        return "created"
    except exc.DBAPIError as e:
        raise _translate(e, where) from None


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """A write transaction for changing the schema. On SQLite foreign keys
    are off for it (set before BEGIN: SQLite ignores the pragma inside a
    transaction), as SQLite's own procedure for rebuilding a table asks;
    migrations.upgrade runs foreign_key_check before it returns instead."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
        try:
            conn = conn.execution_options(loyalty_write=True)
            with conn.begin():
                yield conn
        finally:
            if conn.dialect.name == "sqlite":
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys = ON")  # type: ignore[union-attr]


def upgrade(engine: Engine, *, dry_run: bool = False) -> tuple[int, list[tuple[int, str]]]:
    """Bring the ledger to this loyalty's schema in one transaction, under
    the write lock: (the version it had, [(version, what) of each step run]).
    With `dry_run`, the steps that would run, and nothing is written."""
    where = _where(engine)
    try:
        with _migrating(engine) as conn:
            if not _table_names(conn):
                raise LedgerError(f"ledger {where} is empty; run `loyalty init` to set it up")
            current = _check_version(conn, where)
            if dry_run or current == SCHEMA_VERSION:
                return current, _migrations.pending(conn)
            done = _migrations.upgrade(conn)
            now = _check_version(conn, where)
            if now != SCHEMA_VERSION:  # alembic_version and schema_version disagree: someone edited one
                raise LedgerError(f"ledger {where} is still at schema version {now} after its migrations ran "
                                  "(its alembic_version and schema_version disagree); nothing was written")
            _mark_ours(conn)
            return current, done
    except exc.DBAPIError as e:
        raise _translate(e, where) from None


def schema_version(conn: Connection) -> int:
    return conn.execute(text("SELECT max(version) FROM schema_version")).scalar_one()


class _CodePoint(ColumnElement):
    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column) -> None:
        self.column = column
        self.type = column.type


@compiles(_CodePoint)
def _code_point(element, compiler, **kw) -> str:
    return compiler.process(element.column, **kw)  # SQLite compares text by code point (BINARY) already


@compiles(_CodePoint, "postgresql")
def _code_point_postgresql(element, compiler, **kw) -> str:
    return f'{compiler.process(element.column, **kw)} COLLATE "C"'


@compiles(functions.sum, "postgresql")
def _sum_postgresql(element, compiler, **kw) -> str:
    # PostgreSQL's sum() of a BIGINT is NUMERIC (psycopg gives a Decimal), where SQLite's sum() of
    # integers is an integer and fails on overflow. Every sum in loyalty is of whole numbers
    # (minor units, points, counts; since schema version 7 BIGINT), so it is cast back: an int, as on
    # SQLite, and beyond 64 bits PostgreSQL's "bigint out of range", which _translate reports as
    # SQLite's overflow is.
    return f"CAST({compiler.visit_function(element, **kw)} AS BIGINT)"


def by_code_point(column) -> ColumnElement:
    """`column` for ORDER BY in the ledger's own order, by code point
    ("1004" < "Bob" < "anna"), whatever the database's collation: PostgreSQL
    sorts text by the server's language ("anna" < "Bob") unless told
    COLLATE "C"; SQLite compares by code point already. Every ORDER BY on a
    text column uses it, so a list, and the order in which a run posts its
    entries (their ids), are the same on both."""
    return _CodePoint(column)


def lock_member(conn: Connection, member_id: str) -> None:
    """Serialise writers on one member. SQLite's BEGIN IMMEDIATE already holds
    the database's write lock; other databases lock the member's row."""
    if conn.dialect.name != "sqlite":
        conn.execute(select(models.members.c.id).where(models.members.c.id == member_id).with_for_update())


def lock_chain(conn: Connection) -> None:
    """Serialise writers on the end of the hash chain. SQLite's BEGIN
    IMMEDIATE already does, and on PostgreSQL a write transaction already
    holds the write lock (WRITE_LOCK, taken again here at no cost, for a
    connection that was not opened as a writer)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")


def secure_delete(conn: Connection) -> None:
    """Make SQLite overwrite what this transaction deletes or replaces with
    zeros, instead of leaving it in free space inside the file."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA secure_delete = ON")


def scrub(engine: Engine, values=()) -> bool:
    """Leave no copy of erased data in the ledger's files: VACUUM rebuilds the
    file from live rows only, then a TRUNCATE checkpoint writes the WAL back
    and empties it (old page images included). False when another process
    kept reading an old snapshot for the whole busy timeout, so the WAL could
    not be emptied yet: running it again later finishes the job. On
    PostgreSQL, see _scrub_postgresql; `values` are the erased values, which
    the server's statistics must no longer hold."""
    where = _where(engine)
    try:
        if engine.dialect.name == "postgresql":
            return _scrub_postgresql(engine, values, where)
        if engine.dialect.name != "sqlite":
            return False
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("PRAGMA secure_delete = ON")
            cur.execute("VACUUM")
            busy = cur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            return busy == 0
        finally:
            raw.close()
    except exc.DBAPIError as e:
        raise _translate(e, where) from None
    except sqlite3.Error as e:
        raise _translate(e, where) from None


# VACUUM (FULL, VERBOSE)'s report of old row versions it had to keep for a transaction still open
_KEPT = re.compile(r"(\d+) dead row versions cannot be removed yet")


def _scrub_postgresql(engine: Engine, values, where: str) -> bool:
    """VACUUM FULL rewrites the members table (and its indexes and TOAST
    table) from its live rows into new files, and ANALYZE samples the table
    again, so the statistics (pg_stats) no longer hold an erased value. Then
    it is verified: the table's file is a new one, no erased value is left in
    pg_stats, and VACUUM reported no old row version kept for an open
    transaction (tried again for a moment; then False, as on SQLite: run it
    again when that transaction ends). A role that does not own the table
    cannot do either (the server only warns): that is refused, with the
    command for the table's owner."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        before = conn.exec_driver_sql("SELECT pg_relation_filenode('members')").scalar()
        for pause in (0.1, 0.3, 0.6, 1.0, None):  # a snapshot held a moment (an autovacuum's ANALYZE) passes
            clean = _vacuum_full(conn)
            if clean or pause is None:
                break
            time.sleep(pause)
        after, owner, user = conn.exec_driver_sql(
            "SELECT pg_relation_filenode(oid), pg_get_userbyid(relowner), current_user FROM pg_class "
            "WHERE oid = 'members'::regclass").one()
        kept = [v for v in values if _in_statistics(conn, v)]
    if after == before or kept:
        why = (f"the database role {user} does not own the table members ({owner} does), so the server "
               "skipped VACUUM FULL and ANALYZE" if user != owner else
               "VACUUM FULL and ANALYZE did not remove them")
        raise LedgerError(f"the server still holds old copies of the erased data in the table members and its "
                          f"statistics: {why}; as {owner} run `psql -d {engine.url.database} -c 'VACUUM FULL "
                          f"members' -c 'ANALYZE members'`")
    return clean


def _vacuum_full(conn: Connection) -> bool:
    """VACUUM FULL and ANALYZE of members; False when VACUUM said it had to
    keep old row versions for a transaction still open."""
    said: list[str] = []
    raw: Any = conn.connection.dbapi_connection
    listen = hasattr(raw, "add_notice_handler")  # psycopg 3; psycopg2 keeps them in raw.notices

    def heard(d) -> None:
        said.append(f"{d.message_primary or ''} {d.message_detail or ''}")

    if listen:
        raw.add_notice_handler(heard)
    try:
        conn.exec_driver_sql("VACUUM (FULL, VERBOSE) members")
        conn.exec_driver_sql("ANALYZE members")
    finally:
        if listen:
            raw.remove_notice_handler(heard)
    said.extend(getattr(raw, "notices", None) or [])
    return not any(int(n) for m in said for n in _KEPT.findall(m))


def _in_statistics(conn: Connection, value) -> bool:
    shown = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return bool(conn.exec_driver_sql(
        "SELECT EXISTS (SELECT 1 FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'members' "
        "AND (%(v)s = ANY(most_common_vals::text::text[]) OR %(v)s = ANY(histogram_bounds::text::text[])))",
        {"v": shown}).scalar())


def sqlite_url(path: str | Path) -> str:
    """The SQLAlchemy URL of the SQLite file at `path`, quoted, so that a
    file called `shop?.db` or `50%.db` is that file, not a query string or an
    escape."""
    return URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)


def _partial_files(target: Path) -> list[Path]:
    return sorted(target.parent.glob(f"{glob.escape(target.name)}.partial-*"))


def _fsync(path: Path, *, folder: bool = False) -> None:
    fd = os.open(path, (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if folder else os.O_RDWR)
    try:
        os.fsync(fd)
    except OSError:
        if not folder:  # some file systems cannot sync a folder; the file itself must be
            raise
    finally:
        os.close(fd)


def backup(engine: Engine, target: Path, verify, write=None):  # noqa: C901 -- each step's failure has its own message and clean-up
    """An online, consistent copy of the SQLite ledger at `target` (VACUUM
    INTO: one read transaction, so writers carry on and the copy is one
    moment of the ledger, compacted), readable by its owner only; another
    database's ledger is written by `write(path)` instead (the copy of
    store/copy.py, into the new, empty SQLite file at `path`). The copy is
    written under a temporary name beside `target` (`NAME.partial-PID`),
    synced, opened by `verify(path)` (whose result is returned), and only
    then given its name, without ever replacing a file: a backup that is
    killed leaves no file under `target`, and running it again works (it
    removes what killed runs left). Refuses a target that exists."""
    where = _where(engine)
    if engine.dialect.name != "sqlite" and write is None:
        raise LedgerError("backup copies SQLite ledgers; for PostgreSQL use pg_dump")
    if target.is_dir():
        raise LedgerError(f"{target} is a folder; give the backup file's name, e.g. {target / 'loyalty-backup.db'}")
    if target.exists() or target.is_symlink():
        raise LedgerError(f"{target} already exists; backup never overwrites a file")
    if not target.parent.is_dir():
        raise LedgerError(f"cannot write {target}: folder {target.parent} does not exist")
    prefix = f"{target.name}.partial-"
    for old in _partial_files(target):  # left by a backup that was killed (with its -journal, -wal, -shm)
        pid = old.name[len(prefix):].split("-", 1)[0]
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            old.unlink(missing_ok=True)
        except (ValueError, OSError):
            pass
    partial = target.with_name(f"{prefix}{os.getpid()}")
    try:
        os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))  # owner-only from the start
    except OSError as e:
        raise LedgerError(f"cannot write {target}: {e.strerror}") from None
    try:
        try:
            if write is not None:
                write(partial)
            else:
                _vacuum_into(engine, partial)
            _fsync(partial)
        except (exc.DBAPIError, sqlite3.Error) as e:
            msg = str(getattr(e, "orig", None) or e)
            if "full" in msg.lower() or "disk i/o" in msg.lower():  # writing the copy failed, not the ledger
                raise LedgerError(f"cannot write the backup {target}: {_disk_full(target.parent) or msg}; "
                                  "no backup was written") from None
            raise _translate(e, where) from None
        except OSError as e:
            raise LedgerError(f"cannot write {target}: {e.strerror}") from None
        result = verify(partial)
        try:
            os.link(partial, target)  # never replaces: fails if the name was taken meanwhile
        except FileExistsError:
            raise LedgerError(f"{target} already exists; backup never overwrites a file") from None
        except OSError:  # no hard links on this file system
            if target.exists() or target.is_symlink():
                raise LedgerError(f"{target} already exists; backup never overwrites a file") from None
            os.rename(partial, target)
        _fsync(target.parent, folder=True)
        return result
    finally:
        for p in (partial, *(partial.with_name(partial.name + x) for x in ("-journal", "-wal", "-shm"))):
            p.unlink(missing_ok=True)


def _vacuum_into(engine: Engine, path: Path) -> None:
    raw = engine.raw_connection()
    try:
        raw.cursor().execute("VACUUM INTO ?", (str(path),))
    finally:
        raw.close()


def sqlite_integrity(conn: Connection) -> list[str]:
    """SQLite's own integrity check: [] when the file is sound."""
    if conn.dialect.name != "sqlite":
        return []
    rows = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check").fetchall()]
    return [] if rows == ["ok"] else rows


def ledger_currency(conn: Connection) -> str | None:
    return conn.execute(select(models.meta.c.value).where(models.meta.c.key == "currency")).scalar()


def bind_currency(conn: Connection, code: str, decimals: int) -> str | None:
    """Refuse a programme whose currency differs from the ledger's: amounts are
    stored in minor units, so another currency would silently rescale them.
    For a ledger that has not recorded its currency yet, the value its meta
    row "currency" is to get (the caller records it, sealed); else None."""
    have = ledger_currency(conn)
    want = f"{code}:{decimals}"
    if have is None:
        return want
    if have != want:
        raise LedgerError(
            f"the ledger keeps its amounts in {have.split(':')[0]}, but the programme says {code}; "
            "the currency of a ledger cannot change")
    return None


def plain_rows(conn: Connection, stmt) -> list[tuple]:
    """Every row of a query as the driver's own tuples, without SQLAlchemy's
    per-row result processing: for whole-ledger reads of hundreds of
    thousands of rows (a third of `balance`'s time was spent there). Only for
    queries whose columns are text and integers, which the driver returns
    as they are; dates would come back as SQLite's stored text."""
    result = conn.execute(stmt)
    try:
        rows = result.cursor.fetchall()  # a list from sqlite3 and psycopg; PEP 249 promises only a sequence
        return rows if isinstance(rows, list) else list(rows)
    except Exception as e:  # the driver's own error: not wrapped by SQLAlchemy here
        if "integer overflow" in str(e) or "bigint out of range" in str(e):
            raise _overflow() from None
        raise
    finally:
        result.close()


def _overflow() -> LedgerError:
    return LedgerError("a total over the ledger is beyond 9,223,372,036,854,775,807, the most a 64-bit sum "
                       "can hold, so it cannot be added up")


def changes(conn: Connection) -> int | None:
    """Rows the connection has inserted, updated or deleted since it was
    opened (SQLite's total_changes); None where the driver does not say."""
    try:
        return conn.connection.dbapi_connection.total_changes  # type: ignore[union-attr]
    except Exception:
        return None
