"""Tamper evidence: every ledger entry carries a hash chained to the one before.

``hash(entry n) = sha256(hash(entry n-1) + canonical content of entry n)``,
starting from ``GENESIS``. The content is every column of the entry but the
hash itself: id, member id, dates, kind, points, order, action, note, links.
Personal data (name, e-mail, phone, birthday) lives in ``members`` and is not
in the chain, so `forget` can erase it without breaking anything.

Entry ids are given here, not by the database: 1, 2, 3, ... with no gaps,
under the write lock, so a removed entry shows as a gap as well as a broken
link. `verify` recomputes the chain from the first entry and names the first
one whose stored hash does not follow from its content and its predecessor:
an edit made outside loyalty, even with the append-only triggers dropped.

What a chain cannot show on its own: someone who knows this scheme can
rewrite the entries *and* recompute every hash after them, or cut entries off
the end. A head recorded elsewhere closes that gap: ``head()`` is
``"<entries>:<hash of the last>"``; `check --head` compares the ledger with
one noted earlier (`backup` prints it; the README's cron line logs it nightly).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from typing import Iterable, Iterator, NoReturn

from sqlalchemy import Connection, select

from loyalty_cli.store.models import entries

GENESIS = "0" * 64

# The columns a hash covers, in this order (everything but `hash`).
FIELDS = ("id", "member_id", "at", "kind", "points", "order_id", "action", "note", "reverses",
          "expires_on", "available_on", "recorded_at")


def _text(v):
    """A value as SQLite stores it (SQLAlchemy's formats), so that `verify`
    can hash the stored text as it is, with no parsing."""
    if isinstance(v, datetime):
        return f"{v:%Y-%m-%d %H:%M:%S.%f}"
    if isinstance(v, date):
        return v.isoformat()
    return v


# json.dumps with these options, with its encoder built once (json.dumps builds
# a new one on every call that passes options).
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def digest(previous: str, values: Iterable) -> str:
    """The hash of one entry: its predecessor's hash and its FIELDS values."""
    return hashlib.sha256(_encode([previous, *map(_text, values)]).encode("utf-8")).hexdigest()


def last(conn: Connection) -> tuple[int, str]:
    """(id, hash) of the newest entry, or (0, GENESIS) for an empty ledger."""
    row = conn.execute(select(entries.c.id, entries.c.hash).order_by(entries.c.id.desc()).limit(1)).first()
    return (row.id, row.hash or GENESIS) if row is not None else (0, GENESIS)


# Where the date and date-time columns are in FIELDS: their text is made once
# per distinct value when a batch is sealed (strftime cost more than the hash).
_DATED = tuple(i for i, f in enumerate(FIELDS) if f in ("at", "expires_on", "available_on", "recorded_at"))


def sealed(head: tuple[int, str], rows: Iterable[tuple], *, as_text: bool = False) -> list[tuple]:
    """New entries with their ids and hashes, continuing the chain from `head`
    (the (id, hash) of the newest entry, as `last` reads it): each row is the
    values of FIELDS after `id`, each result ``(id, *values, hash)``; with
    `as_text`, its dates and date-times are the text the hash covers, which
    is what SQLite stores (`bulk.dates_as_text`), ready for the driver. Pure:
    the caller (`posting.post`) inserts them, in this order, in the
    transaction that read `head`; writers are serialised (BEGIN IMMEDIATE on
    SQLite, `db.lock_chain` elsewhere), so nobody else extends the chain
    between that read and the insert."""
    n, h = head
    texts: dict = {}
    out = []
    for row in rows:
        n += 1
        values = (n, *row)
        parts = [h, *values]
        for i in _DATED:
            v = parts[i + 1]
            if v is not None:
                t = texts.get(v)
                if t is None:
                    t = texts[v] = _text(v)
                parts[i + 1] = t
        h = hashlib.sha256(_encode(parts).encode("utf-8")).hexdigest()
        parts.append(h)
        out.append(tuple(parts[1:]) if as_text else (*values, h))
    return out


def _stored(conn: Connection) -> Iterator[tuple]:
    """(FIELDS..., hash) of every entry, in id order, as stored."""
    cols = ", ".join((*FIELDS, "hash"))
    if conn.dialect.name == "sqlite":  # the stored text itself: hashing needs no parsing
        yield from conn.exec_driver_sql(f"SELECT {cols} FROM entries ORDER BY id")
    else:
        yield from conn.execute(select(*(entries.c[f] for f in (*FIELDS, "hash"))).order_by(entries.c.id))


def _entries(conn: Connection, want_n: int | None) -> tuple[list[str], int, str | None]:
    """The first break in the entries' chain (as a problem line), the number
    of entries, and the hash of entry `want_n` (the genesis hash for 0;
    None when there is no such entry or the chain broke before it)."""
    h, expected_id = GENESIS, 1
    seen = GENESIS if want_n == 0 else None
    for row in _stored(conn):
        *values, stored = row
        entry_id = values[0]
        if entry_id != expected_id:
            return [f"entry {entry_id}: follows entry {expected_id - 1}, but ids have no gaps: "
                    f"entr{'y' if entry_id - expected_id == 1 else 'ies'} {expected_id}"
                    f"{'' if entry_id - expected_id == 1 else f' to {entry_id - 1}'} removed outside loyalty"], \
                expected_id - 1, None
        h = digest(h, values)
        if stored != h:
            what = "has no hash" if stored is None else "hash does not match its content and the entry before it"
            return [f"entry {entry_id}: {what}: the entry, or one before it, was changed outside loyalty "
                    "(the chain is broken from here)"], expected_id - 1, None
        if entry_id == want_n:
            seen = stored
        expected_id += 1
    return [], expected_id - 1, seen


def combined(entry_hash: str, seal_hash: str) -> str:
    """The hash a head gives: of the entries' and the seals' chains at once."""
    return hashlib.sha256(f"{entry_hash}:{seal_hash}".encode("ascii")).hexdigest()


def verify(conn: Connection, head: str | None = None) -> list[str]:
    """Every break found: the first in the entries' chain, the first in the
    seals' chain and the first changed, added or removed row of each sealed
    table (store/seals.py). With `head` (``"<entries>.<seals>:<hash>"``
    noted earlier), also that the ledger still holds that head: nothing
    before it rewritten, nothing cut off. A head of an older loyalty
    (``"<entries>:<hash>"``) proves the entries only."""
    from loyalty_cli.store import seals

    want_n, want_s, want_h = parse_head(head) if head else (None, None, "")
    problems, count, entry_hash = _entries(conn, want_n)
    sealing, sealed_count, seal_hash = seals.verify(conn, want_s)
    problems += sealing
    if want_n is None or problems:
        return problems
    if entry_hash is None:
        if want_n > count:
            return [f"chain: the ledger has {count} entries, but the head given is entry {want_n}: "
                    "entries were removed from the end"]
        return [f"chain: the head given is entry {want_n}, but the ledger's entry {want_n} does not have "
                "that hash: the head does not match this ledger"]
    if want_n == 0 and not want_s and combined(entry_hash, seal_hash or GENESIS) != want_h and entry_hash != want_h:
        return [f"chain: the head given is of an empty ledger with hash {want_h[:16]}…, but this ledger's start "
                "does not have that hash: the head does not match this ledger"]
    if want_s is None:  # an older loyalty's head: the entries' chain only
        if entry_hash != want_h:
            return [f"entry {want_n}: hash is {entry_hash[:16]}…, the head given says {want_h[:16]}…: "
                    "the ledger was rewritten up to there"]
        return []
    if seal_hash is None:
        return [f"chain: the ledger has {sealed_count} seals, but the head given is seal {want_s}: "
                "seals were removed from the end"]
    if combined(entry_hash, seal_hash) != want_h:
        return [f"chain: the head given ({want_n} entries, {want_s} seals) says {want_h[:16]}…, the ledger "
                f"there has {combined(entry_hash, seal_hash)[:16]}…: the ledger was rewritten up to there"]
    return []


def parse_head(text: str) -> tuple[int, int | None, str]:
    """(entries, seals, hash) of a head as `check --print-head` prints it;
    seals is None in a head of an older loyalty (entries only)."""
    from loyalty_cli.domain.money import INT64_MAX, parse_whole, shown
    from loyalty_cli.errors import LoyaltyError

    def refuse(why: str = "") -> NoReturn:
        raise LoyaltyError(f"head {shown(text)} is not valid: expected <entries>.<seals>:<64 hex digits>, "
                           f"as `loyalty check --print-head` prints it{why}")

    counts, sep, h = text.strip().partition(":")
    n, dot, s = counts.partition(".")
    if not sep or not n.strip() or (dot and not s.strip()) or len(h) != 64 \
            or any(c not in "0123456789abcdef" for c in h):
        refuse()
    try:
        return (parse_whole(n, "the entry count", maximum=INT64_MAX),
                parse_whole(s, "the seal count", maximum=INT64_MAX) if dot else None, h)
    except LoyaltyError as e:
        refuse(f" ({e})")


def head(conn: Connection) -> str:
    """``"<entries>.<seals>:<hash>"``, the hash `combined` of the newest
    entry's and the newest seal's: note it, and `check --head` proves later
    that nothing up to it changed, in any table."""
    from loyalty_cli.store import seals

    n, h = last(conn)
    s, sh = seals.last(conn)
    return f"{n}.{s}:{combined(h, sh)}"
