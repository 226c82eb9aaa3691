"""Import and export: import purchases, import members, export."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from loyalty_cli.cli.app import (
    LoyaltyGroup,
    _shared,
    cli,
    examples,
    format_option,
    group_options,
    ledger_options,
    ledger_session,
)
from loyalty_cli.cli.render import echo, emit_json
from loyalty_cli.domain.dates import now, parse_datetime
from loyalty_cli.errors import LoyaltyError

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


def _run_import(kind, file, mapping, date_format, encoding, delimiter, dry_run, skip_errors, rejects,  # noqa: C901
                create_members, fmt, config, db, where=(), decimal_comma=False,
                apply_tier_discount=False):  # long: each option checked, then one session, then the summary
    from loyalty_cli.io import importer

    for name, value in (("--rejects", rejects), ("--date-format", date_format), ("--encoding", encoding),
                        ("--delimiter", delimiter), *(("--map", m) for m in mapping), *(("--where", w) for w in where)):
        if value is not None and value == "":  # as --db "": an empty value is a mistake, never "the default"
            raise LoyaltyError(f"{name} is empty: give a value, or leave {name} out")
    if rejects and not skip_errors:
        raise click.UsageError("--rejects goes with --skip-errors")
    if rejects:  # before the lock: a path that would make the import wait on itself
        importer.check_rejects_target(rejects)
    if rejects and not Path(rejects).parent.is_dir():  # found out before the import, not after its commit
        raise LoyaltyError(f"--rejects {rejects}: folder {Path(rejects).parent} does not exist")
    fields = importer.PURCHASE_FIELDS if kind == "purchases" else importer.MEMBER_FIELDS
    opts = importer.Options(mapping=importer.parse_mapping(mapping, fields), date_format=date_format,
                            encoding=encoding, delimiter=delimiter, create_members=create_members,
                            dry_run=dry_run, skip_errors=skip_errors, keep_rows=bool(rejects), where=list(where),
                            decimal_comma=decimal_comma, apply_tier_discount=apply_tier_discount)
    progress, stop = _progress_bar(f"Importing {kind}")
    run = importer.import_purchases if kind == "purchases" else importer.import_members
    sink = None  # --rejects, opened before the import commits, written after
    try:
        # a --dry-run does all the work and is rolled back by the session, which then counts it as no write
        with ledger_session(config, db, write=True, dry_run=dry_run) as (prog, conn):
            if rejects:
                from loyalty_cli.store import db as dbm
                importer.guard_rejects(rejects, dbm.sqlite_file(prog.database_url(db)), prog.path, file)
                if not dry_run:
                    sink = importer.RejectsFile(rejects)
            result = run(conn, prog, file, opts, now(prog.timezone), progress)
    except importer.ImportRefused as e:
        stop()
        for p in e.problems[:importer.SHOWN_ERRORS]:
            echo(f"  {p}", err=True)
        if len(e.problems) > importer.SHOWN_ERRORS:
            echo(f"  ... and {len(e.problems) - importer.SHOWN_ERRORS} more", err=True)
        raise
    finally:
        stop()
        if sink is not None and sys.exc_info()[0] is not None:
            sink.discard()  # nothing was recorded
    if sink is not None:
        try:
            sink.write(result.header, result.rejected)
        except OSError as e:
            _list_rejected(result.rejected, all_of_them=True)  # named somewhere, since the file could not take them
            raise LoyaltyError(f"could not write the rejects file ({rejects}: {e.strerror or e}); the import was "
                               f"recorded: {result.added} added") from None
    s = result.summary()
    if fmt == "json":
        emit_json({**s, "dry_run": dry_run})
    _list_rejected(result.rejected)
    n = s["created_members"]
    made = f", {n} new member{'s' if n != 1 else ''}" if n else ""
    what = "would add" if dry_run else "added"
    merged = f", {s['merged']} merged into their order's first row" if s["merged"] else ""
    left = f", {s['not_selected']} not selected by --where" if s["not_selected"] else ""
    echo(f"Read {s['read']} row{'' if s['read'] == 1 else 's'}: {what} {s['added']}, "
         f"skipped {s['skipped']} already in the ledger, rejected {s['rejected']}{made}{merged}{left}.", err=True)
    if s["amount_on_several_rows"]:  # a till that writes each line's price in the amount column would lose money
        n = s["amount_on_several_rows"]
        echo(f"{n} order{'s' if n != 1 else ''} had {'their' if n != 1 else 'its'} amount on more than one row; "
             "the first was taken (an order's total belongs on one of its rows).", err=True)


def _list_rejected(rejected, all_of_them: bool = False) -> None:
    from loyalty_cli.io import importer

    for p in rejected[:importer.SHOWN_ERRORS]:
        echo(f"  rejected {p}", err=True)
    if all_of_them and len(rejected) > importer.SHOWN_ERRORS:
        echo(f"  ... and {len(rejected) - importer.SHOWN_ERRORS} more", err=True)


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
def import_purchases(file, create_members, apply_tier_discount, mapping, where, date_format, encoding, delimiter,
                     decimal_comma, dry_run, skip_errors, rejects, fmt, config, db):
    """Import purchases from CSV (FILE, or - for stdin) with columns member,
    amount, date and optionally order, code (and name, for --create-members).

    Rows are applied in date order and earn exactly as `purchase` would.
    Importing the same file again, or with rows appended, adds only the new
    rows: the order id is a row's key, or without one its content and how often
    that content came before. One bad row refuses the whole file (nothing is
    written) unless --skip-errors."""
    _run_import("purchases", file, mapping, date_format, encoding, delimiter, dry_run, skip_errors, rejects,
                create_members, fmt, config, db, where, decimal_comma, apply_tier_discount)


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
    _run_import("members", file, mapping, date_format, encoding, delimiter, dry_run, skip_errors, rejects,
                False, fmt, config, db, where, decimal_comma)


@cli.command()
@click.argument("what", type=click.Choice(["ledger", "members", "purchases"]))
@click.option("--since", metavar="DATE", help="Only rows from this date on (members: enrolled since).")
@click.option("--marketing-only", is_flag=True, help="members: only those who consented to marketing.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True,
              callback=_shared, help="Output format.")
@ledger_options
@examples("loyalty export ledger > ledger.csv", "loyalty export members --marketing-only > mailing.csv",
          "loyalty export purchases --since 2026-01-01 --format json")
def export(what, since, marketing_only, fmt, config, db):
    """Write the ledger's entries, the members or the purchases as CSV or JSON,
    streaming (constant memory however large the ledger)."""
    from loyalty_cli.cli import render
    from loyalty_cli.io import exporter

    if marketing_only and what != "members":
        raise click.UsageError("--marketing-only goes with `export members`")
    with ledger_session(config, db, write=False) as (prog, conn):
        start = parse_datetime(since, prog.timezone, "--since") if since else None
        columns, rows = exporter.rows(conn, prog, what, since=start, marketing_only=marketing_only)
        # JSON with every control character \u-escaped (the same strings to a reader); CSV into a
        # file or a pipe exactly as stored, on a screen with control characters shown escaped
        out = render.Screen(sys.stdout, json_out=True) if fmt == "json" else \
            render.Screen(sys.stdout) if sys.stdout.isatty() else sys.stdout
        exporter.write(out, fmt, columns, rows)
