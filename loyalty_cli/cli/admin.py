"""Setting up and looking after the ledger: init, upgrade, backup, check, program, batch."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import click

from loyalty_cli.cli.app import (
    _plural,
    cli,
    cli_ledger,
    config_option,
    examples,
    format_option,
    ledger_options,
    recorded,
)
from loyalty_cli.cli.render import Col, View, echo, emit_result
from loyalty_cli.errors import LoyaltyError

if TYPE_CHECKING:
    from loyalty_cli.api.admin import Program

# ---------------------------------------------------------------------------
# setup: init, check, program
# ---------------------------------------------------------------------------


@cli.command()
@click.option("--force", is_flag=True, help="Overwrite an existing programme file (the ledger is never touched).")
@click.option("--name", default="My Shop", show_default=True, help="Programme name.")
@click.option("--currency", default="EUR", show_default=True, help="ISO 4217 currency code.")
@click.option("--timezone", "tz", default="UTC", show_default=True, help="IANA timezone, e.g. Europe/Tallinn.")
@click.option("--sample", is_flag=True,
              help="Write sample_config.toml, every key explained (with --name, --currency, --timezone if given).")
@ledger_options
@examples("loyalty init", "loyalty init --name 'Corner Coffee' --currency EUR --timezone Europe/Tallinn",
          "loyalty init --config shop/loyalty.toml", "loyalty init --sample --name 'Corner Coffee'")
@click.pass_context
def init(ctx, force, name, currency, tz, sample, config, db):
    """Write a starter programme file and create the ledger.

    An existing programme file is kept unless --force, which keeps the old one
    as FILE.bak (or FILE.bak.1, .bak.2, ...); an existing ledger is never
    overwritten or emptied."""
    from click.core import ParameterSource

    from loyalty_cli.api import admin

    def given(param: str, value: str) -> str | None:  # --sample keeps the sample's own values unless typed
        return value if not sample or ctx.get_parameter_source(param) is ParameterSource.COMMANDLINE else None

    r = admin.init(config, db=db, force=force, name=given("name", name), currency=given("currency", currency),
                   timezone=given("tz", tz), sample=sample,
                   record_db=ctx.get_parameter_source("db") is not ParameterSource.ENVIRONMENT)
    recorded()
    echo(f"Wrote {r.config}" + (f" (the old one is kept as {r.kept_as})." if r.kept_as else ".") if r.written
         else f"Using the existing {r.config}.", err=True)
    done = {"created": "Created ledger", "current": "Kept the existing ledger"}[r.state]
    echo(f"{done} {r.ledger}.", err=True)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Name the steps an upgrade would run; write nothing.")
@format_option
@ledger_options
@examples("loyalty upgrade --dry-run", "loyalty upgrade", "loyalty upgrade --db postgresql://loyalty@db.example/shop")
def upgrade(dry_run, fmt, config, db):
    """Bring a ledger made by an older loyalty to this loyalty's schema.

    Every other command refuses a ledger whose schema version is older than
    this loyalty's. The upgrade takes the ledger's write lock, makes a backup
    first on SQLite (LEDGER.before-upgrade-vN.bak beside the file, checked),
    then runs every pending step in one transaction: all of them are done, or
    none. A ledger that is up to date is left as it is (exit 0)."""
    from loyalty_cli.api import admin

    r = admin.upgrade(config, db=db, dry_run=dry_run)
    recorded()
    if fmt == "json":
        emit_result(fmt, r, lambda doc: [])
        return
    if not r.steps:
        echo(f"Ledger {r.ledger} is up to date (schema version {r.from_version}).")
        return
    if r.backup:
        echo(f"Backed up ledger {r.ledger} to {r.backup}.")
    for step in r.steps:
        echo(f"{'Would run' if r.dry_run else 'Ran'} step {step.version}: {step.name}")
    if r.dry_run:
        echo(f"Would upgrade ledger {r.ledger} from schema version {r.from_version} to {r.steps[-1].version}; "
             "nothing was written.")
    else:
        echo(f"Upgraded ledger {r.ledger} from schema version {r.from_version} to {r.to_version}.")


@cli.command()
@click.argument("path", type=click.Path(dir_okay=True, path_type=Path))
@format_option
@ledger_options
@examples("loyalty backup backups/loyalty-$(date +%F).db", "loyalty check --db backups/loyalty-2026-11-22.db")
def backup(path, fmt, config, db):
    """Copy the ledger to PATH while it is in use: a consistent, compacted
    copy of one moment (SQLite's VACUUM INTO; a PostgreSQL ledger is copied
    into a new SQLite file, as `loyalty copy` does), readable by its owner only.

    Tills and cron jobs can keep writing meanwhile. The copy is then checked
    like `loyalty check` does, and the command prints the head of its hash
    chain: note it, and `check --head` proves later that the ledger still
    holds everything up to it. PATH must not exist yet."""
    from loyalty_cli.api.admin import backup_path

    target = backup_path(path)  # before the ledger opens, as the command has always refused a bad PATH first
    with cli_ledger(config, db) as ledger:
        r = ledger.backup(target)
    recorded(f"the backup was written to {target}")
    if r.problems:
        for p in r.problems:
            echo(p)
        raise LoyaltyError(f"the copy at {target} has {_plural(len(r.problems), 'problem')}: "
                           "the ledger itself needs `loyalty check`")
    if fmt == "json":
        emit_result(fmt, r, lambda doc: [])
    else:
        echo(f"Backed up {r.entries} entries to {target} ({r.bytes:,} bytes); check passed. Head: {r.head}", err=True)


@cli.command()
@click.option("--to", "to", required=True, metavar="URL|PATH",
              help="The empty database (an SQLAlchemy URL) or the new SQLite file to copy the ledger into.")
@click.option("--dry-run", is_flag=True, help="Check the target and show what would be copied; write nothing.")
@format_option
@ledger_options
@examples("loyalty copy --to postgresql://shop@dbhost/shop --dry-run",
          "loyalty copy --to postgresql://shop@dbhost/shop", "loyalty copy --db postgresql://shop@dbhost/shop --to "
          "moved-back.db")
def copy(to, dry_run, fmt, config, db):
    """Copy the whole ledger into an empty database or a new SQLite file:
    SQLite to PostgreSQL, back, or to another file.

    One transaction on the target: the schema as `init` makes it, then every
    table's rows with their ids. Before it commits, each table's rows and the
    head of the hash chain must equal the ledger's and the copy must pass
    `loyalty check`; otherwise nothing is written. The ledger is read as one
    moment, so tills may keep writing (what they write after it is not in
    the copy). The programme file is not changed: afterwards point its
    [ledger] database (or --db, LOYALTY_DB) at the copy."""
    with cli_ledger(config, db) as ledger:
        r = ledger.copy(to, dry_run=dry_run)
    if not dry_run:
        recorded(f"the ledger was copied to {r.target}")
    cols = [Col("table", "Table"), Col("rows", "Rows", "right")]
    emit_result(fmt, r, lambda doc: [View("Would copy" if dry_run else "Copied", cols, doc["tables"])])
    if fmt == "table":
        verb = "Would copy" if dry_run else "Copied"
        echo(f"{verb} {_plural(r.rows, 'row')} in {_plural(len(r.tables), 'table')} to {r.target}"
             + ("" if dry_run else "; check passed on the copy") + f". Head: {r.head}", err=True)
        if not dry_run:
            echo(f"The programme still uses {r.source}: set [ledger] database in {config} to the new URL "
                 "(or pass --db / LOYALTY_DB) to use the copy.", err=True)


@cli.command()
@ledger_options
@click.option("--head", "head", metavar="N:HASH",
              help="Also prove the ledger still holds this head, noted earlier with --print-head: "
                   "nothing up to it was rewritten or cut off.")
@click.option("--print-head", is_flag=True,
              help="After a clean check, print the head of the hash chain (entries:hash) to note elsewhere.")
@format_option
@examples("loyalty check && echo clean", "loyalty check --db backup.db",
          "loyalty check --print-head >> ~/ledger-heads.txt",
          "loyalty check --head \"$(tail -1 ~/ledger-heads.txt)\"", "loyalty check --format json")
def check(config, db, head, print_head, fmt):
    """Validate the programme file and the ledger's integrity.

    Silent with exit 0 when everything is sound; otherwise one line per problem
    on stdout and exit 1. Checks: schema version, SQLite's integrity check,
    the hash chain over every entry (an edit made outside loyalty breaks it),
    every balance equals the sum of its entries, no lot spent beyond its
    points, points spent soonest-expiring and oldest first, nothing redeemed
    that was not available, nothing expired before its day, purchases add up,
    no code or referral paid beyond its limits, every member's marketing
    consent is the latest change in its consent history."""
    from loyalty_cli.api.admin import check_head

    if head is not None:
        check_head(head)  # before the ledger opens
    with cli_ledger(config, db) as ledger:
        r = ledger.check(head=head, print_head=print_head)
    if fmt != "table":  # the problems as objects: {"ok", "problems": [{"kind", "subject", "message"}], "head"}
        emit_result(fmt, r, lambda doc: [View("", [Col("kind", ""), Col("subject", ""), Col("message", "")],
                                              doc["problems"])])
    else:
        for p in r.problems:
            echo(p)
    if r.problems:
        raise LoyaltyError(f"{_plural(len(r.problems), 'problem')} found")
    if r.head is not None and fmt == "table":
        echo(r.head)


@cli.command()
@format_option
@config_option
@examples("loyalty program", "loyalty program --format json")
def program(fmt, config):
    """Show the rules in force: earning, actions, redemption, rewards, expiry, tiers, referral."""
    from loyalty_cli.api.admin import Program
    from loyalty_cli.domain.config import load

    r = Program.of(load(config))  # the programme file alone: no ledger needed
    if fmt == "csv":
        emit_result(fmt, r, lambda doc: [View("", [Col("section", ""), Col("key", ""), Col("value", "")],
                                              [{"section": sec, "key": k, "value": v}
                                               for sec, body in doc.items() for k, v in _flatten(body)])])
    else:
        emit_result(fmt, r, lambda doc: _program_views(r))


def _program_views(r: Program) -> list[View]:
    """`program` on a terminal: the rules in words, one table per section."""
    p, earn, red, tiers, ref = r.program, r.earning, r.redemption, r.tiers, r.referral
    cur = p.currency
    kv = [Col("field", "Field"), Col("value", "Value")]

    def kv_view(title, pairs):
        return View(title, kv, [{"field": k, "value": v} for k, v in pairs], kv=True)

    return [
        kv_view(f"{p.name}", [("currency", f"{cur} ({p.decimals} decimals)"), ("timezone", p.timezone),
                              ("phone region", p.phone_region or "none (numbers kept as typed)"),
                              ("config", p.config), ("ledger", p.database)]),
        kv_view("Earning", [
            ("points", f"{earn.points_per_unit} per 1 {cur} of net spend, times the tier's multiplier"),
            ("rounding", f"{earn.rounding}, once per purchase"),
            ("minimum purchase", f"{earn.min_purchase:f} {cur}"),
            ("welcome bonus", earn.welcome_bonus), ("birthday bonus", earn.birthday_bonus),
            ("pending",
             f"{earn.pending_days} days before earned points can be spent" if earn.pending_days else "none")]),
        View("Actions (loyalty award MEMBER ACTION)", [Col("name", "Action"), Col("points", "Points", "right"),
                                                        Col("limit", "Limit", wrap=True)],
             [{"name": a.name, "points": a.points,
               "limit": ("none" if a.limit is None else f"{a.limit} per {a.per}" if a.per != "ever"
                         else f"{a.limit} in all")}
              for a in r.actions], empty="none configured"),
        kv_view("Redemption", [("point value", f"{red.point_value} {cur}"), ("minimum", f"{red.min_points} points"),
                               ("max share of a purchase", f"{(red.max_share * 100).normalize():f}%")]),
        View("Rewards (loyalty redeem MEMBER --reward NAME)", [Col("name", "Reward"), Col("points", "Points", "right"),
                                                              Col("description", "Description", wrap=True)],
             [{"name": w.name, "points": w.points, "description": w.description} for w in r.rewards],
             empty="none configured"),
        kv_view("Expiry", [("points expire",
                            f"{r.expiry.days} days after they are earned" if r.expiry.days else "never"),
                           ("warn", f"{r.expiry.warn_days} days ahead")]),
        View(f"Tiers (by {'net spend' if tiers.basis == 'spend' else 'points earned'}, "
             f"{tiers.window}, {'downgrade' if tiers.downgrade else 'no downgrade'})",
             [Col("name", "Tier"), Col("min", "From", "right"), Col("multiplier", "Multiplier", "right"),
              Col("discount", "Discount", "right")],
             [{"name": lv.name, "min": f"{lv.min:f}" if tiers.basis == "spend" else lv.min,
               "multiplier": f"×{lv.multiplier}", "discount": f"{lv.discount_percent}%" if lv.discount_percent else ""}
              for lv in tiers.levels]),
        kv_view("Referral", [("referrer gets", f"{ref.referrer_points} points"),
                             ("friend gets", f"{ref.referee_points} points"),
                             ("friend's first purchase from", f"{ref.min_purchase:f} {cur}")]),
    ]


def _flatten(value, prefix=""):
    """('levels.0.name', 'Bronze') pairs from nested dicts and lists."""
    items: Iterable[tuple[object, object]]
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        yield prefix, value
        return
    for k, v in items:
        yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))


class _BatchFile(click.File):
    """FILE of `batch`: `-` is standard input, which must be open."""

    def convert(self, value, param, ctx):
        if value == "-":
            try:
                os.fstat(0)
                closed = sys.stdin is None
            except OSError:
                closed = True
            if closed:
                raise click.ClickException("batch -: standard input is closed, there are no lines to read "
                                           "(give a file, or feed the lines on standard input)")
        return super().convert(value, param, ctx)


@cli.command()
@click.argument("file", type=_BatchFile("rb"))
@click.option("--stop-on-error", is_flag=True, help="Stop at the first command that fails.")
@ledger_options
@examples("loyalty batch tonight.txt", "printf 'purchase anna 12.50 --order T-1\\nshow anna\\n' | loyalty batch -",
          "loyalty batch orders.txt --stop-on-error > results.jsonl")
def batch(file, stop_on_error, config, db):
    """Run many loyalty commands, one per line of FILE (- for standard
    input), paying for start-up once.

    Each line is written as on the command line, without `loyalty` (it may be
    there); blank lines and # comments are skipped. Each command runs in its
    own transaction, exactly as if typed, and prints one JSON object on one
    line: {"line", "exit", "result", "message", "error"}, where result is the
    command's --format json output. Lines use the batch's --config and --db
    unless they name their own; `init` and `batch` cannot run in a batch, and
    destructive commands need --yes. Exit 0 when every command succeeded,
    otherwise 1 after the last (or, with --stop-on-error, the first) failure;
    the commands that succeeded stay written."""
    from loyalty_cli.cli import batch_runner as batch_module

    ran, failed = batch_module.run(cli, file, config=config, db=db, stop_on_error=stop_on_error)
    if failed:
        raise LoyaltyError(f"{failed} of {ran} command{'s' if ran != 1 else ''} failed"
                           + ("; stopped at the first" if stop_on_error else "") + " (see their lines)")
