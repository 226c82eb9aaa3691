"""The one posting function: every point movement in the ledger goes through `post`.

A `Posting` is an entry to be written: whose, when, its kind, its signed
points, the entries it settles against (its allocations) and the entry's
other columns. Planners decide what to post: `operations._credit` (earn,
promo, welcome, birthday, award, referral, a positive adjustment, a refund's
restore; a new lot pays the member's debt first), `operations._debit`
(redeem, a negative adjustment, a refund's claw-back, FIFO over the lots) and
`operations.expire_due` (expiry), and the import's fast path, which posts a
whole batch of members' earnings in one call. `post` writes a batch:

1. refuses, before anything is written, a balance that would leave 64 bits
   (a LoyaltyError, as every refusal);
2. seals the entries into the hash chain and inserts them, the allocations
   and the members' cached balances (`store.bulk`: one statement each);
3. asserts, in the same transaction, what the ledger promises after it:
   the chain extended (the new ids follow the old head, which they link to,
   and the stored head is the last new entry); no lot over-allocated (what
   the allocations take from a credit is at most its points; what a debit's
   allocations cover is at most its size; an allocation links a debit to a
   credit of the same member); and every touched member's cached balance
   equals the sum of their entries. A broken invariant is a bug, not the
   user's input: it raises `PostingError` (an AssertionError, never stripped
   by ``python -O``), and the transaction rolls back.

Every other row is written by `record` (insert, with the next ids, which
loyalty gives) or `amend` (the few rows loyalty changes: a member's personal
data and consent, a promo code disabled, the daily mark), and sealed by
`seal` in the same transaction (store/seals.py), which asserts that the
seals' chain was extended by exactly those seals, linked to the seal that
was last. Nothing else in loyalty writes a table (tests/ledger/
test_posting.py proves it from the source), so a row without its seal was
written outside loyalty.

The checks cost a few indexed queries per call, whatever the batch's size:
one for the chain, one per 500 entries the allocations touch, one per 500
touched members, each summing those members' own entries (index on
member_id). An import of a million rows makes them per batch of about 5,000
rows, not per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Iterator, Mapping, Sequence

from sqlalchemy import Connection, Table, func, select, update

from loyalty_cli.domain import rules
from loyalty_cli.queries.standing import recorded_now
from loyalty_cli.store import bulk, chain, seals
from loyalty_cli.store.db import lock_chain, plain_rows
from loyalty_cli.store.models import allocations, entries, members
from loyalty_cli.store.models import seals as seals_table

CHUNK = 500  # ids passed to one query (SQLite takes at most 32,766 parameters)

ENTRY_COLUMNS = (*chain.FIELDS, "hash")
ALLOCATION_COLUMNS = ("id", "debit_id", "credit_id", "points")


class PostingError(AssertionError):
    """A posting broke an invariant of the ledger: a bug in loyalty, not a
    refusal of the user's input. Raised inside the write transaction, which
    rolls back, so nothing of it is written."""


@dataclass(frozen=True, slots=True)
class Posting:
    """One entry to post. `points` is signed: a credit (> 0) is a lot, a
    debit (< 0) takes points from lots. `allocations` are (entry id, points)
    pairs, in the order they apply: for a debit, the lots (credits) it takes
    points from; for a credit, the member's open debits it pays."""

    member: str
    at: datetime
    kind: str
    points: int
    allocations: tuple[tuple[int, int], ...] = ()
    order_id: str | None = None
    action: str | None = None
    note: str | None = None
    reverses: int | None = None
    expires_on: date | None = None
    available_on: date | None = None


def post(conn: Connection, postings: Sequence[Posting], *, recorded_at: datetime | None = None) -> list[int]:
    """Write `postings` (in this order) and return their entry ids; see the
    module's docstring for what is written and asserted. Runs inside the
    caller's write transaction."""
    if not postings:
        return []
    deltas = _deltas(postings)
    _refuse_overflow(conn, deltas)
    recorded = recorded_at or recorded_now()
    lock_chain(conn)
    head = chain.last(conn)
    as_text = bulk.dates_as_text(conn)  # SQLite: the texts the hash covers are what is stored
    rows = chain.sealed(head, ((p.member, p.at, p.kind, p.points, p.order_id, p.action, p.note, p.reverses,
                                p.expires_on, p.available_on, recorded) for p in postings), as_text=as_text)
    bulk.insert_rows(conn, entries, ENTRY_COLUMNS, rows, as_text=as_text)
    ids = [r[0] for r in rows]
    links = _allocation_rows(postings, ids)
    if links:
        first = next_id(conn, allocations)
        numbered = [(first + i, *link) for i, link in enumerate(links)]
        bulk.insert_rows(conn, allocations, ALLOCATION_COLUMNS, numbered)
        seal(conn, allocations, [dict(zip(ALLOCATION_COLUMNS, r, strict=True)) for r in numbered])
    bulk.add_points(conn, deltas)
    assert_chain_extended(conn, head, rows)
    if links:
        assert_lots_within(conn, links)
    assert_balances_match(conn, list(deltas))
    return ids


