"""Setting up and looking after the ledger: init, backup, check, program, batch."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterable

import click

from loyalty_cli.cli.app import (
    cli,
    config_option,
    examples,
    format_option,
    ledger_options,
    ledger_session,
    money,
    recorded,
)
from loyalty_cli.cli.render import Col, View, echo, emit, emit_json
from loyalty_cli.domain.config import Programme, load
from loyalty_cli.errors import LoyaltyError

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
def init(ctx, force, name, currency, tz, sample, config, db):  # long: steps undone together when one fails
    """Write a starter programme file and create the ledger.

    An existing programme file is kept unless --force, which keeps the old one
    as FILE.bak (or FILE.bak.1, .bak.2, ...); an existing ledger is never
    overwritten or emptied."""
    from pathlib import Path

    from loyalty_cli.domain import config as cfg
    from loyalty_cli.domain.dates import zone
    from loyalty_cli.domain.money import currency_decimals
    from loyalty_cli.store import db as dbm

    path = cfg.require_path(config)
    keep = path.exists() and not force
    if path.is_dir():
        raise LoyaltyError(f"{path} is a folder, not a programme file")
    if path.exists() and not keep and not os.access(path, os.W_OK):
        raise LoyaltyError(f"cannot write {path}: permission denied")
    if not keep:
        currency_decimals(currency.upper())
        zone(tz)
        if not path.parent.is_dir():
            raise LoyaltyError(f"cannot write {path}: folder {path.parent} does not exist")
        if sample:
            from click.core import ParameterSource

            given = {k: v for k, v in (("name", name), ("currency", currency.upper()), ("timezone", tz))
                     if ctx.get_parameter_source("tz" if k == "timezone" else k) is ParameterSource.COMMANDLINE}
            text = cfg.with_program(cfg.sample_text(), **given)
        else:
            text = cfg.starter(name, currency.upper(), tz)
        if db and "://" not in db and not db.startswith("sqlite:"):
            from click.core import ParameterSource

            if ctx.get_parameter_source("db") is not ParameterSource.ENVIRONMENT:
                # `init --db shop.db` writes that ledger into the file, so the next command finds it.
                text = cfg.with_database(text, _relative_to(cfg.expand_path(db, "--db"), path.parent))
        prog = cfg.parse(cfg.loads(text), path)  # what we write must load
    else:
        prog = load(path)
    url = prog.database_url(db)
    where = dbm.describe(url)

    def settle(conn, state):  # in the transaction that creates or upgrades the ledger
        if state == "current" and keep:
            raise LoyaltyError(f"already set up: {path} and ledger {where} exist (--force rewrites the programme file)")
        dbm.bind_currency(conn, prog.currency.code, prog.currency.decimals, record=True)

    # Two files, written so that a failure leaves neither half: the programme
    # file goes to a temporary name beside it first (so an unwritable folder
    # is found before the ledger exists), the ledger is created or upgraded
    # in one transaction, and only then is the programme file put in place.
    # A ledger this run created is removed again if anything after it fails.
    partial = None if keep else _write_beside(path, text)
    ledger_file = dbm.sqlite_file(url)
    new_file = ledger_file is not None and not os.path.lexists(ledger_file)
    made = False
    kept = None
    try:
        engine = dbm.engine_for(url, create=True)
        made = new_file
        try:
            state = dbm.create(engine, settle)
        finally:
            engine.dispose()
        if partial is not None:
            kept = _keep_old(path)  # --force: the file it replaces, as FILE.bak
            os.replace(partial, path.resolve() if path.is_symlink() else path)
            partial = None
    except BaseException:
        if made and ledger_file is not None:  # made: a new file, so one was named
            for p in (ledger_file, *(Path(f"{ledger_file}{x}") for x in ("-wal", "-shm", "-journal"))):
                p.unlink(missing_ok=True)
        raise
    finally:
        if partial is not None:
            partial.unlink(missing_ok=True)
    recorded()
    echo(f"Using the existing {path}." if keep
         else f"Wrote {path}" + (f" (the old one is kept as {kept})." if kept else "."), err=True)
    done = {"created": "Created ledger", "upgraded": f"Upgraded to schema version {dbm.SCHEMA_VERSION}: ledger",
            "current": "Kept the existing ledger"}[state]
    echo(f"{done} {where}.", err=True)


def _relative_to(target: Path, folder: Path) -> str:
    """A ledger path as the programme file names it: relative to the file's
    folder when it lies inside it, else absolute."""
    target = Path(os.path.abspath(target))
    folder = Path(os.path.abspath(folder))
    return str(target.relative_to(folder)) if target.is_relative_to(folder) else str(target)


def _write_beside(path: Path, text: str) -> Path:
    """`text` in a new file beside `path` (same folder, so a rename puts it
    in place at once), with the mode of the file it will replace."""
    import stat as st

    target = path.resolve() if path.is_symlink() else path
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    try:
        mode = st.S_IMODE(target.stat().st_mode) if target.exists() else 0o666
        fd = os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
    except OSError as e:
        raise LoyaltyError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if target.exists():
            os.chmod(partial, mode)  # the umask took bits off at open
    except OSError as e:
        partial.unlink(missing_ok=True)
        raise LoyaltyError(f"cannot write {path}: {e.strerror}") from None
    return partial


def _keep_old(path: Path) -> Path | None:
    """Before --force replaces a programme file: keep it as FILE.bak, or
    FILE.bak.1, .bak.2, ... when that exists. None when there was no file."""
    import shutil

    if not path.exists():
        return None
    target = path.with_name(path.name + ".bak")
    n = 0
    while target.exists() or target.is_symlink():
        n += 1
        target = path.with_name(f"{path.name}.bak.{n}")
    try:
        shutil.copy2(path, target)
    except OSError as e:
        raise LoyaltyError(f"cannot keep a copy of {path} as {target} ({e.strerror}); "
                           f"{path} was not replaced") from None
    return target


@cli.command()
@click.argument("path", type=click.Path(dir_okay=True, path_type=Path))
@format_option
@ledger_options
@examples("loyalty backup backups/loyalty-$(date +%F).db", "loyalty check --db backups/loyalty-2026-11-22.db")
def backup(path, fmt, config, db):
    """Copy the ledger to PATH while it is in use: a consistent, compacted
    copy of one moment (SQLite's VACUUM INTO), readable by its owner only.

    Tills and cron jobs can keep writing meanwhile. The copy is then checked
    like `loyalty check` does, and the command prints the head of its hash
    chain: note it, and `check --head` proves later that the ledger still
    holds everything up to it. PATH must not exist yet."""
    from loyalty_cli import checks
    from loyalty_cli.domain.config import expand_path
    from loyalty_cli.store import chain
    from loyalty_cli.store import db as dbm

    path = expand_path(path, "backup PATH")  # ~ and ~user as --db has them; an unknown user is refused
    prog = load(config)

    def verify(copy_path):  # the copy, before it gets its name: it must open and be checked
        copy = dbm.engine_for(dbm.sqlite_url(copy_path.resolve()))
        try:
            with dbm.transaction(copy, write=False) as conn:
                return {"path": str(path), "bytes": copy_path.stat().st_size, "entries": chain.last(conn)[0],
                        "head": chain.head(conn), "problems": checks.check(conn, prog)}
        finally:
            copy.dispose()

    engine = dbm.engine_for(prog.database_url(db))
    try:
        doc = dbm.backup(engine, path, verify)
    finally:
        engine.dispose()
    recorded(f"the backup was written to {path}")
    problems = doc["problems"]
    if problems:
        for p in problems:
            echo(p)
        raise LoyaltyError(f"the copy at {path} has {len(problems)} problem{'s' if len(problems) != 1 else ''}: "
                           "the ledger itself needs `loyalty check`")
    if fmt == "json":
        emit_json(doc)
    else:
        echo(f"Backed up {doc['entries']} entries to {path} ({doc['bytes']:,} bytes); check passed. "
                   f"Head: {doc['head']}", err=True)


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
    from loyalty_cli import checks
    from loyalty_cli.store import chain

    if head is not None:
        chain.parse_head(head)
    with ledger_session(config, db, write=False, checking=True) as (prog, conn):
        problems = checks.check(conn, prog, head=head)
        top = chain.head(conn) if print_head and not problems else None
    if fmt != "table":  # the problems as objects: {"ok", "problems": [{"kind", "subject", "message"}], "head"}
        objects = [_problem(p) for p in problems]
        doc = {"ok": not problems, "problems": objects, "head": top}
        emit(fmt, doc, [View("", [Col("kind", ""), Col("subject", ""), Col("message", "")], objects)])
    else:
        for p in problems:
            echo(p)
    if problems:
        raise LoyaltyError(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found")
    if top is not None and fmt == "table":
        echo(top)


def _problem(text: str) -> dict:
    """A problem line of `check` ("entry 12: hash ...", "schema: version 3 ...")
    as an object: its kind (entry, member, order, promo code, schema, ...),
    subject ("entry 12") and message."""
    subject, sep, message = text.partition(": ")
    if not sep:
        subject, message = "", text
    words = subject.split()
    kind = " ".join(words[:2]) if words[:2] == ["promo", "code"] else (words[0] if words else "ledger")
    return {"kind": kind, "subject": subject, "message": message}


@cli.command()
@format_option
@config_option
@examples("loyalty program", "loyalty program --format json")
def program(fmt, config):
    """Show the rules in force: earning, actions, redemption, rewards, expiry, tiers, referral."""
    prog = load(config)
    doc = _program_doc(prog)
    if fmt == "json":
        emit_json(doc)
        return
    if fmt == "csv":
        rows = [{"section": sec, "key": k, "value": v} for sec, body in doc.items() for k, v in _flatten(body)]
        emit("csv", doc, [View("", [Col("section", ""), Col("key", ""), Col("value", "")], rows)])
        return
    emit("table", doc, _program_views(prog))


def _program_doc(prog: Programme) -> dict:
    """`program --format json`: the rules as data."""
    m = lambda v: money(prog, v)  # noqa: E731
    basis_min = (lambda v: m(v)) if prog.tier_basis == "spend" else (lambda v: v)
    return {
        "program": {"name": prog.name, "currency": prog.currency.code, "timezone": prog.timezone,
                    "phone_region": prog.phone_region, "config": str(prog.path), "database": prog.database},
        "earning": {"points_per_unit": prog.points_per_unit, "rounding": prog.rounding,
                    "min_purchase": m(prog.min_purchase), "welcome_bonus": prog.welcome_bonus,
                    "birthday_bonus": prog.birthday_bonus, "pending_days": prog.pending_days},
        "actions": [{"name": a.name, "points": a.points, "limit": a.limit, "per": a.per}
                    for a in prog.actions.values()],
        "redemption": {"point_value": prog.point_value, "min_points": prog.min_points, "max_share": prog.max_share},
        "rewards": [{"name": r.name, "points": r.points, "description": r.description} for r in prog.rewards],
        "expiry": {"days": prog.expiry_days, "warn_days": prog.warn_days},
        "tiers": {"basis": prog.tier_basis, "window": prog.tier_window, "downgrade": prog.downgrade,
                  "levels": [{"name": lv.name, "min": basis_min(lv.min), "multiplier": lv.multiplier,
                              "discount_percent": lv.discount_percent} for lv in prog.levels]},
        "referral": {"referrer_points": prog.referrer_points, "referee_points": prog.referee_points,
                     "min_purchase": m(prog.referral_min_purchase)},
    }


def _program_views(prog: Programme) -> list[View]:
    """`program` on a terminal: the rules in words, one table per section."""
    m = lambda v: money(prog, v)  # noqa: E731
    basis_min = (lambda v: m(v)) if prog.tier_basis == "spend" else (lambda v: v)
    kv = [Col("field", "Field"), Col("value", "Value")]

    def kv_view(title, pairs):
        return View(title, kv, [{"field": k, "value": v} for k, v in pairs], kv=True)

    cur = prog.currency.code
    return [
        kv_view(f"{prog.name}", [("currency", f"{cur} ({prog.currency.decimals} decimals)"),
                                 ("timezone", prog.timezone),
                                 ("phone region", prog.phone_region or "none (numbers kept as typed)"),
                                 ("config", prog.path), ("ledger", prog.database)]),
        kv_view("Earning", [
            ("points", f"{prog.points_per_unit} per 1 {cur} of net spend, times the tier's multiplier"),
            ("rounding", f"{prog.rounding}, once per purchase"),
            ("minimum purchase", f"{m(prog.min_purchase)} {cur}"),
            ("welcome bonus", prog.welcome_bonus), ("birthday bonus", prog.birthday_bonus),
            ("pending",
             f"{prog.pending_days} days before earned points can be spent" if prog.pending_days else "none")]),
        View("Actions (loyalty award MEMBER ACTION)", [Col("name", "Action"), Col("points", "Points", "right"),
                                                        Col("limit", "Limit", wrap=True)],
             [{"name": a.name, "points": a.points,
               "limit": ("none" if a.limit is None else f"{a.limit} per {a.per}" if a.per != "ever"
                         else f"{a.limit} in all")}
              for a in prog.actions.values()], empty="none configured"),
        kv_view("Redemption", [("point value", f"{prog.point_value} {cur}"), ("minimum", f"{prog.min_points} points"),
                               ("max share of a purchase", f"{(prog.max_share * 100).normalize():f}%")]),
        View("Rewards (loyalty redeem MEMBER --reward NAME)", [Col("name", "Reward"), Col("points", "Points", "right"),
                                                              Col("description", "Description", wrap=True)],
             [{"name": r.name, "points": r.points, "description": r.description} for r in prog.rewards],
             empty="none configured"),
        kv_view("Expiry", [("points expire",
                            f"{prog.expiry_days} days after they are earned" if prog.expiry_days else "never"),
                           ("warn", f"{prog.warn_days} days ahead")]),
        View(f"Tiers (by {'net spend' if prog.tier_basis == 'spend' else 'points earned'}, "
             f"{prog.tier_window}, {'downgrade' if prog.downgrade else 'no downgrade'})",
             [Col("name", "Tier"), Col("min", "From", "right"), Col("multiplier", "Multiplier", "right"),
              Col("discount", "Discount", "right")],
             [{"name": lv.name, "min": basis_min(lv.min), "multiplier": f"×{lv.multiplier}",
               "discount": f"{lv.discount_percent}%" if lv.discount_percent else ""} for lv in prog.levels]),
        kv_view("Referral", [("referrer gets", f"{prog.referrer_points} points"),
                             ("friend gets", f"{prog.referee_points} points"),
                             ("friend's first purchase from", f"{m(prog.referral_min_purchase)} {cur}")]),
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
