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
   computed in memory with the very rules `purchase` uses and posted in
   batches of members, one call of `posting.post` per batch (which asserts the
   ledger's invariants, as for every write). Anyone else (a promo code, a
   pending referral, a debt, a row dated before their existing history) goes
   through `operations.purchase`, row by row. A test holds the two paths to
   the same result.

Killed at any moment, the transaction never commits: nothing is half-imported,
and running the same import again does the whole job.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import re
import stat
from codecs import lookup as codecs_lookup
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache
from itertools import groupby
from operator import attrgetter
from pathlib import Path
from typing import IO, Callable, Iterable

from sqlalchemy import Connection, func, select

from loyalty_cli.domain import rules
from loyalty_cli.domain.config import Programme
from loyalty_cli.domain.dates import FIRST_YEAR, LAST_YEAR, localise, parse_date, parse_datetime
from loyalty_cli.domain.money import format_amount, parse_amount
from loyalty_cli.errors import LoyaltyError
from loyalty_cli.ledger import codes, operations, tiers
from loyalty_cli.ledger.members import ID_PATTERN, clean_name, forgotten_text, normalise_email, normalise_phone
from loyalty_cli.ledger.posting import Posting, post, record
from loyalty_cli.queries import standing
from loyalty_cli.store import bulk
from loyalty_cli.store.models import (
    entries,
    members,
    promo_codes,
    promo_uses,
    purchases,
    referral_rewards,
    referrals,
    refunds,
    tier_changes,
)

PURCHASE_FIELDS = ("member", "amount", "date", "order", "code", "name", "store", "till")
PURCHASE_REQUIRED = ("member", "amount", "date")
MEMBER_FIELDS = ("member", "name", "email", "phone", "birthday", "enrolled", "marketing")
MEMBER_REQUIRED = ("name",)
SHOWN_ERRORS = 20
BATCH = 5000
IMPORT_CACHE_KIB = 64 * 1024


DEFAULT_ENCODING = "utf-8-sig"  # UTF-8 with or without a BOM


@dataclass
class Options:
    mapping: dict[str, str] = field(default_factory=dict)
    date_format: str | None = None
    encoding: str | None = None  # None: UTF-8 (BOM or not), or UTF-16/32 when the file starts with their BOM
    delimiter: str | None = None  # None: ",", or ";" when --decimal-comma and the header line has one
    create_members: bool = False
    dry_run: bool = False
    skip_errors: bool = False
    keep_rows: bool = False  # keep each row's cells, to write rejected ones (--rejects); costs memory
    where: list[str] = field(default_factory=list)  # COLUMN=VALUE pairs that select rows
    decimal_comma: bool = False  # amounts written 12,50
    apply_tier_discount: bool = False  # price imported amounts with the tier's standing discount
    store: str | None = None  # the store of rows that name none (--store)
    till: str | None = None  # the till of rows that name none (--till)


@dataclass
class Problem:
    line: int
    column: str | None
    reason: str
    row: list[str] | None  # the row's cells, when they are kept (--rejects)

    def __str__(self) -> str:
        col = f" ({self.column})" if self.column else ""
        return f"line {self.line}{col}: {self.reason}"


@dataclass
class Result:
    read: int = 0
    added: int = 0
    skipped: int = 0
    merged: int = 0  # rows folded into an earlier row of the same order (a web shop's line items)
    not_selected: int = 0  # rows --where left out
    amount_on_several_rows: int = 0  # merged orders with the (same) amount on more than one row: the first taken
    rejected: list[Problem] = field(default_factory=list)
    created_members: int = 0
    created_member_ids: set[str] = field(default_factory=set)  # with no history that decides a tier
    header: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {"read": self.read, "added": self.added, "skipped": self.skipped, "rejected": len(self.rejected),
                "created_members": self.created_members, "merged": self.merged, "not_selected": self.not_selected,
                "amount_on_several_rows": self.amount_on_several_rows}


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


# Text codecs that do not read bytes as the text they spell: `an\x00na` becomes
# a real NUL with unicode_escape, idna and punycode decode domain-name labels.
NOT_PLAIN_TEXT = frozenset({"unicode-escape", "raw-unicode-escape", "idna", "punycode"})


def text_encoding(name: str) -> str:
    """`name` if it is a codec that turns bytes into text; rot13, zlib_codec,
    base64 and the like transform bytes or text into their own kind and are
    refused."""
    try:
        info = codecs_lookup(name)
    except (LookupError, TypeError, ValueError):
        info = None
    if info is not None and info.name in NOT_PLAIN_TEXT:
        raise LoyaltyError(f"--encoding {name!r} is not a plain text encoding: it reads backslash escapes or "
                           "domain-name labels, not text as written (e.g. utf-8, latin-1, cp1252, utf-16)")
    if info is None or not getattr(info, "_is_text_encoding", True):
        raise LoyaltyError(f"--encoding {name!r} is not an encoding Python can read text in "
                           "(e.g. utf-8, latin-1, cp1252, utf-16)")
    try:
        info.decode(b"")  # "undefined" refuses even that
    except (LookupError, UnicodeError, ValueError, TypeError):
        raise LoyaltyError(f"--encoding {name!r} is not an encoding Python can read text in "
                           "(e.g. utf-8, latin-1, cp1252, utf-16)") from None
    return name


# strptime's directives (Python 3.11), and which of them say what of a date
_DIRECTIVES = set("aAbBcdfGHIjmMpSuUVwWxXyYzZ")
_YEAR, _MONTH, _DAY = set("YyG"), set("mbB"), set("d")
_WEEK, _WEEKDAY = set("UWV"), set("aAwu")


def check_date_format(fmt: str) -> str:
    """Refuse a --date-format strptime cannot use, or one that does not say
    which day it is (a year and a month and day, a day of the year, or a week
    and weekday): otherwise every date would silently read as 1900-01-01."""
    seen: list[str] = []
    i = 0
    while i < len(fmt):
        if fmt[i] != "%":
            i += 1
            continue
        d = fmt[i + 1:i + 2]
        if d == "%":
            i += 2
            continue
        if not d:
            raise LoyaltyError(f"--date-format {fmt!r} ends with a lone % (write %% for a percent sign)")
        if d not in _DIRECTIVES:
            raise LoyaltyError(f"--date-format {fmt!r}: %{d} is not a strptime directive "
                               "(%Y year, %m month, %d day, %H:%M:%S time, ...)")
        if d in seen:
            raise LoyaltyError(f"--date-format {fmt!r} has %{d} twice; each part of the date may appear once")
        seen.append(d)
        i += 2
    have = set(seen)
    if have & {"G", "V"} and not ({"G", "V"} <= have and have & {"a", "A", "w", "u"}):
        # strptime reads an ISO week year only with its week and a weekday, and fails every row otherwise
        raise LoyaltyError(f"--date-format {fmt!r}: an ISO week date needs all of %G (ISO year), %V (ISO week) "
                           "and a weekday (%u), e.g. '%G-W%V-%u'; for a calendar date use %Y-%m-%d")
    full = bool(have & set("cx")) or (have & _YEAR and (
        (have & _MONTH and have & _DAY) or "j" in have or (have & _WEEK and have & _WEEKDAY)))
    if not full:
        raise LoyaltyError(f"--date-format {fmt!r} does not say which day it is: it needs a year, a month and "
                           "a day (e.g. '%d.%m.%Y %H:%M')")
    try:
        datetime.strptime("", fmt)
    except ValueError as e:
        if "does not match" not in str(e):
            raise LoyaltyError(f"--date-format {fmt!r} is not usable: {e}") from None
    except re.error as e:
        raise LoyaltyError(f"--date-format {fmt!r} is not usable: {e}") from None
    return fmt