# ---------------------------------------------------------------------------
# every other row: recorded and sealed
# ---------------------------------------------------------------------------


def next_id(conn: Connection, table: Table) -> int:
    """The id the next row of `table` gets: ids are given by loyalty, under
    the write lock, so that a seal can name its row (and the same run gives
    the same ids on SQLite and PostgreSQL)."""
    return (conn.execute(select(func.max(table.c.id))).scalar() or 0) + 1


def record(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> list:
    """Insert `rows` of `table` (every row but an entry, which `post`
    writes) and seal them (store/seals.py); returns their keys. A column a
    row does not name gets its default (or NULL); a table with an integer
    id gets the next ids. Runs inside the caller's write transaction."""
    if not rows:
        return []
    lock_chain(conn)
    key = seals.SEALED[table.name][0]
    full = [{c.name: r[c.name] if c.name in r else _default(c) for c in table.columns} for r in rows]
    if key == "id" and "id" in table.c and table.c.id.type.python_type is int:
        first = next_id(conn, table)
        for i, r in enumerate(full):
            r["id"] = first + i
    columns = list(full[0])
    bulk.insert_rows(conn, table, columns, [tuple(r[c] for c in columns) for r in full])
    seal(conn, table, full)
    return [r[key] for r in full]


def amend(conn: Connection, table: Table, key: Any, **values: Any) -> None:
    """Change a row loyalty may change (a member's personal data and
    consent, a promo code's disabling, the daily mark) and seal it again."""
    column = table.c[seals.SEALED[table.name][0]]
    conn.execute(update(table).where(column == key).values(**values))
    row = conn.execute(select(table).where(column == key)).one()
    seal(conn, table, [dict(row._mapping)])


def _default(column) -> Any:
    default = column.default
    return default.arg if default is not None and default.is_scalar else None


def seal(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Seal `rows` of `table`, as just written, and assert that the seals'
    chain was extended by exactly them."""
    lock_chain(conn)
    head = seals.last(conn)
    new = seals.sealed(head, table.name, rows)
    bulk.insert_rows(conn, seals_table, seals.SEAL_COLUMNS, new)
    n, k = head[0], len(new)
    count, top = conn.execute(select(func.count(), func.max(seals_table.c.id)).where(seals_table.c.id > n)).one()
    if (count, top) != (k, n + k):
        raise PostingError(f"the seals: {count} after seal {n}, up to {top}; {k} were written, up to {n + k}")
    linked = conn.execute(select(seals_table.c.hash).where(seals_table.c.id == n)).scalar() if n else seals.GENESIS
    if linked != head[1]:
        raise PostingError(f"the seals: the new seals were linked to seal {n} with hash {head[1][:16]}…, which is "
                           "not the seal before them")


def _deltas(postings: Sequence[Posting]) -> dict[str, int]:
    """Each member's change of balance; a posting that cannot be an entry
    (no points, an allocation of no points, more allocated than its size) is
    a bug, found before anything is written."""
    deltas: dict[str, int] = {}
    for p in postings:
        if not p.points:
            raise PostingError(f"a {p.kind} entry of 0 points for member {p.member}")
        if p.allocations:
            size = abs(p.points)
            if any(points <= 0 for _, points in p.allocations):
                raise PostingError(f"a {p.kind} entry of {p.points} for member {p.member} allocates 0 or fewer "
                                   f"points: {list(p.allocations)}")
            if sum(points for _, points in p.allocations) > size:
                raise PostingError(f"a {p.kind} entry of {p.points} for member {p.member} allocates more than "
                                   f"its size: {list(p.allocations)}")
        deltas[p.member] = deltas.get(p.member, 0) + p.points
    return deltas


def _chunks(items: list, n: int = CHUNK) -> Iterator[list]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def _refuse_overflow(conn: Connection, deltas: dict[str, int]) -> None:
    """Refuse (before the write) points that would take a balance beyond 64
    bits: SQLite would turn an overflowing sum into a float."""
    big = sorted(deltas)
    found: dict[str, int] = {}
    for chunk in _chunks(big):
        found.update(plain_rows(conn, select(members.c.id, members.c.points).where(members.c.id.in_(chunk))))
    for m in big:
        if m not in found:
            raise PostingError(f"a posting for member {m}, who is not in the ledger")
        rules.within_int64(found[m] + deltas[m], f"member {m}'s balance would hold")


def _allocation_rows(postings: Sequence[Posting], ids: list[int]) -> list[tuple[int, int, int]]:
    """(debit_id, credit_id, points) of every allocation, the new entry on
    its own side."""
    rows: list[tuple[int, int, int]] = []
    for p, entry_id in zip(postings, ids, strict=True):  # (without their ids, which `post` gives)
        if p.allocations:
            if p.points < 0:
                rows.extend((entry_id, other, points) for other, points in p.allocations)
            else:
                rows.extend((other, entry_id, points) for other, points in p.allocations)
    return rows


# ---------------------------------------------------------------------------
# the invariants, asserted after the write, in the same transaction
# ---------------------------------------------------------------------------


def assert_chain_extended(conn: Connection, head: tuple[int, str], rows: list[tuple]) -> None:
    """The new entries extend the chain: their ids run on from the head they
    were linked to (which is still the entry before them), with nothing else
    after it, and the stored head is the last of them."""
    n, h = head
    k = len(rows)
    if rows[0][0] != n + 1:
        raise PostingError(f"the chain: new entries start at id {rows[0][0]}, but its head was entry {n}")
    count, top = conn.execute(select(func.count(), func.max(entries.c.id)).where(entries.c.id > n)).one()
    if (count, top) != (k, n + k):
        raise PostingError(f"the chain: {count} entries after entry {n}, up to {top}; {k} were posted, "
                           f"up to {n + k}")
    ends = dict(conn.execute(select(entries.c.id, entries.c.hash).where(entries.c.id.in_([n, n + k]))).all())
    if (ends.get(n) if n else chain.GENESIS) != h:
        raise PostingError(f"the chain: the new entries were linked to entry {n} with hash {h[:16]}…, "
                           f"which is not the entry before them")
    if ends.get(n + k) != rows[-1][-1]:
        raise PostingError(f"the chain: entry {n + k} is not stored with the hash it was sealed with")


def assert_lots_within(conn: Connection, links: list[tuple[int, int, int]]) -> None:
    """No lot over-allocated, on every entry the new allocations touch: a
    credit gives at most its points, a debit is covered by at most its size,
    each allocation links a debit to a credit of the same member."""
    ids = sorted({e for d, c, _ in links for e in (d, c)})
    as_credit = select(func.coalesce(func.sum(allocations.c.points), 0)).where(
        allocations.c.credit_id == entries.c.id).scalar_subquery()
    as_debit = select(func.coalesce(func.sum(allocations.c.points), 0)).where(
        allocations.c.debit_id == entries.c.id).scalar_subquery()
    seen: dict[int, tuple[str, int]] = {}
    for chunk in _chunks(ids):
        for entry_id, member, points, given, covered in conn.execute(
                select(entries.c.id, entries.c.member_id, entries.c.points, as_credit, as_debit)
                .where(entries.c.id.in_(chunk))):
            seen[entry_id] = (member, points)
            if points > 0 and (given > points or covered):
                raise PostingError(f"entry {entry_id}: {given} points allocated from a credit of {points}"
                                   + (f", and it is allocated as a debit of {covered}" if covered else ""))
            if points < 0 and (covered > -points or given):
                raise PostingError(f"entry {entry_id}: a debit of {-points} covered by {covered} points"
                                   + (f", and {given} allocated from it as a credit" if given else ""))
    for debit_id, credit_id, _ in links:
        debit, credit = seen.get(debit_id), seen.get(credit_id)
        if debit is None or credit is None or debit[1] >= 0 or credit[1] <= 0 or debit[0] != credit[0]:
            raise PostingError(f"an allocation links entry {debit_id} to entry {credit_id}: not a debit and a "
                               "credit of the same member")


def assert_balances_match(conn: Connection, member_ids: list[str]) -> None:
    """Each of the members' cached balance equals the sum of their entries."""
    total = select(func.coalesce(func.sum(entries.c.points), 0)).where(
        entries.c.member_id == members.c.id).scalar_subquery()
    for chunk in _chunks(sorted(member_ids)):
        for m, cached, summed in plain_rows(conn, select(members.c.id, members.c.points, total)
                                            .where(members.c.id.in_(chunk), members.c.points != total)):
            raise PostingError(f"member {m}: the cached balance is {cached}, but their entries sum to {summed}")
