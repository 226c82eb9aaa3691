"""Writes in bulk: rows inserted in one go, and the members' cached balances
moved in one statement.

On SQLite the rows go straight to the driver's ``executemany`` as tuples:
SQLAlchemy Core's per-row parameter processing cost 26 µs a row, more than
the insert itself (benchmarks/README.md). Only date and date-time columns are
converted, each distinct value once, by SQLAlchemy's own bind processor, so
what is stored is byte-identical to what Core would store. Every other
database gets portable Core.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from sqlalchemy import Connection, Date, DateTime, Table, bindparam, insert, update

from loyalty_cli.store.models import members


def dates_as_text(conn: Connection) -> bool:
    """Whether the database keeps dates and date-times as the text the hash
    chain covers (`chain._text`: SQLAlchemy's SQLite formats), so that rows
    sealed `as_text` can go to the driver as they are."""
    return conn.dialect.name == "sqlite"


def insert_rows(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple], *,
                as_text: bool = False) -> None:
    """Insert `rows`, tuples of the values of `columns` in that order; with
    `as_text` (only where `dates_as_text`), their dates are already the
    stored text."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(insert(table), [dict(zip(columns, r, strict=True)) for r in rows])
        return
    procs = [None if as_text and isinstance(table.c[c].type, (Date, DateTime))
             else table.c[c].type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for c in columns]
    convert: list[tuple[int, Callable[[Any], Any], dict[Any, Any]]] = [
        (i, p, {}) for i, p in enumerate(procs) if p is not None]
    data: Sequence[tuple] = rows
    if convert:
        data = []
        for r in rows:
            values = list(r)
            for i, proc, cache in convert:
                v = values[i]
                if v is not None:
                    hit = cache.get(v)
                    if hit is None:
                        hit = cache[v] = proc(v)
                    values[i] = hit
            data.append(tuple(values))
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    conn.exec_driver_sql(sql, list(data))


def insert_dicts(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows`, dicts that all have the same keys in the same order."""
    if rows:
        insert_rows(conn, table, list(rows[0]), [tuple(r.values()) for r in rows])


def add_points(conn: Connection, deltas: Mapping[str, int]) -> None:
    """Add each member's points to their cached balance (members.points), one
    statement for all of them."""
    if not deltas:
        return
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("UPDATE members SET points = points + ? WHERE id = ?",
                             [(p, m) for m, p in deltas.items()])
    else:
        conn.execute(update(members).where(members.c.id == bindparam("m"))
                     .values(points=members.c.points + bindparam("p")),
                     [{"m": m, "p": p} for m, p in deltas.items()])


def large_cache(conn: Connection, kib: int) -> None:
    """Give SQLite `kib` KiB of page cache for this connection's bulk write
    (an import writes member by member, so order ids reach their unique index
    in no particular order: the index's pages had better stay in memory)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA cache_size = -{kib}")