def _byte_order_mark(head: bytes) -> str | None:
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


class _Prefixed(io.RawIOBase):
    """A stream that cannot seek (a pipe), with the bytes already read from
    it put back in front."""

    def __init__(self, head: bytes, rest: IO[bytes]):
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.rest.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


HEAD_BYTES = 64 * 1024  # enough of the file to see its byte-order mark and header line
# Memory stays bounded however the input looks (`yes | tr -d '\n'`, /dev/zero):
# a physical line, and a row (a quoted field may span lines), are read only up to these.
MAX_LINE_CHARS = 4 * 1024 * 1024
MAX_ROW_CHARS = 16 * 1024 * 1024


class _BoundedLines:
    """The text's lines for csv.reader, each read with a limit: a line (or a
    row of several lines) longer than the limits is a one-line error, never an
    ever-growing string. `row_done()` is called after each row."""

    def __init__(self, text: IO[str]):
        self.text, self.line, self.row_chars, self.row_start = text, 0, 0, 1

    def __iter__(self):
        return self

    def __next__(self) -> str:
        s = self.text.readline(MAX_LINE_CHARS + 1)
        if not s:
            raise StopIteration
        self.line += 1
        if self.row_chars == 0:
            self.row_start = self.line
        if len(s) > MAX_LINE_CHARS:
            raise LoyaltyError(f"line {self.line} is longer than {MAX_LINE_CHARS // 2**20} MiB characters "
                               "(no line break): not a CSV file a till or shop exports")
        self.row_chars += len(s)
        if self.row_chars > MAX_ROW_CHARS:
            raise LoyaltyError(f"line {self.row_start}: the row is longer than {MAX_ROW_CHARS // 2**20} MiB "
                               "characters over several lines (a quote that is never closed?)")
        return s

    def row_done(self) -> None:
        self.row_chars = 0


class Reader:
    """Rows of a CSV file as (line number, {field: text}), columns mapped,
    rows --where leaves out counted in `not_selected`."""

    def __init__(self, stream: IO[bytes], opts: Options, fields: tuple[str, ...], required: tuple[str, ...]):
        if opts.delimiter is not None:
            opts.delimiter = delimiter_char(opts.delimiter)
        if opts.delimiter is not None and len(opts.delimiter) != 1:
            raise LoyaltyError(f"--delimiter must be one character (or tab), got {opts.delimiter!r}")
        if opts.delimiter is not None and opts.delimiter in "\r\n\"" :
            raise LoyaltyError(f"--delimiter {opts.delimiter!r} cannot separate fields")
        if opts.encoding is not None:
            text_encoding(opts.encoding)
        if opts.date_format:
            check_date_format(opts.date_format)
        where = _parse_where(opts.where)
        self.not_selected = 0
        try:
            stream, head = _head(stream)
        except OSError as e:
            raise LoyaltyError(f"could not read the file: {e.strerror or e}") from None
        bom = _byte_order_mark(head)
        self.utf16 = None if bom else utf16_without_bom(head)  # what a file with NULs between letters is
        if opts.encoding is None and self.utf16:
            raise LoyaltyError(f"the file looks like {self.utf16.upper()} text without a byte-order mark: "
                               f"try --encoding {self.utf16}")
        self.encoding = opts.encoding or bom or DEFAULT_ENCODING
        delimiter = opts.delimiter
        if delimiter is None:
            first = _first_line(head, self.encoding)
            if opts.decimal_comma and ";" in first:
                delimiter = ";"
            elif "\t" in first and "," not in first:  # Excel's "Unicode Text", a TAB-separated export
                delimiter = "\t"
            else:
                delimiter = ","
        self.delimiter = delimiter
        self.stream = stream
        self.text = io.TextIOWrapper(stream, encoding=self.encoding, newline="")
        self.lines = _BoundedLines(self.text)
        self.csv = csv.reader(self.lines, delimiter=delimiter, strict=True)
        try:
            self._read_header(opts, fields, required, where)
        except BaseException:
            self.close()
            raise

    def _read_header(self, opts: Options, fields: tuple[str, ...], required: tuple[str, ...],  # noqa: C901
                     where: list[tuple[str, str, str]]) -> None:  # long: header rules in order
        self.header: list[str] = []
        while not any(cell.strip() for cell in self.header):  # blank lines before the header are no header
            line = self.csv.line_num + 1
            try:
                self.header = next(self.csv)
                self.lines.row_done()
            except StopIteration:
                raise LoyaltyError("the file is empty: expected a header row") from None
            except (UnicodeError, csv.Error, OSError) as e:
                raise self._unreadable(e, line) from None
        names = [h.strip() for h in self.header]
        self.index: dict[str, int] = {}
        self.joined: dict[str, list[int]] = {}  # a field made of several columns (name = First + Last)

        def find(wanted: str, among: list[int]) -> int | None:
            hits = [i for i in among if names[i] == wanted] or \
                   [i for i in among if names[i].casefold() == wanted.casefold()]
            if len(hits) > 1:
                raise LoyaltyError(f"the file has {len(hits)} columns named {names[hits[0]]!r}: "
                                   "which one to read is ambiguous; rename or remove one")
            return hits[0] if hits else None

        def columns() -> str:
            shown = [n if len(n) <= 60 else n[:60] + "..." for n in names[:40]]
            text = ", ".join(shown) + (f", ... ({len(names)} columns)" if len(names) > 40 else "")
            if len(names) == 1 and ";" in names[0] and self.delimiter != ";":
                text += "; the file looks ;-separated: try --delimiter ';'"
            elif len(names) == 1 and "\t" in names[0] and self.delimiter != "\t":
                text += "; the file looks TAB-separated: try --delimiter tab"
            elif self.utf16 and any("\x00" in n for n in names):
                text += f"; the file looks like {self.utf16.upper()}: try --encoding {self.utf16}"
            return text

        everything = list(range(len(names)))
        for f, wanted in opts.mapping.items():
            i = find(wanted, everything)
            if i is None and f == "name" and "+" in wanted:
                parts = [p.strip() for p in wanted.split("+")]
                found = [find(p, everything) if p else None for p in parts]
                hits = [i for i in found if i is not None]
                if len(hits) == len(found):
                    self.joined[f] = hits
                    continue
                absent = parts[found.index(None)]
                raise LoyaltyError(f"--map {f}={wanted}: the file has no column {absent!r} (columns: {columns()})")
            if i is None:
                raise LoyaltyError(f"--map {f}={wanted}: the file has no column {wanted!r} "
                                   f"(columns: {columns()})")
            self.index[f] = i
        # Other fields match a column of their own name, but never one already
        # mapped: in a web shop's export "Name" is often the order number.
        used = set(self.index.values()) | {i for idx in self.joined.values() for i in idx}
        free = [i for i in everything if i not in used]
        for f in fields:
            if f not in self.index and f not in self.joined:
                i = find(f, free)
                if i is not None:
                    self.index[f] = i
                    free.remove(i)
        missing = [f for f in required if f not in self.index and f not in self.joined]
        if missing:
            raise LoyaltyError(f"the file has no {missing[0]!r} column (columns: {columns()}); "
                               f"name one with --map {missing[0]}=COLUMN")
        # --where: the same column twice is either value, different columns must all hold
        self.where: dict[int, set[str]] = {}
        for pair, column, value in where:
            i = find(column, everything)
            if i is None:
                raise LoyaltyError(f"--where {pair!r}: the file has no column {column!r} (columns: {columns()})")
            self.where.setdefault(i, set()).add(value.casefold())

    def selected(self, row: list[str]) -> bool:
        for i, values in self.where.items():
            if (row[i].strip().casefold() if i < len(row) else "") not in values:
                return False
        return True

    def close(self) -> None:
        """Let go of the file without closing it: whoever opened it closes it."""
        try:
            self.text.detach()
        except ValueError:
            pass

    def _unreadable(self, e: Exception, line: int) -> LoyaltyError:
        if isinstance(e, UnicodeError):
            where = self._bad_line()
            advice = f"it looks like {self.utf16.upper()}: try --encoding {self.utf16}" if self.utf16 else \
                "try --encoding latin-1 (or the encoding your till exports)"
            return LoyaltyError(f"{f'line {where}: ' if where else ''}the file is not valid {self.encoding}; {advice}")
        if isinstance(e, OSError):
            return LoyaltyError(f"line {line}: could not read the file: {e.strerror or e}")
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
            n = 1
            while raw := self.stream.readline(1 << 20):  # bounded, as the reading itself
                try:
                    decoder.decode(raw)
                except UnicodeError:
                    return n
                if raw.endswith(b"\n"):
                    n += 1
        except (OSError, ValueError):
            return None
        return None

    def check_width(self, row: list[str]) -> None:
        """A row with more fields than the header has lost its alignment (an
        unquoted comma in an amount or a name): refuse it, never drop a field."""
        if len(row) > len(self.header):
            hint = " (an unquoted comma, as in 12,50? --decimal-comma with a ;-separated file reads those)" \
                if self.delimiter == "," else ""
            raise _Bad(None, f"has {len(row)} fields but the header has {len(self.header)}{hint}")

    def __iter__(self):
        while True:
            line = self.csv.line_num + 1  # where the row starts (a quoted field may span lines)
            try:
                row = next(self.csv)
                self.lines.row_done()
            except StopIteration:
                return
            except (UnicodeError, csv.Error, OSError) as e:
                raise self._unreadable(e, line) from None
            if not any(cell.strip() for cell in row):
                continue  # blank lines are not rows
            if self.where and not self.selected(row):
                self.not_selected += 1
                continue
            v = {f: (row[i].strip() if i < len(row) else "") for f, i in self.index.items()}
            for f, idx in self.joined.items():
                v[f] = " ".join(p for p in (row[i].strip() if i < len(row) else "" for i in idx) if p)
            yield line, row, v


