"""Tamper evidence for every table but `entries`: each row written is sealed.

`entries` carry their own chain (chain.py). Every other row that carries
meaning -- purchases, refunds, allocations, tier changes, promo codes and
their uses, referral codes, referrals and their rewards, birthday bonuses,
consent changes, meta, and the members' non-personal fields -- gets a
*seal* when loyalty writes it: a row of `seals` with the table, the row's
key, the sha256 *digest* of its canonical content, and a *hash* chained to
the seal before it::

    digest = sha256(canonical JSON of the row's sealed columns)
    hash n = sha256(JSON [hash n-1, n, table, key, digest])   (from GENESIS)

A row loyalty changes (a member's consent or erasure, a promo code's
disabling, the daily run's mark) is sealed again: its newest seal is the
one its content must match, the older ones stay in the chain.

The canonical content is a JSON object (keys sorted, compact, UTF-8) of the
row's columns that are not NULL, each encoded by its column's type, never
by what a driver returns: integers as JSON integers, booleans as true/false,
dates as ``YYYY-MM-DD``, date-times as ``YYYY-MM-DDTHH:MM:SS.ffffff``, text
as text. So the same row has the same digest on SQLite and PostgreSQL, and a
column a later schema adds (NULL in old rows) does not change old digests.
Left out: the members' personal data (name, e-mail, phone, birthday), so
that `forget` never breaks anything, and `members.points`, the cached
balance, which `check` proves against the entries instead.

`verify` recomputes the seals' chain, then every row's digest, and names
per table the first row changed, inserted or removed outside loyalty. Seal
ids are given here, 1, 2, 3, ..., under the write lock.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any, Callable, Iterable, Mapping

from sqlalchemy import BigInteger, Boolean, Connection, Date, DateTime, Integer, Table, cast, select

from loyalty_cli.store import models
from loyalty_cli.store.chain import GENESIS
from loyalty_cli.store.models import seals

# table -> (its key column, the columns left out of its content)
SEALED: dict[str, tuple[str, tuple[str, ...]]] = {
    "members": ("id", ("name", "email", "phone", "birthday", "points")),
    "purchases": ("id", ()),
    "refunds": ("id", ()),
    "allocations": ("id", ()),
    "tier_changes": ("id", ()),
    "promo_codes": ("id", ()),
    "promo_uses": ("id", ()),
    "referral_codes": ("member_id", ()),
    "referrals": ("referee_id", ()),
    "referral_rewards": ("referee_id", ()),
    "birthday_bonuses": ("entry_id", ()),
    "consent_changes": ("id", ()),
    "meta": ("key", ()),
}

# What check calls a row of each table
NOUNS = {"members": "member", "purchases": "purchase", "refunds": "refund", "allocations": "allocation",
         "tier_changes": "tier change", "promo_codes": "promo code", "promo_uses": "promo use",
         "referral_codes": "referral code of member", "referrals": "referral of member",
         "referral_rewards": "referral reward of member", "birthday_bonuses": "birthday bonus of entry",
         "consent_changes": "consent change", "meta": "meta"}

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_encode_sorted = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode


def _kind(column) -> str:
    """How a column's values are encoded in the canonical content."""
    t = column.type
    if isinstance(t, Boolean):
        return "bool"
    if isinstance(t, DateTime):
        return "datetime"
    if isinstance(t, Date):
        return "date"
    if isinstance(t, (Integer, BigInteger)):
        return "int"
    return "text"


ENCODE: dict[str, Callable[[Any], Any]] = {
    "bool": bool,
    "datetime": lambda v: v.isoformat(sep="T", timespec="microseconds"),
    "date": date.isoformat,
    "int": int,
    "text": str,
}


def _columns(name: str) -> dict[str, str]:
    table = models.metadata.tables[name]
    left_out = SEALED[name][1]
    return {c.name: _kind(c) for c in table.columns if c.name not in left_out}


# table -> {column: kind} of the columns its content covers (today's schema)
COLUMNS = {name: _columns(name) for name in SEALED}


def content(kinds: Mapping[str, str], row: Mapping[str, Any]) -> str:
    """The canonical content of a row (a mapping of column names to values)
    whose columns are of these `kinds`; columns not in `kinds` are left out."""
    return _encode_sorted({c: ENCODE[k](row[c]) for c, k in kinds.items() if row.get(c) is not None})


def digest(kinds: Mapping[str, str], row: Mapping[str, Any]) -> str:
    return hashlib.sha256(content(kinds, row).encode("utf-8")).hexdigest()


def link(previous: str, n: int, table: str, key: str, row_digest: str) -> str:
    """The hash of seal `n`: its predecessor's hash, its table, key and digest."""
    return hashlib.sha256(_encode([previous, n, table, key, row_digest]).encode("utf-8")).hexdigest()


