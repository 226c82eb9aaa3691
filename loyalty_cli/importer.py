"""CSV imports: a till's or web shop's export in, idempotently, all or nothing.

Three steps, all inside one write transaction:

1. Read: stream the CSV, map columns, parse and validate every row into a small
   record; collect errors with line, column and reason.
2. Plan: resolve members (creating them with --create-members), give every row
   its key (the order id, or one derived from the row's content and its
   occurrence count), and skip rows the ledger already has; the same key with
   other content is an error.
3. Apply, in date order. A member whose rows are plain purchases and whose
   ledger holds nothing dated after them takes the fast path: earnings are
   computed in memory with the very rules `purchase` uses and written in
   batches. Anyone else (a promo code, a pending referral, a debt, a row dated
   before their existing history) goes through `ledger.purchase`, row by row.
   A test holds the two paths to the same result.

Killed at any moment, the transaction never commits: nothing is half-imported,
and running the same import again does the whole job.
"""

from __future__ import annotations

import csv
import hashlib
from codecs import lookup as codecs_lookup
import io
import re
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import groupby
from operator import attrgetter
from datetime import date, datetime, time
from typing import IO, Callable, Iterable

from sqlalchemy import Connection, bindparam, func, insert, select, update

from loyalty_cli import chain, codes, ledger, rules
from loyalty_cli.config import Programme
from loyalty_cli.dates import FIRST_YEAR, LAST_YEAR, localise, parse_date, parse_datetime
from loyalty_cli.errors import LoyaltyError
from loyalty_cli.members import ID_PATTERN, forgotten_text, normalise_email, normalise_phone
from loyalty_cli.models import (entries, members, promo_codes, promo_uses, purchases, referral_rewards, referrals,
                                refunds, tier_changes)
from loyalty_cli.money import format_amount, parse_amount

PURCHASE_FIELDS = ("member", "amount", "date", "order", "code", "name")
PURCHASE_REQUIRED = ("member", "amount", "date")
MEMBER_FIELDS = ("member", "name", "email", "phone", "birthday", "enrolled", "marketing")
MEMBER_REQUIRED = ("name",)
SHOWN_ERRORS = 20
BATCH = 5000
IMPORT_CACHE_KIB = 64 * 1024


@dataclass
class Options:
    mapping: dict[str, str] = field(default_factory=dict)
    date_format: str | None = None
    encoding: str = "utf-8-sig"
    delimiter: str = ","
    create_members: bool = False
    dry_run: bool = False
    skip_errors: bool = False
    keep_rows: bool = False  # keep each row's cells, to write rejected ones (--rejects); costs memory


@dataclass
class Problem:
    line: int
    column: str | None
    reason: str
    row: list[str]

    def __str__(self) -> str:
        col = f" ({self.column})" if self.column else ""
        return f"line {self.line}{col}: {self.reason}"


@dataclass
class Result:
    read: int = 0
    added: int = 0
    skipped: int = 0
    rejected: list[Problem] = field(default_factory=list)
    created_members: int = 0
    created_member_ids: set[str] = field(default_factory=set)  # with no history that decides a tier
    header: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {"read": self.read, "added": self.added, "skipped": self.skipped, "rejected": len(self.rejected),
                "created_members": self.created_members}


class ImportRefused(LoyaltyError):
    """The file was refused as a whole; `problems` says why, row by row."""

    def __init__(self, message: str, problems: list[Problem]):
        super().__init__(message)
        self.problems = problems


# ---------------------------------------------------------------------------
# 1. reading
# ---------------------------------------------------------------------------