def delimiter_char(text: str) -> str:
    """--delimiter as typed: one character, or TAB written `tab`, `\\t` or `\\\\t`."""
    if text.lower() in ("tab", "\\t", "\\\\t"):
        return "\t"
    return text


def utf16_without_bom(head: bytes) -> str | None:
    """"utf-16-le" or "utf-16-be" when the file's first bytes have the NUL
    pattern of mostly-ASCII UTF-16 text (a NUL in every other byte), else None."""
    sample = head[:512]
    sample = sample[:len(sample) // 2 * 2]
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    nul_even, nul_odd = even.count(0) / len(even), odd.count(0) / len(odd)
    if nul_odd >= 0.6 and nul_even <= 0.1:
        return "utf-16-le"
    if nul_even >= 0.6 and nul_odd <= 0.1:
        return "utf-16-be"
    return None


def _first_line(head: bytes, encoding: str) -> str:
    """The header line, as far as it decodes (the reader reports what does not)."""
    decoder = codecs_lookup(encoding).incrementaldecoder()
    text = ""
    for i in range(0, len(head), 256):
        try:
            text += decoder.decode(head[i:i + 256])
        except (UnicodeError, ValueError, LookupError):
            break
        if "\n" in text:
            break
    return text.lstrip("\ufeff").split("\n", 1)[0]


def _head(stream: IO[bytes]) -> tuple[IO[bytes], bytes]:
    """The first bytes of the file, and a stream that still starts with them."""
    if stream.seekable():
        at = stream.tell()
        head = stream.read(HEAD_BYTES)
        stream.seek(at)
        return stream, head
    head = stream.read(HEAD_BYTES)
    return io.BufferedReader(_Prefixed(head, stream)), head


def _parse_where(pairs: Iterable[str]) -> list[tuple[str, str, str]]:
    out = []
    for pair in pairs:
        column, sep, value = pair.partition("=")
        if not sep or not column.strip():
            raise LoyaltyError(f"--where {pair!r}: expected COLUMN=VALUE, e.g. --where 'Financial Status=paid'")
        out.append((pair, column.strip(), value.strip()))
    return out


# Layouts tried on a date that is not ISO, to suggest a --date-format that reads it
_GUESSES = [f"{d}{t}" for d in ("%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%d-%m-%Y", "%Y/%m/%d", "%Y.%m.%d",
                                "%d.%m.%y", "%d/%m/%y", "%m/%d/%y", "%d %b %Y", "%d %B %Y", "%b %d %Y", "%B %d %Y",
                                "%b %d, %Y", "%B %d, %Y", "%Y%m%d")
            for t in ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p", " %H:%M:%S %z", " %H:%M %z")]


@lru_cache(maxsize=256)
def guess_date_format(text: str) -> str | None:
    """A --date-format that reads `text` (None when none of the usual layouts
    does); when the day and month could be either way round, both."""
    fits = []
    for fmt in _GUESSES:
        try:
            datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
        fits.append(fmt)
    if not fits:
        return None
    first = fits[0]
    swapped = first.replace("%d/%m", "%m/%d") if "%d/%m" in first else first.replace("%m/%d", "%d/%m")
    if swapped != first and swapped in fits:
        return f"--date-format '{first}' (or '{swapped}' if the month comes first)"
    return f"--date-format '{first}'"


def _when(text: str, prog: Programme, fmt: str | None, now: datetime) -> datetime:
    if fmt:
        try:
            dt = datetime.strptime(text, fmt)
        except (ValueError, re.error):
            guess = guess_date_format(text)
            raise LoyaltyError(f"{text!r} does not match --date-format {fmt!r}"
                               + (f"; {guess} would read it" if guess else "")) from None
        if not FIRST_YEAR <= dt.year <= LAST_YEAR:
            where = f'before {FIRST_YEAR}' if dt.year < FIRST_YEAR else f'after {LAST_YEAR}'
            raise LoyaltyError(f"{text!r} is {where}")
        at = localise(dt, prog.timezone, text, "date", check_gap=dt.time() != time.min)
    else:
        try:
            at = parse_datetime(text, prog.timezone, "date")
        except LoyaltyError as e:
            if not text.strip() or "not an ISO date" not in str(e):
                raise  # ISO, but not a day there is (2026-02-30, a clock change's gap): no layout helps
            guess = guess_date_format(text)
            if guess is None:
                raise LoyaltyError(f"{e}; give its layout with --date-format, e.g. "
                                   "--date-format '%d.%m.%Y %H:%M'") from None
            raise LoyaltyError(f"{e}; {guess} would read it") from None
    if at > now:
        raise LoyaltyError(f"{text!r} is in the future")
    return at


@dataclass(slots=True)
class Row:
    line: int
    at: datetime  # None, like member_key and amount, only until merge_orders fills it from the order's other rows
    member_key: str
    amount: int
    order: str | None
    code: str | None
    name: str | None
    raw: list[str] | None  # the row's cells, kept only for --rejects
    store: str | None = None
    till: str | None = None
    key: str = ""  # the order id it is stored under
    member_id: str = ""


def read_purchases(reader: Reader, prog: Programme, opts: Options, now: datetime,
                   problems: list[Problem]) -> tuple[list[Row], int, int]:
    """The file's rows, parsed, how many were merged, and in how many orders more than one row had an amount;
    the rows of one order (a web shop writes one per line item, the total on the first) merged into one, see
    merge_orders."""
    rows: list[Row] = []
    dec = prog.currency.decimals
    dates: dict[str, datetime] = {}  # an export repeats each date and amount many times: parse once
    amounts: dict[str, int] = {}
    keys: dict[str, str] = {}  # ... and each member: keep one copy of the key
    bad_orders: dict[str, int] = {}  # order -> the line of its first bad row
    partial = False  # a row of an order leaves its amount, member or date to another row
    store_of, till_of = _place_of("store"), _place_of("till")
    for line, raw, v in reader:
        order = v.get("order") or None
        try:
            reader.check_width(raw)
            if order is not None and not re.fullmatch(r"[^\s\x00-\x1f\x7f]{1,64}", order):
                order = None
                raise _Bad("order", f"order id {v['order']!r} is not valid (1 to 64 characters without spaces)")
            member = v["member"] or None
            if member is None and order is None:
                raise _Bad("member", "is empty")
            amount = None
            if v["amount"] or order is None:
                amount = amounts.get(v["amount"])
                if amount is None:
                    amount = amounts[v["amount"]] = _amount(v["amount"], dec, opts.decimal_comma)
            at = None
            if v["date"] or order is None:
                at = dates.get(v["date"])
                if at is None:
                    try:
                        at = dates[v["date"]] = _when(v["date"], prog, opts.date_format, now)
                    except LoyaltyError as e:
                        raise _Bad("date", str(e).removeprefix("date ")) from None
            if member is None or amount is None or at is None:
                partial = True
            if member is not None:
                member = keys.setdefault(member, member)
            name = _text(v, "name", clean_name)  # the name --create-members enrols with, as `enroll --name`
            # A row of a many-row order may lack its date, member or amount (`partial`): merge_orders, which
            # every row passes through before anything reads them, fills them or refuses the order. Row is
            # typed as what leaves merge_orders, so that no later use re-checks it (1M rows, the fast path).
            rows.append(Row(line, at, member, amount, order,  # type: ignore[arg-type]
                            v.get("code") or None, name, raw if opts.keep_rows else None,
                            _text(v, "store", store_of), _text(v, "till", till_of)))
        except _Bad as e:
            problems.append(Problem(line, e.column, e.reason, raw))
            if order is not None:
                bad_orders.setdefault(order, line)
    return _placed(merge_orders(rows, problems, bad_orders, dec, partial), opts)


def _placed(merged: tuple[list[Row], int, int], opts: Options) -> tuple[list[Row], int, int]:
    """--store and --till for the orders none of whose rows names one."""
    if opts.store is not None or opts.till is not None:
        for r in merged[0]:
            r.store = opts.store if r.store is None else r.store
            r.till = opts.till if r.till is None else r.till
    return merged


def _place_of(column: str) -> Callable[[str], str]:
    """A store's or till's text as kept (operations.check_place), each text checked once per import."""
    return lru_cache(maxsize=4096)(lambda text: operations.check_place(text, column))


def _text(v: dict, column: str, clean: Callable[[str], str]) -> str | None:
    """A row's name, store or till, cleaned (an empty cell: None); a refusal names the column."""
    text = v.get(column) or None
    if text is None:
        return None
    try:
        return clean(text)
    except LoyaltyError as e:
        raise _Bad(column, str(e).removeprefix(f"{column} ")) from None


def _amount(text: str, decimals: int, decimal_comma: bool) -> int:
    shown = text
    if decimal_comma:
        if "." in text:
            raise _Bad("amount", f"{text!r} is not an amount: with --decimal-comma the decimal separator is a comma "
                                 "and thousands separators are not accepted, e.g. 12,50")
        text = text.replace(",", ".", 1)
    try:
        return parse_amount(text, decimals, "amount")
    except LoyaltyError as e:
        reason = str(e).removeprefix("amount ").replace(repr(text), repr(shown), 1)
        if not decimal_comma and re.fullmatch(r"[0-9]+,[0-9]+", text):
            reason += " (--decimal-comma reads 12,50)"
        raise _Bad("amount", reason) from None


def merge_orders(rows: list[Row], problems: list[Problem], bad_orders: dict[str, int], decimals: int,  # noqa: C901
                 partial: bool) -> tuple[list[Row], int, int]:  # long: one pass over the sorted rows; hot (1M rows)
    """One row per order. A web shop's export has a row per line item: the
    order's total on its first row, empty on the others. The rows of an order
    merge into the first: its amount, member, date and code are the first
    non-empty ones of its rows, and two different non-empty values (two
    totals, say) refuse the order. An order with a bad row is refused whole.
    Rows without an order id are left as they are. Returns the rows, how many
    were merged, and how many orders had an amount on more than one row (the
    same one: the first was taken, which the summary says)."""
    if not bad_orders and not partial and not any(r.order is not None for r in rows):
        return rows, 0, 0
    ordered = [r for r in rows if r.order is not None]
    out = [r for r in rows if r.order is None]
    ordered.sort(key=attrgetter("order"))  # stable: each order's rows together, in line order
    i, n = 0, len(ordered)
    merged = several = 0
    while i < n:
        j = i + 1
        while j < n and ordered[j].order == ordered[i].order:
            j += 1
        group = ordered[i:j]
        i = j
        order = group[0].order
        if order in bad_orders:
            for r in group:
                problems.append(Problem(r.line, "order", f"order {order} has a bad row on line {bad_orders[order]}",
                                        r.raw))
            continue
        if len(group) == 1 and group[0].amount is not None and group[0].member_key is not None \
                and group[0].at is not None:
            out.append(group[0])
            continue
        first = group[0]
        reason: tuple[()] | tuple[str, str] | None = None  # (): refused above; (column, why): refuse the order
        for attr, column, what, shown in (
                ("amount", "amount", "total", lambda a: format_amount(a, decimals)),
                ("member_key", "member", "member", str),
                ("at", "date", "date", lambda d: d.isoformat(sep=" ")),
                ("code", "code", "code", str), ("store", "store", "store", str), ("till", "till", "till", str)):
            given = [(r.line, getattr(r, attr)) for r in group if getattr(r, attr) is not None]
            values = {_comparable(attr, v): (line, v) for line, v in reversed(given)}  # first line of each value
            if len(values) > 1:
                # each conflict once: on the first row giving each other value; the order's
                # other rows are refused with it, pointing there
                (l1, v1), *others = sorted(values.values(), key=lambda x: x[0])
                conflicts = dict(others)
                at = ", ".join(str(line) for line in conflicts)
                for r in group:
                    if r.line in conflicts:
                        why = f"order {order} appears on line {l1} with other content: {what} {shown(v1)} there, " \
                              f"{shown(conflicts[r.line])} here"
                    else:
                        why = f"order {order} is refused: " + (f"line {at} gives another {what}" if len(conflicts) == 1
                                                               else f"lines {at} give other {what}s")
                    problems.append(Problem(r.line, "order", why, r.raw))
                reason = ()
                break
            if given:
                setattr(first, attr, given[0][1])
            elif attr not in ("code", "store", "till"):
                lines = ", ".join(str(r.line) for r in group[:5]) + (", ..." if len(group) > 5 else "")
                reason = (column, f"order {order} has no {'amount' if attr == 'amount' else what} on any of its rows "
                                  f"(line{'s' if len(group) > 1 else ''} {lines})")
                break
        if reason:
            for r in group:
                problems.append(Problem(r.line, reason[0], reason[1], r.raw))
        if reason is not None:
            continue
        first.name = next((r.name for r in group if r.name), None)
        merged += len(group) - 1
        if sum(1 for r in group if r.amount is not None) > 1:  # the same total twice, or each line's price?
            several += 1
        out.append(first)
    out.sort(key=attrgetter("line"))
    return out, merged, several


def _comparable(attr: str, value):
    if attr == "member_key":
        if "@" in value:  # an e-mail: the form it is stored and matched in (a look-alike is another)
            try:
                return normalise_email(value)
            except LoyaltyError:
                pass
        return value.casefold()
    if attr == "code":
        return codes.normalise(value)
    return value


class _Bad(Exception):
    def __init__(self, column: str | None, reason: str):
        self.column, self.reason = column, reason


# ---------------------------------------------------------------------------
# 2. planning: members and keys
# ---------------------------------------------------------------------------


def _chunks(items: list, n: int = 500):
    for i in range(0, len(items), n):
        yield items[i:i + n]


def resolve_members(conn: Connection, keys: set[str]) -> dict[str, str]:  # noqa: C901 -- id, e-mail, phone, id ignoring case: four lookups in turn
    """Member key (id, e-mail or phone, as in the file) -> member id, for those that exist."""
    found: dict[str, str] = {}
    plain = sorted(keys)
    for chunk in _chunks(plain):
        for (mid,) in conn.execute(select(members.c.id).where(members.c.id.in_(chunk))):
            found[mid] = mid
    rest = [k for k in plain if k not in found]
    emails: dict[str, list[str]] = {}
    phones: dict[str, list[str]] = {}
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
    # Only an ASCII key can match an id ([A-Za-z0-9._-]): str.lower() would take
    # "\u212aim" (KELVIN SIGN) for "kim", as members.find_member refuses to.
    left = {k.lower(): k for k in rest if k not in found and "@" not in k and k.isascii()}
    if left:
        by_lower: dict[str, list[str]] = {}
        for (mid,) in conn.execute(select(members.c.id)):
            if mid.lower() in left:
                by_lower.setdefault(mid.lower(), []).append(mid)
        for low, ids in by_lower.items():
            if len(ids) == 1:
                for k in rest:
                    if k.isascii() and k.lower() == low and k not in found:
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
            and (theirs or "") == codes.normalise(r.code or "")
            and _same_place(existing.store, r.store) and _same_place(existing.till, r.till))


def _same_place(recorded: str | None, given: str | None) -> bool:
    """A store (or till) differs only when both name one: an order recorded
    without one, or a file that names none, is the same order."""
    return recorded is None or given is None or recorded == given


def _same_moment(recorded: datetime, given: datetime) -> bool:
    """A bare date (00:00) is recorded after the member's earlier records of
    that day (`standing.stamp`), so the ledger may hold a later moment of the
    same day for the very row the file gives again."""
    if given.time() == time.min:
        return recorded.date() == given.date() and recorded >= given
    return recorded == given


# ---------------------------------------------------------------------------
# 3. applying
# ---------------------------------------------------------------------------


def import_purchases(conn: Connection, prog: Programme, stream: IO[bytes], opts: Options, now: datetime,
                     progress: Callable[[int, int], None] | None = None) -> Result:
    """The three steps (see the module's docstring), in one transaction: any
    refusal raises before anything of it is committed."""
    reader = Reader(stream, opts, PURCHASE_FIELDS, PURCHASE_REQUIRED)
    result = Result(header=reader.header)
    problems: list[Problem] = []
    bulk.large_cache(conn, IMPORT_CACHE_KIB)  # rows are written member by member: order ids arrive unsorted
    try:
        rows, result.merged, result.amount_on_several_rows = read_purchases(reader, prog, opts, now, problems)
    finally:
        reader.close()
    result.not_selected = reader.not_selected
    result.read = len(rows) + len({p.line for p in problems}) + result.merged + result.not_selected
    good = _with_members(conn, prog, rows, opts, result, problems)
    del rows  # a million rows: the lists are let go as soon as the next step has what it needs
    todo = _new_rows(conn, prog, good, result, problems)
    del good
    if problems and not opts.skip_errors:
        raise _refused(problems)
    result.added = _apply(conn, prog, todo, opts, result.created_member_ids, problems, progress)
    if problems and not opts.skip_errors:
        raise _refused(problems)
    result.rejected = one_per_line(problems)
    return result


def _with_members(conn: Connection, prog: Programme, rows: list[Row], opts: Options, result: Result,
                  problems: list[Problem]) -> list[Row]:
    """The rows whose member is known (or enrolled here, with
    --create-members) and who had enrolled by the row's date, each given its
    member id; the others are problems."""
    known = resolve_members(conn, {r.member_key for r in rows})
    made_here: set[str] = set()
    unknown = [k for k in dict.fromkeys(r.member_key for r in rows) if k not in known]  # in file order
    cannot_enrol: dict[str, str] = {}  # member key -> why --create-members could not enrol it
    if unknown and opts.create_members:
        made_here = _enrol_unknown(conn, prog, rows, unknown, known, cannot_enrol, result)
    # when the members already in the ledger enrolled: nothing is recorded before that, as with `purchase`
    enrolled: dict[str, date] = {}
    for chunk in _chunks(sorted(set(known.values()) - made_here)):
        for m, at in conn.execute(select(members.c.id, members.c.enrolled_at).where(members.c.id.in_(chunk))):
            enrolled[m] = at.date()
    good: list[Row] = []
    for r in rows:
        mid = known.get(r.member_key)
        if mid is None:
            why = cannot_enrol.get(r.member_key) or f"unknown member {r.member_key!r} (--create-members enrols " \
                                                     "unknown members)"
            problems.append(Problem(r.line, "member", why, r.raw))
        elif mid in enrolled and r.at.date() < enrolled[mid]:
            problems.append(Problem(r.line, "date", f"{r.at:%Y-%m-%d} is before member {mid} enrolled "
                                                    f"({enrolled[mid]:%Y-%m-%d})", r.raw))
        else:
            r.member_id = mid
            good.append(r)
    return good


def _enrol_unknown(conn: Connection, prog: Programme, rows: list[Row], unknown: list[str], known: dict[str, str],
                   cannot_enrol: dict[str, str], result: Result) -> set[str]:
    """Enrol the `unknown` member keys, each on the date of its earliest row,
    into `known`; returns the ids made."""
    first_seen: dict[str, Row] = {}  # each new member's earliest row (rows are in line order)
    for r in rows:
        seen = first_seen.get(r.member_key)
        if seen is None or r.at < seen.at:
            first_seen[r.member_key] = r
    made = _create_members(conn, prog, [first_seen[k] for k in unknown], cannot_enrol)
    known.update(made)
    result.created_members = len(set(made.values()))
    # New members have no history that decides a tier, unless a welcome bonus
    # counts as points earned (a points basis): then their history is read.
    fresh_history = not prog.welcome_bonus or prog.tier_basis == "spend"
    result.created_member_ids = set(made.values()) if fresh_history else set()
    return set(made.values())


def _new_rows(conn: Connection, prog: Programme, good: list[Row], result: Result,
              problems: list[Problem]) -> list[Row]:
    """The rows the ledger does not have yet. Keys: a row the ledger (or the
    file, earlier) already has is skipped, the same key with other content
    refused; a forgotten member's new rows are refused. Sorts `good` by key
    and empties it (a million rows: its Rows that are skipped go at once)."""
    assign_keys(good)
    # Sorting by key finds twins in the file without a dict of a million keys.
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
    good.clear()
    if conn.execute(select(purchases.c.id).limit(1)).first() is None:
        todo = fresh  # an empty ledger has none of these orders: no need to ask
    else:
        todo = _not_in_ledger(conn, prog, fresh, result, problems)
    # a forgotten member's orders already in the ledger are skipped as usual; new ones are refused
    gone = {m: at for m, at in conn.execute(select(members.c.id, members.c.forgotten_at)
                                            .where(members.c.forgotten_at.is_not(None)))}
    if not gone:
        return todo
    keep = []
    for r in todo:
        if r.member_id in gone:
            problems.append(Problem(r.line, "member", forgotten_text(r.member_id, gone[r.member_id]), r.raw))
        else:
            keep.append(r)
    return keep


def _not_in_ledger(conn: Connection, prog: Programme, fresh: list[Row], result: Result,
                   problems: list[Problem]) -> list[Row]:
    """The rows whose key the ledger has no purchase for; one it has with the
    same content is skipped, with other content refused."""
    todo: list[Row] = []
    for chunk in _chunks(fresh):
        have = {p.order_id: p for p in conn.execute(
            select(purchases.c.order_id, purchases.c.member_id, purchases.c.amount, purchases.c.at,
                   purchases.c.store, purchases.c.till, promo_codes.c.key.label("code_key"))
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
                shown_amount = format_amount(p.amount, prog.currency.decimals)
                where = "".join(f", {what} {v}" for what, v in (("store", p.store), ("till", p.till)) if v is not None)
                problems.append(Problem(r.line, "order", f"order {r.key} is already in the ledger with other content "
                                                         f"(member {p.member_id}, {shown_amount}, "
                                                         f"{p.at:%Y-%m-%d}{where})", r.raw))
    return todo


def _apply(conn: Connection, prog: Programme, todo: list[Row], opts: Options, fresh: set[str],
           problems: list[Problem], progress: Callable[[int, int], None] | None) -> int:
    """Apply the new rows in date order: each fast-path member's rows in one
    go, in batches of members (one `_apply_fast` each), then the others
    through `operations.purchase`, each in its savepoint (a refused row is a
    problem, and the others go on). Returns how many were added."""
    todo.sort(key=attrgetter("line"))
    todo.sort(key=attrgetter("at"))  # stable: by (at, line)
    fast, slow = _split(conn, prog, todo, fresh)
    done = 0
    fast.sort(key=attrgetter("member_id"))  # stable: each member's rows together, in date order
    quotes: dict = {}
    batch: list[list[Row]] = []
    size = 0
    for _, group in groupby(fast, key=attrgetter("member_id")):
        member_rows = list(group)
        batch.append(member_rows)
        size += len(member_rows)
        if size >= BATCH:
            _apply_fast(conn, prog, batch, quotes, fresh=fresh, tier_discount=opts.apply_tier_discount)
            done += size
            batch, size = [], 0
            if progress:
                progress(done, len(todo))
    if batch:
        _apply_fast(conn, prog, batch, quotes, fresh=fresh, tier_discount=opts.apply_tier_discount)
        done += size
        if progress:
            progress(done, len(todo))
    for r in slow:
        try:
            with conn.begin_nested():
                operations.purchase(conn, prog, r.member_id, r.amount, at=r.at, order_id=r.key, code=r.code,
                                    tier_discount=opts.apply_tier_discount, store=r.store, till=r.till)
        except LoyaltyError as e:  # in its savepoint: go on, to list every bad row (as --skip-errors)
            problems.append(Problem(r.line, None, str(e), r.raw))
            continue
        done += 1
        if progress:
            progress(done, len(todo))
    return done


def one_per_line(problems: list[Problem]) -> list[Problem]:
    """The problems in line order, one per line: a row found bad for two
    reasons is one rejected row, its reasons joined with "; "."""
    out: list[Problem] = []
    by_line: dict[int, list[Problem]] = {}
    for p in sorted(problems, key=lambda p: p.line):
        if p.line in by_line:
            by_line[p.line].append(p)
        else:
            by_line[p.line] = [p]
            out.append(p)
    for i, p in enumerate(out):
        same = by_line[p.line]
        if len(same) > 1:
            columns = {q.column for q in same}
            if len(columns) == 1:
                reason = "; ".join(dict.fromkeys(q.reason for q in same))
            else:
                reason = "; ".join(dict.fromkeys(f"({q.column}) {q.reason}" if q.column else q.reason
                                                 for q in same))
            out[i] = Problem(p.line, p.column if len(columns) == 1 else None, reason,
                             next((q.row for q in same if q.row is not None), None))
    return out


def _refused(problems: list[Problem]) -> ImportRefused:
    problems = one_per_line(problems)
    n = len(problems)
    return ImportRefused(f"{n} bad row{'s' if n != 1 else ''}; nothing was imported "
                         "(--skip-errors --rejects FILE imports the good rows)", problems)


def _create_members(conn: Connection, prog: Programme, firsts: list[Row],
                    failed: dict[str, str]) -> dict[str, str]:
    """Enrol members the file names but the ledger does not know, on the date of
    their first row: the key as id when it looks like one, else a generated id
    with the key as e-mail or phone. A key that cannot be enrolled goes into
    `failed` with the reason (every row of that member is rejected with it)."""
    made: dict[str, str] = {}
    same: dict[str, str] = {}  # ANNA and anna in one file are one member: the first spelling
    n = conn.execute(select(func.count()).select_from(members)).scalar_one() + 1001
    wanted = sum(1 for r in firsts if "@" in r.member_key or not ID_PATTERN.fullmatch(r.member_key))
    # ids the file itself names are taken too, or a generated 1001 could collide with a row's "1001"
    taken: set[str] = {r.member_key for r in firsts if "@" not in r.member_key and ID_PATTERN.fullmatch(r.member_key)}
    for chunk in _chunks([str(i) for i in range(n, n + 2 * wanted + 10)]):
        taken.update(conn.execute(select(members.c.id).where(members.c.id.in_(chunk))).scalars())
    rows, welcome = [], []
    by_contact: dict[str, str] = {}  # normalised e-mail or phone -> the member made for it
    for r in firsts:
        key = r.member_key
        email = phone = None
        if "@" in key:
            try:
                email = normalise_email(key)
            except LoyaltyError as e:
                failed[key] = str(e)
                continue
        elif re.fullmatch(r"\+?[0-9 ().\-/]{5,}", key) and not ID_PATTERN.fullmatch(key):
            phone = normalise_phone(key)
        contact = email or phone
        if contact and contact in by_contact:  # BOB@example.com and bob@example.com: one new member
            made[key] = by_contact[contact]
            continue
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
            failed[key] = f"cannot enrol {key!r}: not a valid id, e-mail or phone"
            continue
        taken.add(mid)
        taken.add(mid.lower())
        made[key] = mid
        if contact:
            by_contact[contact] = mid
        enrolled = datetime.combine(r.at.date(), time.min)
        rows.append({"id": mid, "name": r.name or key, "email": email, "phone": phone, "birthday": None,
                     "enrolled_at": enrolled, "marketing": False, "marketing_at": None, "points": 0})
        if prog.welcome_bonus:
            welcome.append((mid, enrolled))
        if len(rows) == BATCH:
            record(conn, members, rows)
            rows = []
    record(conn, members, rows)
    _welcome(conn, prog, welcome)
    return made


def _welcome(conn: Connection, prog: Programme, welcome: list[tuple[str, datetime]]) -> None:
    """The welcome bonus of the members an import enrolled, at enrolment, in
    batches through `posting.post` (new members owe nothing, so a bonus pays
    no debt). With a points basis it counts as points earned: record the tier
    it alone gives, as `enroll` does (asked only when it gives a tier above
    the lowest; these members have no other history yet)."""
    for chunk in _chunks(welcome, BATCH):
        post(conn, [operations.credit_posting(prog, mid, at, "welcome", prog.welcome_bonus, note="welcome bonus")
                    for mid, at in chunk])
    lifts = prog.tier_basis == "points" and rules.tier_for(prog.levels, prog.welcome_bonus).name != prog.levels[0].name
    if lifts:
        for mid, at in welcome:
            operations._record_earned_tier(conn, prog, mid, at)


def _split(conn: Connection, prog: Programme, todo: list[Row], fresh: set[str]) -> tuple[list[Row], list[Row]]:
    """Rows for the fast path and rows for `operations.purchase`. Members this
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


def _fast_histories(conn: Connection, prog: Programme, members_in: list[str], fresh: set[str]):
    """What the fast path needs to know of a batch's members: a tier tracker
    over each one's history that decides tiers (none for members this import
    just created), the tier their log last records, and from when their log
    may lack changes that time alone caused (as `tiers.review_members`)."""
    events: dict[str, list[tuple[datetime, int]]] = {}
    last_tier: dict[str, str] = {}
    last_change: dict[str, datetime] = {}
    known = [m for m in members_in if m not in fresh]
    for chunk in _chunks(known):
        events.update(standing.tier_events(conn, prog, datetime.max, chunk))
        for m, to_tier, at in conn.execute(
                select(tier_changes.c.member_id, tier_changes.c.to_tier, tier_changes.c.at)
                .where(tier_changes.c.member_id.in_(chunk)).order_by(tier_changes.c.at, tier_changes.c.id)):
            last_tier[m], last_change[m] = to_tier, at
    trackers = {m: rules.TierTracker(prog, events.get(m, [])) for m in members_in}
    mark = standing.last_daily_run(conn)
    reviewed = {m: standing.review_start(last_change.get(m), mark) for m in members_in}
    return trackers, last_tier, reviewed


def _apply_fast(conn: Connection, prog: Programme, batch: list[list[Row]], quotes: dict, fresh: set[str],
                tier_discount: bool = False) -> None:
    """Price and write the rows of a batch of members, each member's rows in
    date order, with the tier they hold at each row: its multiplier, and its
    standing discount only with `tier_discount` (--apply-tier-discount), as
    `operations.purchase` does. The earnings go through `posting.post` in
    one call for the whole batch."""
    trackers, last_tier, reviewed = _fast_histories(conn, prog, [rows[0].member_id for rows in batch], fresh)
    recorded = standing.recorded_now()
    buy_rows: list[dict] = []
    earnings: list[Posting] = []
    change_rows: list[dict] = []
    # quote_purchase is pure, so `quotes` prices an amount at a tier once per import
    for r in (r for rows in batch for r in rows):
        t = trackers[r.member_id]
        level = t.level(r.at)
        q = quotes.get((r.amount, level.name))
        if q is None:
            q = quotes[(r.amount, level.name)] = rules.quote_purchase(
                prog, r.amount, level if tier_discount else rules.without_discount(level))
        buy_rows.append({"order_id": r.key, "member_id": r.member_id, "at": r.at, "amount": q.amount,
                         "discount": q.discount, "points_redeemed": 0, "points_paid": 0, "net": q.net,
                         "points_earned": q.points_earned, "rounding": prog.rounding, "recorded_at": recorded,
                         "store": r.store, "till": r.till})
        if q.points_earned:
            earnings.append(Posting(r.member_id, r.at, "earn", q.points_earned, order_id=r.key,
                                    expires_on=_expiry(r.at.date(), prog.expiry_days),
                                    available_on=_available(r.at.date(), prog.pending_days)))
        t.add(r.at, q.net if prog.tier_basis == "spend" else q.points_earned)
        # what time alone changed before this row: the one tier review, in memory
        for moment, previous, name in tiers.time_changes(t, reviewed[r.member_id], r.at,
                                                         last_tier.get(r.member_id, prog.levels[0].name)):
            change_rows.append({"member_id": r.member_id, "at": moment, "from_tier": previous, "to_tier": name})
            last_tier[r.member_id] = name
        since = reviewed[r.member_id]
        reviewed[r.member_id] = max(r.at, since) if since else r.at
        after = t.level(r.at)
        previous = last_tier.get(r.member_id, prog.levels[0].name)
        if after.name != previous:
            change_rows.append({"member_id": r.member_id, "at": r.at, "from_tier": previous, "to_tier": after.name})
            last_tier[r.member_id] = after.name
    record(conn, purchases, buy_rows)
    post(conn, earnings, recorded_at=recorded)
    record(conn, tier_changes, change_rows)
    if prog.expiry_days:
        _post_expiry(conn, {rows[-1].member_id: rows[-1].at for rows in batch})


def _post_expiry(conn: Connection, last: dict[str, datetime]) -> None:
    """Post the expiry that `operations.purchase` would have posted for each
    member by their last new row (expiry is grouped by day, so posting it
    once at the end writes the same entries as posting it row by row), in
    one call of `posting.post` for the batch."""
    latest = max(last.values()).date()
    due: list[dict] = []
    for chunk in _chunks(sorted(last)):
        found = conn.execute(select(entries.c.member_id).where(
            entries.c.member_id.in_(chunk), entries.c.points > 0, entries.c.expires_on <= latest).distinct())
        for m in sorted(found.scalars().all()):
            due += standing.due_expiry(conn, last[m], m)
    post(conn, operations.expiry_postings(due))


_expiry = lru_cache(maxsize=8192)(rules.expiry_date)
_available = lru_cache(maxsize=8192)(rules.available_date)


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
    result.not_selected = reader.not_selected  # read whole: the loop ran to the end
    result.read += reader.not_selected
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
                made = operations.enroll(conn, prog, at=enrolled, name=v["name"], member_id=key,
                                     email=v.get("email") or None, phone=v.get("phone") or None,
                                     birthday=birthday, marketing=marketing, via="import")
                added_on[made["member"]] = line
                result.added += 1
        except LoyaltyError as e:  # each row in its savepoint: go on, to list every bad row (as --skip-errors)
            problems.append(Problem(line, None, str(e), raw))
        if progress and i % 500 == 0:
            progress(i, len(parsed))
    if problems and not opts.skip_errors:
        raise _refused(problems)
    result.rejected = one_per_line(problems)
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


def write_rejects(out: IO[str], header: list[str], problems: list[Problem]) -> None:
    """The rejected rows as CSV, with their line and the reason, to `out`."""
    w = csv.writer(out)
    w.writerow([*header, "line", "reason"])
    for p in problems:
        w.writerow([*(p.row or []), p.line, str(p).split(": ", 1)[1] if ": " in str(p) else p.reason])


# ---------------------------------------------------------------------------
# --rejects: never one of the files the import reads or writes
# ---------------------------------------------------------------------------

LEDGER_FILES = (("", "the ledger"), ("-wal", "the ledger's WAL file"), ("-shm", "the ledger's shared-memory file"),
                ("-journal", "the ledger's journal"))


def _resolved(p: Path) -> Path:
    try:
        return Path(os.path.abspath(p)).resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop: compare it as written
        return Path(os.path.abspath(p))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def guard_rejects(path: str, ledger_file: Path | None, programme: Path, source) -> None:
    """Refuse a --rejects path that is the ledger (or its WAL, shared-memory
    or journal file), the programme file or the file being imported, named
    directly, through a symlink or a hard link."""
    if "\x00" in path:
        raise LoyaltyError("--rejects: the path contains a NUL byte")
    target = Path(path)
    protected: list[tuple[str, Path]] = []
    if ledger_file is not None:
        for base in dict.fromkeys((ledger_file, _resolved(ledger_file))):
            protected += [(what, Path(f"{base}{suffix}")) for suffix, what in LEDGER_FILES]
    protected.append(("the programme file", programme))
    name = getattr(source, "name", None)
    if isinstance(name, str) and name not in ("-", "<stdin>"):
        protected.append(("the file being imported", Path(name)))
    mine = _resolved(target)
    for what, p in protected:
        if mine == _resolved(p) or _same_file(target, p):
            raise LoyaltyError(f"--rejects {path} is {what}; name another file for the rejected rows")
    try:  # the file being read, however it was opened (stdin redirected from it, say)
        theirs, st = os.fstat(source.fileno()), os.stat(target)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return
    if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) == (theirs.st_dev, theirs.st_ino):
        raise LoyaltyError(f"--rejects {path} is the file being imported; name another file for the rejected rows")


def check_rejects_target(path: str) -> None:
    """Refuse, before the import takes the ledger's lock, a --rejects path that
    is the standard input when that is not a terminal: `--rejects /dev/stdin`
    under a pipe opens that very pipe for writing, and reading it then never
    ends. Anything else that can be opened for writing is fine: a new or
    regular file (checked against the ledger and the input by guard_rejects),
    /dev/null, /dev/stderr or /dev/stdout (the terminal, or a pipe read on),
    `--rejects >(cat)`."""
    if "\x00" in path:
        raise LoyaltyError("--rejects: the path contains a NUL byte")
    try:
        st = os.stat(path)
        theirs = os.fstat(0)
    except (OSError, ValueError):
        return  # a new file, or no stdin (one that cannot be opened: RejectsFile says so)
    if (st.st_dev, st.st_ino) == (theirs.st_dev, theirs.st_ino) and not os.isatty(0) \
            and not stat.S_ISREG(st.st_mode):  # a regular file: guard_rejects says it is the input
        raise LoyaltyError(f"--rejects {path} is the standard input the import reads; name a file "
                           "(or /dev/stderr to see the rejected rows)")


class RejectsFile:
    """--rejects, opened before the import (a path that cannot be written is
    refused before anything is recorded) and written after it committed."""

    def __init__(self, path: str):
        self.path = path
        self.created = not os.path.lexists(path)
        flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
        self.fd: int | None = None  # None once written or discarded
        try:
            self.fd = os.open(path, flags, 0o666)  # no O_TRUNC: nothing is lost if the import is refused
        except OSError as e:
            raise LoyaltyError(f"cannot write --rejects {path}: {e.strerror or e}") from None
        st = os.fstat(self.fd)
        self.regular = stat.S_ISREG(st.st_mode)
        if not self.regular:
            try:
                import fcntl
                fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
            except (ImportError, OSError, AttributeError):
                pass

    def discard(self) -> None:
        """The import wrote nothing: close, and remove the file if it was made here."""
        if self.fd is None:
            return
        os.close(self.fd)
        self.fd = None
        if self.created:
            try:
                os.unlink(self.path)
            except OSError:
                pass

    def write(self, header: list[str], problems: list[Problem]) -> None:
        """Raises OSError when the rows cannot be written (a full disk)."""
        fd, self.fd = self.fd, None
        assert fd is not None, "the rejects file is written once"
        if self.regular:
            try:
                os.ftruncate(fd, 0)
            except OSError:
                os.close(fd)
                raise
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as out:
            write_rejects(out, header, problems)
            out.flush()
            if self.regular:
                os.fsync(fd)
