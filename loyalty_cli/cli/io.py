"""Import and export: import purchases, import members, export."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from loyalty_cli.cli.app import (
    LoyaltyGroup,
    _shared,
    cli,
    cli_ledger,
    examples,
    format_option,
    group_options,
    ledger_options,
)
from loyalty_cli.cli.render import echo, emit_json
from loyalty_cli.errors import LoyaltyError

if TYPE_CHECKING:
    from loyalty_cli.api.io import Import, ImportProblem

# ---------------------------------------------------------------------------
# import and export
# ---------------------------------------------------------------------------


class _InputFile(click.File):
    """A file to read, or - for stdin; a closed stdin or an unopenable path
    is a one-line error, not a traceback."""

    def convert(self, value, param, ctx):
        if value == "-" and (sys.stdin is None or _closed(sys.stdin)):
            raise LoyaltyError("FILE is - but stdin is closed: pipe the CSV in, or name the file")
        try:
            return super().convert(value, param, ctx)
        except RuntimeError as e:  # click could not find a binary stdin
            raise LoyaltyError(f"cannot read stdin: {e}") from None


def _closed(stream) -> bool:
    """Is this stream's file descriptor closed (`loyalty import purchases - 0<&-`)?"""
    try:
        fd = stream.fileno()
    except (OSError, ValueError, AttributeError):  # no descriptor (a test's stream): readable as it is
        return getattr(stream, "closed", False)
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False


def import_options(f):
    for opt in reversed([
        click.option("--map", "mapping", multiple=True, metavar="FIELD=COLUMN",
                     help="Read FIELD from the file's COLUMN, e.g. --map member=Email (repeatable); "
                          "--map name='First Name+Last Name' joins columns with a space."),
        click.option("--where", multiple=True, metavar="COLUMN=VALUE",
                     help="Import only rows whose COLUMN is VALUE (ignoring case), "
                          "e.g. --where 'Financial Status=paid'; "
                          "repeat for one column = any of the values, for several columns = all must hold."),
        click.option("--date-format", metavar="FORMAT", help="strptime layout of the dates, e.g. '%d.%m.%Y %H:%M'."),
        click.option("--encoding", metavar="NAME",
                     help="Text encoding of the file "
                          "[default: UTF-8 with or without BOM; UTF-16 or UTF-32 by its BOM]."),
        click.option("--delimiter", metavar="CHAR",
                     help="Field separator [default: ','; ';' with --decimal-comma when the header has one]."),
        click.option("--decimal-comma", is_flag=True, help="Amounts are written with a decimal comma, e.g. 12,50."),
        click.option("--dry-run", is_flag=True, help="Report what would happen; write nothing."),
        click.option("--skip-errors", is_flag=True, help="Import the good rows even when some are bad."),
        click.option("--rejects", metavar="FILE", type=click.Path(dir_okay=False, writable=True),
                     help="With --skip-errors: write the bad rows here, with a reason column."),
    ]):
        f = opt(f)
    return f


SHOWN = 20  # bad rows listed on stderr (the rest counted)


def _run_import(kind: str, file, fmt: str, config: str, db: str | None, **options) -> None:
    """`options` are the import's, as the Ledger's method takes them. They
    are checked before the programme file is read, as they always were."""
    from loyalty_cli.api.io import ImportRefused, OptionConflict, RejectsNotWritten, import_options

    try:
        import_options(kind, **options)
    except OptionConflict as e:
        raise click.UsageError(str(e)) from None
    progress, stop = _progress_bar(f"Importing {kind}")
    try:
        with cli_ledger(config, db) as ledger:
            run = ledger.import_purchases if kind == "purchases" else ledger.import_members
            r = run(file, progress=progress, **options)
    except ImportRefused as e:
        stop()
        for p in e.problems[:SHOWN]:
            echo(f"  {p}", err=True)
        if len(e.problems) > SHOWN:
            echo(f"  ... and {len(e.problems) - SHOWN} more", err=True)
        raise
    except RejectsNotWritten as e:
        stop()
        _list_rejected(e.result.rejected_rows, all_of_them=True)  # named somewhere, since the file could not take them
        raise
    finally:
        stop()
    _import_summary(r, fmt)


def _import_summary(r: Import, fmt: str) -> None:
    """The result as JSON (with --format json); the rejected rows and a summary line on stderr."""
    if fmt == "json":
        emit_json(r.to_json())
    _list_rejected(r.rejected_rows)
    n = r.created_members
    made = f", {n} new member{'s' if n != 1 else ''}" if n else ""
    what = "would add" if r.dry_run else "added"
    merged = f", {r.merged} merged into their order's first row" if r.merged else ""
    left = f", {r.not_selected} not selected by --where" if r.not_selected else ""
    echo(f"Read {r.read} row{'' if r.read == 1 else 's'}: {what} {r.added}, "
         f"skipped {r.skipped} already in the ledger, rejected {r.rejected}{made}{merged}{left}.", err=True)
    if r.amount_on_several_rows:  # a till that writes each line's price in the amount column would lose money
        n = r.amount_on_several_rows
        echo(f"{n} order{'s' if n != 1 else ''} had {'their' if n != 1 else 'its'} amount on more than one row; "
             "the first was taken (an order's total belongs on one of its rows).", err=True)


def _list_rejected(rejected: Sequence[ImportProblem], all_of_them: bool = False) -> None:
    for p in rejected[:SHOWN]:
        echo(f"  rejected {p}", err=True)
    if all_of_them and len(rejected) > SHOWN:
        echo(f"  ... and {len(rejected) - SHOWN} more", err=True)