def last(conn: Connection) -> tuple[int, str]:
    """(id, hash) of the newest seal, or (0, GENESIS) when there is none."""
    row = conn.execute(select(seals.c.id, seals.c.hash).order_by(seals.c.id.desc()).limit(1)).first()
    return (row.id, row.hash) if row is not None else (0, GENESIS)


def sealed(head: tuple[int, str], table: str, rows: Iterable[Mapping[str, Any]], *,
           key: str | None = None, kinds: Mapping[str, str] | None = None) -> list[tuple]:
    """Seals for `rows` of `table`, continuing the chain from `head` (as
    `last` reads it): ``(id, table, key, digest, hash)`` each. Pure. `key`
    and `kinds` default to today's schema (a migration passes its own)."""
    n, h = head
    key = key or SEALED[table][0]
    kinds = kinds if kinds is not None else COLUMNS[table]
    out = []
    for row in rows:
        n += 1
        k, d = str(row[key]), digest(kinds, row)
        h = link(h, n, table, k, d)
        out.append((n, table, k, d, h))
    return out


# ---------------------------------------------------------------------------
# verify
# ---------------------------------------------------------------------------


def _seal_chain(conn: Connection, want: int | None) -> tuple[list[str], int, str | None]:
    """The first break in the seals' own chain (as a problem line), the
    number of seals, and the hash of seal `want` (None if there is none)."""
    h, expected = GENESIS, 1
    at_want = GENESIS if want == 0 else None
    for n, table, key, row_digest, stored in conn.execute(
            select(seals.c.id, seals.c.table_name, seals.c.row_key, seals.c.digest, seals.c.hash)
            .order_by(seals.c.id)):
        if n != expected:
            return ([f"seal {n}: follows seal {expected - 1}, but seal ids have no gaps: seals removed outside "
                     "loyalty"], n, None)
        h = link(h, n, table, key, row_digest)
        if stored != h:
            return ([f"seal {n}: hash does not match its content and the seal before it: the seal, or one "
                     "before it, was changed outside loyalty (the seals' chain is broken from here)"], n, None)
        if n == want:
            at_want = h
        expected += 1
    return [], expected - 1, at_want


def _key_text(column):
    return column if isinstance(column.type, models.AutoString) else cast(column, models.AutoString)


def _rows(conn: Connection, name: str):
    """The rows of table `name` in key order, each with the digest of its
    newest seal (`sealed_digest`, None when it has none): a result to close."""
    from loyalty_cli.store.db import by_code_point

    table: Table = models.metadata.tables[name]
    key = table.c[SEALED[name][0]]
    newest = (select(seals.c.digest).where(seals.c.table_name == name, seals.c.row_key == _key_text(key))
              .order_by(seals.c.id.desc()).limit(1).scalar_subquery())
    order = key if not isinstance(key.type, models.AutoString) else by_code_point(key)
    cols = [table.c[c] for c in COLUMNS[name]]
    return conn.execute(select(*cols, newest.label("sealed_digest")).order_by(order)
                        .execution_options(yield_per=2000))


def _removed(conn: Connection, name: str) -> str | None:
    """The key of the first sealed row of `name` that is no longer there."""
    table: Table = models.metadata.tables[name]
    key = table.c[SEALED[name][0]]
    wanted = seals.c.row_key if isinstance(key.type, models.AutoString) else cast(seals.c.row_key, key.type)
    gone = (select(seals.c.row_key).where(seals.c.table_name == name,
                                           ~select(key).where(key == wanted).exists())
            .order_by(seals.c.id).limit(1))
    return conn.execute(gone).scalar()


def _table(conn: Connection, name: str) -> list[str]:
    noun, key_column, kinds = NOUNS[name], SEALED[name][0], COLUMNS[name]
    with _rows(conn, name) as result:
        for row in result.mappings():
            if row["sealed_digest"] is None:
                return [f"{noun} {row[key_column]}: has no seal: the row was added outside loyalty"]
            if digest(kinds, row) != row["sealed_digest"]:
                return [f"{noun} {row[key_column]}: does not match its seal: the row was changed outside loyalty"]
    key = _removed(conn, name)
    if key is not None:
        return [f"{noun} {key}: is sealed but no longer in {name}: the row was removed outside loyalty"]
    return []


def verify(conn: Connection, want: int | None = None) -> tuple[list[str], int, str | None]:
    """Every break found (the seals' chain, then the first changed, added or
    removed row of each table), the number of seals, and the hash of seal
    `want` (for a head noted earlier)."""
    problems, count, at_want = _seal_chain(conn, want)
    for name in SEALED:
        problems.extend(_table(conn, name))
    return problems, count, at_want


SEAL_COLUMNS = ("id", "table_name", "row_key", "digest", "hash")