def parse_mapping(pairs: Iterable[str], fields: tuple[str, ...]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        name, sep, column = pair.partition("=")
        name = name.strip().lower()
        if not sep or not name or not column.strip():
            raise LoyaltyError(f"--map {pair!r}: expected FIELD=COLUMN, e.g. member=Email")
        if name not in fields:
            raise LoyaltyError(f"--map {pair!r}: unknown field {name!r} (fields: {', '.join(fields)})")
        mapping[name] = column.strip()
    return mapping


class Reader:
    """Rows of a CSV file as (line number, {field: text}), columns mapped."""

    def __init__(self, stream: IO[bytes], opts: Options, fields: tuple[str, ...], required: tuple[str, ...]):
        if len(opts.delimiter) != 1:
            raise LoyaltyError(f"--delimiter must be one character, got {opts.delimiter!r}")
        try:
            codecs_lookup(opts.encoding).decode(b"member")
        except (LookupError, UnicodeError, ValueError):
            raise LoyaltyError(f"--encoding {opts.encoding!r} is not an encoding Python can read text in") from None
        self.encoding = opts.encoding
        self.stream = stream
        self.text = io.TextIOWrapper(stream, encoding=opts.encoding, newline="")
        self.csv = csv.reader(self.text, delimiter=opts.delimiter, strict=True)
        try:
            self._read_header(opts, fields, required)
        except BaseException:
            self.close()
            raise

    def _read_header(self, opts: Options, fields: tuple[str, ...], required: tuple[str, ...]) -> None:
        self.header: list[str] = []
        while not any(cell.strip() for cell in self.header):  # blank lines before the header are no header
            line = self.csv.line_num + 1
            try:
                self.header = next(self.csv)
            except StopIteration:
                raise LoyaltyError("the file is empty: expected a header row") from None
            except (UnicodeError, csv.Error) as e:
                raise self._unreadable(e, line) from None
        names = [h.strip() for h in self.header]
        self.index: dict[str, int] = {}

        def find(wanted: str, among: list[int]) -> int | None:
            hits = [i for i in among if names[i] == wanted] or \
                   [i for i in among if names[i].casefold() == wanted.casefold()]
            if len(hits) > 1:
                raise LoyaltyError(f"the file has {len(hits)} columns named {names[hits[0]]!r}: "
                                   "which one to read is ambiguous; rename or remove one")
            return hits[0] if hits else None

        everything = list(range(len(names)))
        for f, wanted in opts.mapping.items():
            i = find(wanted, everything)
            if i is None:
                raise LoyaltyError(f"--map {f}={wanted}: the file has no column {wanted!r} "
                                   f"(columns: {', '.join(names)})")
            self.index[f] = i
        # Other fields match a column of their own name, but never one already
        # mapped: in a web shop's export "Name" is often the order number.
        free = [i for i in everything if i not in self.index.values()]
        for f in fields:
            if f not in self.index:
                i = find(f, free)
                if i is not None:
                    self.index[f] = i
                    free.remove(i)
        missing = [f for f in required if f not in self.index]
        if missing:
            raise LoyaltyError(f"the file has no {missing[0]!r} column (columns: {', '.join(names)}); "
                               f"name one with --map {missing[0]}=COLUMN")

    def close(self) -> None:
        """Let go of the file without closing it: whoever opened it closes it."""
        try:
            self.text.detach()
        except ValueError:
            pass

    def _unreadable(self, e: Exception, line: int) -> LoyaltyError:
        if isinstance(e, UnicodeError):
            where = self._bad_line()
            return LoyaltyError(f"{f'line {where}: ' if where else ''}the file is not valid {self.encoding}; "
                                "try --encoding latin-1 (or the encoding your till exports)")
        return LoyaltyError(f"line {line}: not readable as CSV ({e})")

    def _bad_line(self) -> int | None:
        """The line holding the first byte that does not decode. The text
        layer decodes ahead in chunks, so its position says nothing; a file
        is read again from the start, line by line. None for a pipe."""
        try:
            if not self.stream.seekable():
                return None
            self.text.detach()
            self.stream.seek(0)
            decoder = codecs_lookup(self.encoding).incrementaldecoder()
            for n, raw in enumerate(self.stream, 1):
                try:
                    decoder.decode(raw)
                except UnicodeError:
                    return n
        except (OSError, ValueError):
            return None
        return None

    def check_width(self, row: list[str]) -> None:
        """A row with more fields than the header has lost its alignment (an
        unquoted comma in an amount or a name): refuse it, never drop a field."""
        if len(row) > len(self.header):
            raise _Bad(None, f"has {len(row)} fields but the header has {len(self.header)} "
                             "(an unquoted comma, as in 12,50?)")

    def __iter__(self):
        while True:
            line = self.csv.line_num + 1  # where the row starts (a quoted field may span lines)
            try:
                row = next(self.csv)
            except StopIteration:
                return
            except (UnicodeError, csv.Error) as e:
                raise self._unreadable(e, line) from None
            if not any(cell.strip() for cell in row):
                continue  # blank lines are not rows
            yield line, row, {f: (row[i].strip() if i < len(row) else "") for f, i in self.index.items()}


def _when(text: str, prog: Programme, fmt: str | None, now: datetime) -> datetime:
    if fmt:
        try:
            dt = datetime.strptime(text, fmt)
        except ValueError:
            raise LoyaltyError(f"{text!r} does not match --date-format {fmt!r}") from None
        if not FIRST_YEAR <= dt.year <= LAST_YEAR:
            raise LoyaltyError(f"{text!r} is out of range")
        at = localise(dt, prog.timezone, text, "date", check_gap=dt.time() != time.min)
    else:
        at = parse_datetime(text, prog.timezone, "date")
    if at > now:
        raise LoyaltyError(f"{text!r} is in the future")
    return at


@dataclass(slots=True)
class Row:
    line: int
    at: datetime
    member_key: str
    amount: int
    order: str | None
    code: str | None
    name: str | None
    raw: list[str] | None  # the row's cells, kept only for --rejects
    key: str = ""  # the order id it is stored under
    member_id: str = ""


def read_purchases(reader: Reader, prog: Programme, opts: Options, now: datetime,
                   problems: list[Problem]) -> list[Row]:
    rows: list[Row] = []
    dec = prog.currency.decimals
    dates: dict[str, datetime] = {}  # an export repeats each date and amount many times: parse once
    amounts: dict[str, int] = {}
    keys: dict[str, str] = {}  # ... and each member: keep one copy of the key
    for line, raw, v in reader:
        try:
            reader.check_width(raw)
            if not v["member"]:
                raise _Bad("member", "is empty")
            amount = amounts.get(v["amount"])
            if amount is None:
                try:
                    amount = amounts[v["amount"]] = parse_amount(v["amount"], dec, "amount")
                except LoyaltyError as e:
                    raise _Bad("amount", str(e).removeprefix("amount ")) from None
            at = dates.get(v["date"])
            if at is None:
                try:
                    at = dates[v["date"]] = _when(v["date"], prog, opts.date_format, now)
                except LoyaltyError as e:
                    raise _Bad("date", str(e).removeprefix("date ")) from None
            order = v.get("order") or None
            if order is not None and not re.fullmatch(r"[^\s\x00-\x1f\x7f]{1,64}", order):
                raise _Bad("order", f"order id {order!r} is not valid (1 to 64 characters without spaces)")
            member = keys.setdefault(v["member"], v["member"])
            rows.append(Row(line, at, member, amount, order, v.get("code") or None, v.get("name") or None,
                            raw if opts.keep_rows else None))
        except _Bad as e:
            problems.append(Problem(line, e.column, e.reason, raw))
    return rows


class _Bad(Exception):
    def __init__(self, column: str | None, reason: str):
        self.column, self.reason = column, reason


# ---------------------------------------------------------------------------
# 2. planning: members and keys
# ---------------------------------------------------------------------------


def _chunks(items: list, n: int = 500):
    for i in range(0, len(items), n):
        yield items[i:i + n]


def resolve_members(conn: Connection, keys: set[str]) -> dict[str, str]:
    """Member key (id, e-mail or phone, as in the file) -> member id, for those that exist."""
    found: dict[str, str] = {}
    plain = sorted(keys)
    for chunk in _chunks(plain):
        for (mid,) in conn.execute(select(members.c.id).where(members.c.id.in_(chunk))):
            found[mid] = mid
    rest = [k for k in plain if k not in found]
    emails = {}
    phones = {}
    for k in rest:
        if "@" in k:
            try:
                emails.setdefault(normalise_email(k), []).append(k)
            except LoyaltyError:
                pass
        else:
            try:
                phones.setdefault(normalise_phone(k), []).append(k)
            except LoyaltyError:
                pass
    for table_col, wanted in ((members.c.email, emails), (members.c.phone, phones)):
        for chunk in _chunks(sorted(wanted)):
            for mid, value in conn.execute(select(members.c.id, table_col).where(table_col.in_(chunk))):
                for k in wanted[value]:
                    found[k] = mid
    # Ids match ignoring case when that is unambiguous, as everywhere else: one
    # pass over the ids, only when some key is still unresolved.
    left = {k.lower(): k for k in rest if k not in found and "@" not in k}
    if left:
        by_lower: dict[str, list[str]] = {}
        for (mid,) in conn.execute(select(members.c.id)):
            if mid.lower() in left:
                by_lower.setdefault(mid.lower(), []).append(mid)
        for low, ids in by_lower.items():
            if len(ids) == 1:
                for k in rest:
                    if k.lower() == low and k not in found:
                        found[k] = ids[0]
    return found


def _content_key(row: Row, member_id: str) -> str:
    text = f"{member_id}\x1f{row.amount}\x1f{row.at.isoformat()}\x1f{codes.normalise(row.code or '')}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def assign_keys(rows: list[Row]) -> None:
    """The key of a row without an order id: its content and how many times that
    content came before in the file, so two identical rows are two purchases."""
    seen: dict[str, int] = {}
    for r in rows:
        if r.order is not None:
            r.key = r.order
        else:
            digest = _content_key(r, r.member_id)
            seen[digest] = seen.get(digest, 0) + 1
            r.key = f"csv-{digest}-{seen[digest]}"


def _same(existing, r: Row) -> bool:
    """Is `r` the purchase `existing` (a row, or an order in the ledger with its
    promo code's key as `code_key`)? Member, amount, date and promo code."""
    theirs = existing.code_key if hasattr(existing, "code_key") else codes.normalise(existing.code or "")
    return (existing.member_id == r.member_id and existing.amount == r.amount and _same_moment(existing.at, r.at)
            and (theirs or "") == codes.normalise(r.code or ""))


def _same_moment(recorded: datetime, given: datetime) -> bool:
    """A bare date (00:00) is recorded after the member's earlier records of
    that day (`ledger.stamp`), so the ledger may hold a later moment of the
    same day for the very row the file gives again."""
    if given.time() == time.min:
        return recorded.date() == given.date() and recorded >= given
    return recorded == given


# ---------------------------------------------------------------------------
# 3. applying
# ---------------------------------------------------------------------------


def import_purchases(conn: Connection, prog: Programme, stream: IO[bytes], opts: Options, now: datetime,
                     progress: Callable[[int, int], None] | None = None) -> Result:
    reader = Reader(stream, opts, PURCHASE_FIELDS, PURCHASE_REQUIRED)
    result = Result(header=reader.header)
    problems: list[Problem] = []
    if conn.dialect.name == "sqlite":
        # Rows are written member by member, so order ids reach their unique index in
        # no particular order: give SQLite room to keep that index's pages in memory.
        conn.exec_driver_sql(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")
    try:
        rows = read_purchases(reader, prog, opts, now, problems)
    finally:
        reader.close()
    result.read = len(rows) + len(problems)

    # members
    known = resolve_members(conn, {r.member_key for r in rows})
    made_here: set[str] = set()
    unknown = [k for k in dict.fromkeys(r.member_key for r in rows) if k not in known]  # in file order
    if unknown and opts.create_members:
        first_seen: dict[str, Row] = {}  # each new member's earliest row (rows are in line order)
        for r in rows:
            seen = first_seen.get(r.member_key)
            if seen is None or r.at < seen.at:
                first_seen[r.member_key] = r
        made = _create_members(conn, prog, [first_seen[k] for k in unknown], problems)
        made_here = set(made.values())
        known.update(made)
        result.created_members = len(set(made.values()))
        # New members have no history that decides a tier, unless a welcome bonus
        # counts as points earned (a points basis): then their history is read.
        fresh_history = not prog.welcome_bonus or prog.tier_basis == "spend"
        result.created_member_ids = set(made.values()) if fresh_history else set()
    # when the members already in the ledger enrolled: nothing is recorded before that, as with `purchase`
    enrolled: dict[str, date] = {}
    for chunk in _chunks(sorted(set(known.values()) - made_here)):
        for m, at in conn.execute(select(members.c.id, members.c.enrolled_at).where(members.c.id.in_(chunk))):
            enrolled[m] = at.date()
    good: list[Row] = []
    for r in rows:
        mid = known.get(r.member_key)
        if mid is None:
            problems.append(Problem(r.line, "member", f"unknown member {r.member_key!r} (--create-members enrols "
                                                      "unknown members)", r.raw))
        elif mid in enrolled and r.at.date() < enrolled[mid]:
            problems.append(Problem(r.line, "date", f"{r.at:%Y-%m-%d} is before member {mid} enrolled "
                                                    f"({enrolled[mid]:%Y-%m-%d})", r.raw))
        else:
            r.member_id = mid
            good.append(r)

    # keys: skip what the ledger has, refuse the same key with other content.
    # Sorting by key finds twins in the file without a dict of a million keys.
    assign_keys(good)
    del rows
    # Stable sorts on one attribute each: a key tuple per row would cost ~100 MB
    # for a million rows. `good` is in line order, so this is by (key, line).
    good.sort(key=attrgetter("key"))
    fresh: list[Row] = []
    twin: Row | None = None
    for r in good:
        if twin is not None and twin.key == r.key:
            if _same(twin, r):
                result.skipped += 1
            else:
                problems.append(Problem(r.line, "order", f"order {r.key} appears on line {twin.line} with other "
                                                         "content", r.raw))
            continue
        twin = r
        fresh.append(r)
    del good
    todo: list[Row] = []
    if conn.execute(select(purchases.c.id).limit(1)).first() is None:
        todo, fresh = fresh, []  # an empty ledger has none of these orders: no need to ask
    # a forgotten member's orders already in the ledger are skipped as usual; new ones are refused
    gone = {m: at for m, at in conn.execute(select(members.c.id, members.c.forgotten_at)
                                            .where(members.c.forgotten_at.is_not(None)))}
    for chunk in _chunks(fresh):
        have = {p.order_id: p for p in conn.execute(
            select(purchases.c.order_id, purchases.c.member_id, purchases.c.amount, purchases.c.at,
                   promo_codes.c.key.label("code_key"))
            .select_from(purchases.outerjoin(promo_uses, promo_uses.c.purchase_id == purchases.c.id)
                         .outerjoin(promo_codes, promo_codes.c.id == promo_uses.c.promo_id))
            .where(purchases.c.order_id.in_([r.key for r in chunk])))}
        for r in chunk:
            p = have.get(r.key)
            if p is None:
                todo.append(r)
            elif _same(p, r):
                result.skipped += 1
            else:
                problems.append(Problem(r.line, "order", f"order {r.key} is already in the ledger with other content "
                                                         f"(member {p.member_id}, {format_amount(p.amount, prog.currency.decimals)}, "
                                                         f"{p.at:%Y-%m-%d})", r.raw))
    if gone:
        keep = []
        for r in todo:
            if r.member_id in gone:
                problems.append(Problem(r.line, "member", forgotten_text(r.member_id, gone[r.member_id]), r.raw))
            else:
                keep.append(r)
        todo = keep
    if problems and not opts.skip_errors:
        raise _refused(problems)

    # apply, in date order: each member's rows in one go on the fast path
    todo.sort(key=attrgetter("line"))
    todo.sort(key=attrgetter("at"))  # stable: by (at, line)
    fast, slow = _split(conn, prog, todo, result.created_member_ids)
    done = added = 0
    fast.sort(key=attrgetter("member_id"))  # stable: each member's rows together, in date order
    quotes: dict = {}
    batch: list[list[Row]] = []
    size = 0
    for _, group in groupby(fast, key=attrgetter("member_id")):
        member_rows = list(group)
        batch.append(member_rows)
        size += len(member_rows)
        if size >= BATCH:
            _apply_fast(conn, prog, batch, quotes, fresh=result.created_member_ids)
            done += size
            added += size
            batch, size = [], 0
            if progress:
                progress(done, len(todo))
    if batch:
        _apply_fast(conn, prog, batch, quotes, fresh=result.created_member_ids)
        done += size
        added += size
        if progress:
            progress(done, len(todo))
    for r in slow:
        try:
            with conn.begin_nested():
                ledger.purchase(conn, prog, r.member_id, r.amount, at=r.at, order_id=r.key, code=r.code)
        except LoyaltyError as e:
            problems.append(Problem(r.line, None, str(e), r.raw))
            if not opts.skip_errors:
                raise _refused(problems) from None
            continue
        done += 1
        added += 1
        if progress:
            progress(done, len(todo))
    result.added = added
    result.rejected = sorted(problems, key=lambda p: p.line)
    return result


def _refused(problems: list[Problem]) -> ImportRefused:
    problems = sorted(problems, key=lambda p: p.line)
    n = len(problems)
    return ImportRefused(f"{n} bad row{'s' if n != 1 else ''}; nothing was imported "
                         "(--skip-errors --rejects FILE imports the good rows)", problems)


def _create_members(conn: Connection, prog: Programme, firsts: list[Row], problems: list[Problem]) -> dict[str, str]:
    """Enrol members the file names but the ledger does not know, on the date of
    their first row: the key as id when it looks like one, else a generated id
    with the key as e-mail or phone."""
    made: dict[str, str] = {}
    same: dict[str, str] = {}  # ANNA and anna in one file are one member: the first spelling
    n = conn.execute(select(func.count()).select_from(members)).scalar_one() + 1001
    wanted = sum(1 for r in firsts if "@" in r.member_key or not ID_PATTERN.fullmatch(r.member_key))
    # ids the file itself names are taken too, or a generated 1001 could collide with a row's "1001"
    taken: set[str] = {r.member_key for r in firsts if "@" not in r.member_key and ID_PATTERN.fullmatch(r.member_key)}
    for chunk in _chunks([str(i) for i in range(n, n + 2 * wanted + 10)]):
        taken.update(conn.execute(select(members.c.id).where(members.c.id.in_(chunk))).scalars())
    rows, welcome = [], []
    for r in firsts:
        key = r.member_key
        email = phone = None
        if "@" in key:
            try:
                email = normalise_email(key)
            except LoyaltyError as e:
                problems.append(Problem(r.line, "member", str(e), r.raw))
                continue
        elif re.fullmatch(r"\+?[0-9 ().\-/]{5,}", key) and not ID_PATTERN.fullmatch(key):
            phone = normalise_phone(key)
        if email or phone:
            while str(n) in taken or (n >= 1001 + 10**9 and conn.execute(
                    select(members.c.id).where(members.c.id == str(n))).first()):
                n += 1
            mid = str(n)
            n += 1
        elif ID_PATTERN.fullmatch(key):
            if key.lower() in same:
                made[key] = same[key.lower()]
                continue
            mid = same[key.lower()] = key
        else:
            problems.append(Problem(r.line, "member", f"cannot enrol {key!r}: not a valid id, e-mail or phone", r.raw))
            continue
        taken.add(mid)
        taken.add(mid.lower())
        made[key] = mid
        enrolled = datetime.combine(r.at.date(), time.min)
        rows.append({"id": mid, "name": r.name or key, "email": email, "phone": phone, "birthday": None,
                     "enrolled_at": enrolled, "marketing": False, "marketing_at": None, "points": 0})
        if prog.welcome_bonus:
            welcome.append((mid, enrolled))
        if len(rows) == BATCH:
            _bulk_insert(conn, members, rows)
            rows = []
    _bulk_insert(conn, members, rows)
    for mid, at in welcome:
        ledger._credit(conn, prog, mid, at, "welcome", prog.welcome_bonus, note="welcome bonus")
    return made


def _split(conn: Connection, prog: Programme, todo: list[Row], fresh: set[str]) -> tuple[list[Row], list[Row]]:
    """Rows for the fast path and rows for `ledger.purchase`. Members this
    import created have no history to look at."""
    first: dict[str, datetime] = {}  # `todo` is in date order: each member's first new row
    slow_members: set[str] = set()
    for r in todo:
        first.setdefault(r.member_id, r.at)
        if r.code:
            slow_members.add(r.member_id)
    ids = sorted(first.keys() - slow_members - fresh)
    for chunk in _chunks(ids):
        # a debt, a pending referral or history dated after the first new row: take the exact path
        for (m,) in conn.execute(select(members.c.id).where(members.c.id.in_(chunk), members.c.points < 0)):
            slow_members.add(m)
        pending = select(referrals.c.referee_id, referrals.c.referrer_id).where(
            referrals.c.referee_id.in_(chunk),
            referrals.c.referee_id.not_in(select(referral_rewards.c.referee_id)))
        for referee, referrer in conn.execute(pending):
            # the referee's purchase may pay the referrer too: both on the exact path
            slow_members.update((referee, referrer))
        for table in (entries, purchases, tier_changes):
            for m, latest in conn.execute(select(table.c.member_id, func.max(table.c.at))
                                          .where(table.c.member_id.in_(chunk)).group_by(table.c.member_id)):
                if latest > first[m]:
                    slow_members.add(m)
        for m, latest in conn.execute(select(purchases.c.member_id, func.max(refunds.c.at))
                                      .select_from(refunds.join(purchases, purchases.c.id == refunds.c.purchase_id))
                                      .where(purchases.c.member_id.in_(chunk)).group_by(purchases.c.member_id)):
            if latest > first[m]:
                slow_members.add(m)
    fast = [r for r in todo if r.member_id not in slow_members]
    slow = [r for r in todo if r.member_id in slow_members]
    return fast, slow


def _apply_fast(conn: Connection, prog: Programme, batch: list[list[Row]], quotes: dict, fresh: set[str]) -> None:
    """Price and write the rows of a batch of members, each member's rows in
    date order, with the tier they hold at each row."""
    members_in = [rows[0].member_id for rows in batch]
    # the history that decides tiers (none for members this import just created)
    events: dict[str, list[tuple[datetime, int]]] = {}
    last_tier: dict[str, str] = {}
    last_change: dict[str, datetime] = {}
    known = [m for m in members_in if m not in fresh]
    for chunk in _chunks(known):
        events.update(ledger.tier_events(conn, prog, datetime.max, chunk))
        for m, to_tier, at in conn.execute(
                select(tier_changes.c.member_id, tier_changes.c.to_tier, tier_changes.c.at)
                .where(tier_changes.c.member_id.in_(chunk)).order_by(tier_changes.c.at, tier_changes.c.id)):
            last_tier[m], last_change[m] = to_tier, at
    trackers = {m: rules.TierTracker(prog, events.get(m, [])) for m in members_in}
    mark = ledger.last_daily_run(conn)
    # from when each member's tier log may lack changes time alone caused (as ledger._review_member)
    reviewed = {m: ledger.review_start(last_change.get(m), mark) for m in members_in}
    recorded = ledger.recorded_now()
    buy_rows, earn_rows, change_rows = [], [], []
    balance: dict[str, int] = {}
    # quote_purchase is pure, so `quotes` prices an amount at a tier once per import
    for r in (r for rows in batch for r in rows):
        t = trackers[r.member_id]
        level = t.level(r.at)
        q = quotes.get((r.amount, level.name))
        if q is None:
            q = quotes[(r.amount, level.name)] = rules.quote_purchase(prog, r.amount, level)
        buy_rows.append({"order_id": r.key, "member_id": r.member_id, "at": r.at, "amount": q.amount,
                         "discount": q.discount, "points_redeemed": 0, "points_paid": 0, "net": q.net,
                         "points_earned": q.points_earned, "rounding": prog.rounding, "recorded_at": recorded})
        if q.points_earned:
            earn_rows.append({"member_id": r.member_id, "at": r.at, "kind": "earn", "points": q.points_earned,
                              "order_id": r.key, "action": None, "note": None, "reverses": None,
                              "expires_on": _expiry(r.at.date(), prog.expiry_days),
                              "available_on": _available(r.at.date(), prog.pending_days),
                              "recorded_at": recorded})
            balance[r.member_id] = balance.get(r.member_id, 0) + q.points_earned
        t.add(r.at, q.net if prog.tier_basis == "spend" else q.points_earned)
        for moment in t.moments(reviewed[r.member_id], r.at):  # what time alone changed before this row
            name, previous = t.level(moment).name, last_tier.get(r.member_id, prog.levels[0].name)
            if name != previous:
                change_rows.append({"member_id": r.member_id, "at": moment, "from_tier": previous, "to_tier": name})
                last_tier[r.member_id] = name
        reviewed[r.member_id] = max(r.at, reviewed[r.member_id]) if reviewed[r.member_id] else r.at
        after = t.level(r.at)
        previous = last_tier.get(r.member_id, prog.levels[0].name)
        if after.name != previous:
            change_rows.append({"member_id": r.member_id, "at": r.at, "from_tier": previous, "to_tier": after.name})
            last_tier[r.member_id] = after.name
    _bulk_insert(conn, purchases, buy_rows)
    _bulk_insert(conn, entries, chain.seal(conn, earn_rows))
    _bulk_insert(conn, tier_changes, change_rows)
    if balance:
        ledger.check_balances(conn, balance)
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("UPDATE members SET points = points + ? WHERE id = ?",
                                 [(p, m) for m, p in balance.items()])
        else:
            conn.execute(update(members).where(members.c.id == bindparam("m"))
                         .values(points=members.c.points + bindparam("p")),
                         [{"m": m, "p": p} for m, p in balance.items()])
    if prog.expiry_days:
        _post_expiry(conn, {rows[-1].member_id: rows[-1].at for rows in batch})


def _post_expiry(conn: Connection, last: dict[str, datetime]) -> None:
    """Post the expiry that `ledger.purchase` would have posted for each
    member by their last new row (expiry is grouped by day, so posting it
    once at the end writes the same entries as posting it row by row)."""
    latest = max(last.values()).date()
    for chunk in _chunks(sorted(last)):
        due = conn.execute(select(entries.c.member_id).where(
            entries.c.member_id.in_(chunk), entries.c.points > 0, entries.c.expires_on <= latest).distinct())
        for m in due.scalars().all():
            ledger.expire_due(conn, last[m], m)


_expiry = lru_cache(maxsize=8192)(rules.expiry_date)
_available = lru_cache(maxsize=8192)(rules.available_date)


def _bulk_insert(conn: Connection, table, rows: list[dict]) -> None:
    """executemany straight to the driver on SQLite (Core's per-row work costs
    more than the insert itself); portable Core elsewhere."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(insert(table), rows)
        return
    cols = list(rows[0])
    procs = [table.c[c].type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for c in cols]
    convert = [(i, p, {}) for i, p in enumerate(procs) if p is not None]  # dates: each value formatted once
    data = []
    for r in rows:
        values = list(r.values())
        for i, proc, cache in convert:
            v = values[i]
            if v is not None:
                hit = cache.get(v)
                if hit is None:
                    hit = cache[v] = proc(v)
                values[i] = hit
        data.append(tuple(values))
    sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    conn.exec_driver_sql(sql, data)


# ---------------------------------------------------------------------------
# members
# ---------------------------------------------------------------------------


def import_members(conn: Connection, prog: Programme, stream: IO[bytes], opts: Options, now: datetime,
                   progress: Callable[[int, int], None] | None = None) -> Result:
    reader = Reader(stream, opts, MEMBER_FIELDS, MEMBER_REQUIRED)
    result = Result(header=reader.header)
    problems: list[Problem] = []
    parsed = []
    for line, raw, v in _closing(reader):
        result.read += 1
        try:
            reader.check_width(raw)
            enrolled = _when(v["enrolled"], prog, opts.date_format, now) if v.get("enrolled") else now
            birthday = parse_date(v["birthday"], "birthday") if v.get("birthday") else None
            marketing = _flag(v.get("marketing", ""))
            key = v.get("member") or None
            if key is None and not v.get("email") and not v.get("phone"):
                raise _Bad("member", "a row needs a member id, an e-mail or a phone")
            parsed.append((line, raw, v, key, enrolled, birthday, marketing))
        except _Bad as e:
            problems.append(Problem(line, e.column, e.reason, raw))
        except LoyaltyError as e:
            problems.append(Problem(line, None, str(e), raw))
    parsed.sort(key=lambda p: (p[4], p[0]))
    added_on: dict[str, int] = {}  # member id -> the line of this file that enrolled them
    for i, (line, raw, v, key, enrolled, birthday, marketing) in enumerate(parsed, 1):
        try:
            with conn.begin_nested():
                existing = _existing_member(conn, key, v)
                if existing is not None:
                    if _member_matches(existing, v, birthday):
                        result.skipped += 1
                        continue
                    if existing.id in added_on:
                        raise LoyaltyError(f"member {existing.id} appears on line {added_on[existing.id]} "
                                           "with other details")
                    raise LoyaltyError(f"member {existing.id} is already in the ledger with other details")
                made = ledger.enroll(conn, prog, at=enrolled, name=v["name"], member_id=key,
                                     email=v.get("email") or None, phone=v.get("phone") or None,
                                     birthday=birthday, marketing=marketing, via="import")
                added_on[made["member"]] = line
                result.added += 1
        except LoyaltyError as e:
            problems.append(Problem(line, None, str(e), raw))
            if not opts.skip_errors:
                raise _refused(problems) from None
        if progress and i % 500 == 0:
            progress(i, len(parsed))
    if problems and not opts.skip_errors:
        raise _refused(problems)
    result.rejected = sorted(problems, key=lambda p: p.line)
    return result


def _closing(reader: Reader):
    try:
        yield from reader
    finally:
        reader.close()


def _flag(text: str) -> bool:
    t = text.strip().lower()
    if t in ("", "0", "no", "n", "false", "f"):
        return False
    if t in ("1", "yes", "y", "true", "t"):
        return True
    raise _Bad("marketing", f"{text!r} is not yes/no")


def _existing_member(conn: Connection, key: str | None, v: dict):
    if key:
        return conn.execute(select(members).where(members.c.id == key)).first()
    for col, norm in ((members.c.email, normalise_email), (members.c.phone, normalise_phone)):
        field_ = "email" if col is members.c.email else "phone"
        if v.get(field_):
            row = conn.execute(select(members).where(col == norm(v[field_]))).first()
            if row is not None:
                return row
    return None


def _member_matches(m, v: dict, birthday: date | None) -> bool:
    def same(a, b):
        return (a or None) == (b or None)
    email = normalise_email(v["email"]) if v.get("email") else None
    phone = normalise_phone(v["phone"]) if v.get("phone") else None
    return (" ".join(v["name"].split()) == m.name and same(email, m.email) and same(phone, m.phone)
            and (birthday is None or birthday == m.birthday))


def write_rejects(path: str, header: list[str], problems: list[Problem]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([*header, "line", "reason"])
        for p in problems:
            w.writerow([*(p.row or []), p.line, str(p).split(": ", 1)[1] if ": " in str(p) else p.reason])
