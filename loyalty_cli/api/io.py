"""Import and export — and their results.

`import_purchases` and `import_members` read CSV from a path or a binary
stream, take the command's options as keywords and are one write transaction
each: all or nothing unless `skip_errors`, and a `dry_run` does all the work
and rolls it back. `export` streams the ledger's entries, the members or the
purchases to a text stream as CSV or JSON, row by row as they are read, so
memory stays flat however large the ledger is; it returns a small summary.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, NamedTuple, Protocol

from loyalty_cli.api.arguments import checked, describe, text_out
from loyalty_cli.api.core import LedgerCore, Moment
from loyalty_cli.api.results import Result, internal, row
from loyalty_cli.errors import LoyaltyError

if TYPE_CHECKING:
    from loyalty_cli.io.importer import Options

Source = str | os.PathLike[str] | IO[bytes]
Pairs = Mapping[str, str] | Iterable[str]
Progress = Callable[[int, int], None]

describe(Source, "a path or a binary stream (a file opened with 'rb')")
describe(Pairs, "a mapping or a list of NAME=VALUE strings")

EXPORTS = ("ledger", "members", "purchases")
EXPORT_FORMATS = ("csv", "json")


class OptionConflict(LoyaltyError):
    """Two options that do not go together (the CLI's usage error, exit 2)."""


@row
class ImportProblem(NamedTuple):
    """A bad row of an import file: its line, the column at fault (None when
    the row as a whole is) and why."""

    line: int
    column: str | None
    reason: str

    def __str__(self) -> str:
        col = f" ({self.column})" if self.column else ""
        return f"line {self.line}{col}: {self.reason}"


class ImportRefused(LoyaltyError):
    """The file was refused as a whole and nothing was imported; `problems`
    lists the bad rows, in line order."""

    def __init__(self, message: str, problems: tuple[ImportProblem, ...]):
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class Import(Result):
    """`loyalty import purchases|members`: rows read, added, skipped (already
    in the ledger), rejected (with `skip_errors`: their lines are in
    `rejected_rows`), members created, rows merged into their order's first
    row, rows `where` left out, orders whose amount was on several rows."""

    read: int
    added: int
    skipped: int
    rejected: int
    created_members: int
    merged: int
    not_selected: int
    amount_on_several_rows: int
    dry_run: bool
    rejected_rows: tuple[ImportProblem, ...] = internal(())


class RejectsNotWritten(LoyaltyError):
    """The import was recorded, but the rejects file could not be written:
    `result` is the import's, with the rejected rows it could not hold."""

    def __init__(self, message: str, result: Import):
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class Export(Result):
    """What `export` wrote: `rows` rows of `what` with `columns`, as `format`."""

    what: str
    format: str
    columns: tuple[str, ...]
    rows: int


class TextOut(Protocol):
    """A text stream to write to (a file opened with "w", sys.stdout, io.StringIO)."""

    def write(self, text: str, /) -> object: ...


describe(TextOut, "a text stream (anything with write(str), not a binary file)", text_out)


def _pairs(value: Pairs, what: str) -> list[str]:
    """--map / --where values: "NAME=VALUE" strings, or a mapping of them."""
    if isinstance(value, str):
        raise LoyaltyError(f"{what} takes a list of NAME=VALUE strings or a mapping, not one string")
    if isinstance(value, Mapping):
        return [f"{k}={v}" for k, v in value.items()]
    return list(value)


@checked
def import_options(kind: str, *, mapping: Pairs = (), where: Pairs = (), date_format: str | None = None,
                   encoding: str | None = None, delimiter: str | None = None, decimal_comma: bool = False,
                   create_members: bool = False, apply_tier_discount: bool = False, dry_run: bool = False,
                   skip_errors: bool = False, rejects: str | os.PathLike[str] | None = None,
                   store: str | None = None, till: str | None = None) -> Options:
    """The import's options checked, in the CLI's order and words, before the
    ledger is opened (a `rejects` path that would make the import wait on
    itself, or one in a folder that does not exist, is refused before
    anything is recorded). Raises LoyaltyError, or OptionConflict for
    `rejects` without `skip_errors`."""
    from loyalty_cli.io import importer
    from loyalty_cli.ledger.operations import check_place

    rejects = _path(rejects)
    maps, wheres = _pairs(mapping, "--map"), _pairs(where, "--where")
    for name, value in (("--rejects", rejects), ("--date-format", date_format), ("--encoding", encoding),
                        ("--delimiter", delimiter), *(("--map", m) for m in maps), *(("--where", w) for w in wheres)):
        if value is not None and value == "":  # as --db "": an empty value is a mistake, never "the default"
            raise LoyaltyError(f"{name} is empty: give a value, or leave {name} out")
    if rejects and not skip_errors:
        raise OptionConflict("--rejects goes with --skip-errors")
    if rejects:  # before the lock: a path that would make the import wait on itself
        importer.check_rejects_target(rejects)
    if rejects and not Path(rejects).parent.is_dir():  # found out before the import, not after its commit
        raise LoyaltyError(f"--rejects {rejects}: folder {Path(rejects).parent} does not exist")
    fields = importer.PURCHASE_FIELDS if kind == "purchases" else importer.MEMBER_FIELDS
    store, till = (check_place(v, what) if v is not None else None
                   for v, what in ((store, "--store"), (till, "--till")))
    return importer.Options(mapping=importer.parse_mapping(maps, fields), date_format=date_format,
                            store=store, till=till, encoding=encoding, delimiter=delimiter,
                            create_members=create_members,
                            dry_run=dry_run, skip_errors=skip_errors, keep_rows=bool(rejects), where=wheres,
                            decimal_comma=decimal_comma, apply_tier_discount=apply_tier_discount)


def _path(value: str | os.PathLike[str] | None) -> str | None:
    return None if value is None else os.fspath(value)


def _opened(file: Source) -> tuple[IO[bytes], bool]:
    """The binary stream to read, and whether it was opened here."""
    if isinstance(file, (str, os.PathLike)):
        try:
            return open(file, "rb"), True  # closed by the caller
        except OSError as e:
            raise LoyaltyError(f"cannot read {os.fspath(file)}: {e.strerror or e}") from None
    if not hasattr(file, "read"):
        raise LoyaltyError(f"FILE must be a path or a binary stream, not {type(file).__name__}")
    return file, False


def _counted(items: Iterator[dict], seen: list[int]) -> Iterator[dict]:
    n = 0
    for item in items:
        n += 1
        yield item
    seen.append(n)


class IOAPI(LedgerCore):
    def import_purchases(self, file: Source, *, mapping: Pairs = (), where: Pairs = (),
                         date_format: str | None = None, encoding: str | None = None, delimiter: str | None = None,
                         decimal_comma: bool = False, create_members: bool = False,
                         apply_tier_discount: bool = False, dry_run: bool = False, skip_errors: bool = False,
                         rejects: str | os.PathLike[str] | None = None, progress: Progress | None = None,
                         store: str | None = None, till: str | None = None) -> Import:
        """Import purchases from CSV: `file` is a path or a binary stream with
        a header row and columns member, amount, date and optionally order,
        code, store, till (and name, for `create_members`); `store` and
        `till` are those of the rows whose cell is empty or missing. `mapping` reads a field from
        another column ({"member": "Email"} or ["member=Email"]); `where`
        keeps only rows whose COLUMN is VALUE (["Financial Status=paid"]).
        Rows are applied in date order and earn as `purchase` would; the same
        file imported again adds only its new rows. One bad row refuses the
        whole file (ImportRefused, nothing written) unless `skip_errors`;
        `rejects` then names a file for the bad rows, with a reason column.
        `progress(done, total)` is called as rows are applied."""
        opts = import_options("purchases", mapping=mapping, where=where, date_format=date_format,
                              encoding=encoding, delimiter=delimiter, decimal_comma=decimal_comma,
                              create_members=create_members, apply_tier_discount=apply_tier_discount,
                              dry_run=dry_run, skip_errors=skip_errors, rejects=rejects, store=store, till=till)
        return self._import("purchases", file, opts, _path(rejects), progress)

    def import_members(self, file: Source, *, mapping: Pairs = (), where: Pairs = (),
                       date_format: str | None = None, encoding: str | None = None, delimiter: str | None = None,
                       decimal_comma: bool = False, dry_run: bool = False, skip_errors: bool = False,
                       rejects: str | os.PathLike[str] | None = None, progress: Progress | None = None) -> Import:
        """Import members from CSV with columns name and optionally member,
        email, phone, birthday, enrolled, marketing (yes/no); the options as
        for `import_purchases`. A row already in the ledger with the same
        details is skipped; with other details it is an error."""
        opts = import_options("members", mapping=mapping, where=where, date_format=date_format,
                              encoding=encoding, delimiter=delimiter, decimal_comma=decimal_comma,
                              dry_run=dry_run, skip_errors=skip_errors, rejects=rejects)
        return self._import("members", file, opts, _path(rejects), progress)

    def _import(self, kind: str, file: Source, opts: Options, rejects: str | None,
                progress: Progress | None) -> Import:
        from loyalty_cli.io import importer
        from loyalty_cli.store import db as store

        stream, mine = _opened(file)
        run = importer.import_purchases if kind == "purchases" else importer.import_members
        sink = None  # the rejects file: opened before the import commits, written after
        try:
            # a dry run does all the work and is rolled back by the session, which counts it as no write
            with self._session(write=True, dry_run=opts.dry_run) as conn:
                if rejects:
                    importer.guard_rejects(rejects, store.sqlite_file(self.url), self.programme.path, stream)
                    if not opts.dry_run:
                        sink = importer.RejectsFile(rejects)
                result = run(conn, self.programme, stream, opts, self._now(), progress)
        except BaseException as e:
            if sink is not None:
                sink.discard()  # nothing was recorded
            if isinstance(e, importer.ImportRefused):
                raise ImportRefused(str(e), tuple(ImportProblem(p.line, p.column, p.reason)
                                                  for p in e.problems)) from None
            raise
        finally:
            if mine:
                stream.close()
        s = result.summary()
        done = Import(**s, dry_run=opts.dry_run,
                      rejected_rows=tuple(ImportProblem(p.line, p.column, p.reason) for p in result.rejected))
        if sink is not None:
            try:
                sink.write(result.header, result.rejected)
            except OSError as e:
                raise RejectsNotWritten(f"could not write the rejects file ({rejects}: {e.strerror or e}); the "
                                        f"import was recorded: {result.added} added", done) from None
        return done

    def export(self, what: str, out: TextOut, *, format: str = "csv", since: Moment | None = None,
               marketing_only: bool = False, store: str | None = None) -> Export:
        """Write `what` ("ledger": every entry; "members"; "purchases", each
        with what was refunded of it) to the text stream `out`, as CSV with a
        header row or as a JSON list, one row at a time as it is read: memory
        stays flat however large the ledger. `since`: only rows from then on
        (members: enrolled since); `marketing_only` (members): only those who
        consented; `store` (purchases): only those rung up at that store.
        The stream is written inside the read transaction and not closed.
        Returns what was written: the columns and how many rows."""
        from loyalty_cli.io import exporter

        if what not in EXPORTS:
            raise LoyaltyError(f"cannot export {what!r}: choose {', '.join(EXPORTS)}")
        if format not in EXPORT_FORMATS:
            raise LoyaltyError(f"--format {format!r}: choose csv or json")
        if marketing_only and what != "members":
            raise OptionConflict("--marketing-only goes with `export members`")
        if store is not None and what != "purchases":
            raise OptionConflict("--store goes with `export purchases`")
        if store is not None:
            from loyalty_cli.ledger.operations import check_place

            store = check_place(store, "--store")
        seen: list[int] = []
        with self._session(write=False) as conn:
            start = self._moment(since, "--since") if since else None
            columns, rows = exporter.rows(conn, self.programme, what, since=start, marketing_only=marketing_only,
                                          store=store)
            exporter.write(out, format, columns, _counted(rows, seen))
        return Export(what=what, format=format, columns=tuple(columns), rows=seen[0] if seen else 0)