def _progress_bar(label: str):
    """A progress bar on stderr when it is a terminal; nothing otherwise."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from rich.console import Console
    from rich.progress import Progress

    bar_ = Progress(console=Console(stderr=True), transient=True)
    task = bar_.add_task(label, total=None)
    bar_.start()

    def update(done: int, total: int) -> None:
        bar_.update(task, completed=done, total=total)

    return update, bar_.stop


@cli.group("import", cls=LoyaltyGroup)
@group_options
def import_(config, db, fmt, as_of):
    """Import CSV: purchases from a till or web shop, or a customer list.

    \b
    Examples:
      shop-export | loyalty import purchases - --map member=Email --map amount=Total --map order=Name
      loyalty import members customers.csv
    """


@import_.command("purchases")
@click.argument("file", type=_InputFile("rb"))
@click.option("--create-members", is_flag=True, help="Enrol members the file names but the ledger does not know.")
@click.option("--apply-tier-discount", is_flag=True,
              help="Take the tier's standing discount off each amount (by default an imported amount is what "
                   "the customer was charged: it earns with the tier's multiplier, no discount).")
@click.option("--store", envvar="LOYALTY_STORE", metavar="STORE",
              help="The store of rows with no store column or an empty one (env LOYALTY_STORE).")
@click.option("--till", envvar="LOYALTY_TILL", metavar="TILL",
              help="The till of rows with no till column or an empty one (env LOYALTY_TILL).")
@import_options
@format_option
@ledger_options
@examples("loyalty import purchases orders.csv",
          "shop-export | loyalty import purchases - --map member=Email --map amount=Total --map order=Name "
          "--map date='Created at' --create-members",
          "loyalty import purchases till.csv --delimiter ';' --date-format '%d.%m.%Y %H:%M' --dry-run",
          "loyalty import purchases orders.csv --skip-errors --rejects bad.csv --format json",
          "loyalty import purchases orders_export.csv --map member=Email --map amount=Total --map order=Name "
          "--map date='Created at' --where 'Financial Status=paid' --create-members   # Shopify")
def import_purchases(file, create_members, apply_tier_discount, store, till, mapping, where, date_format, encoding,
                     delimiter, decimal_comma, dry_run, skip_errors, rejects, fmt, config, db):
    """Import purchases from CSV (FILE, or - for stdin) with columns member,
    amount, date and optionally order, code, store, till (and name, for
    --create-members).

    Rows are applied in date order and earn exactly as `purchase` would.
    Importing the same file again, or with rows appended, adds only the new
    rows: the order id is a row's key, or without one its content and how often
    that content came before. One bad row refuses the whole file (nothing is
    written) unless --skip-errors."""
    _run_import("purchases", file, fmt, config, db, mapping=mapping, where=where, date_format=date_format,
                encoding=encoding, delimiter=delimiter, decimal_comma=decimal_comma, create_members=create_members,
                apply_tier_discount=apply_tier_discount, dry_run=dry_run, skip_errors=skip_errors, rejects=rejects,
                store=store, till=till)


@import_.command("members")
@click.argument("file", type=_InputFile("rb"))
@import_options
@format_option
@ledger_options
@examples("loyalty import members customers.csv",
          "loyalty import members export.csv --map member='Customer ID' --map name='Full name' --map email=Email",
          "loyalty import members customers_export.csv --map name='First Name+Last Name' --map email=Email")
def import_members(file, mapping, where, date_format, encoding, delimiter, decimal_comma, dry_run, skip_errors, rejects,
                   fmt, config, db):
    """Import members from CSV with columns name and optionally member, email,
    phone, birthday, enrolled, marketing (yes/no). A row already in the ledger
    with the same details is skipped; with other details it is an error."""
    _run_import("members", file, fmt, config, db, mapping=mapping, where=where, date_format=date_format,
                encoding=encoding, delimiter=delimiter, decimal_comma=decimal_comma, dry_run=dry_run,
                skip_errors=skip_errors, rejects=rejects)


@cli.command()
@click.argument("what", type=click.Choice(["ledger", "members", "purchases"]))
@click.option("--since", metavar="DATE", help="Only rows from this date on (members: enrolled since).")
@click.option("--marketing-only", is_flag=True, help="members: only those who consented to marketing.")
@click.option("--store", metavar="STORE", help="purchases: only those rung up at this store.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True,
              callback=_shared, help="Output format.")
@ledger_options
@examples("loyalty export ledger > ledger.csv", "loyalty export members --marketing-only > mailing.csv",
          "loyalty export purchases --since 2026-01-01 --format json",
          "loyalty export purchases --store Kesklinn > kesklinn.csv")
def export(what, since, marketing_only, store, fmt, config, db):
    """Write the ledger's entries, the members or the purchases as CSV or JSON,
    streaming (constant memory however large the ledger)."""
    from loyalty_cli.cli import render

    if marketing_only and what != "members":  # a usage error, before the programme file is read
        raise click.UsageError("--marketing-only goes with `export members`")
    if store is not None and what != "purchases":
        raise click.UsageError("--store goes with `export purchases`")
    # JSON with every control character \u-escaped (the same strings to a reader); CSV into a
    # file or a pipe exactly as stored, on a screen with control characters shown escaped
    out = render.Screen(sys.stdout, json_out=True) if fmt == "json" else \
        render.Screen(sys.stdout) if sys.stdout.isatty() else sys.stdout
    with cli_ledger(config, db) as ledger:
        ledger.export(what, out, format=fmt, since=since, marketing_only=marketing_only, store=store)
