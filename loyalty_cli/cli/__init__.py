"""The command line: parse, call the core, render. Nothing else.

This module is imported for ``--help``, so it imports no database or rich
code at the top: commands that need the ledger import ``db``, ``ledger`` and
``reports`` inside the function. It is also the one place that turns errors
into exit codes: a LoyaltyError is ``Error: <message>`` and exit 1; click's
usage errors exit 2; anything unexpected is a one-line internal error, exit 3.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
from pathlib import Path
from contextlib import contextmanager
from datetime import timedelta

import click

from loyalty_cli import __version__
from loyalty_cli.domain.config import Programme, load
from loyalty_cli.domain.dates import now, parse_date, parse_datetime
from loyalty_cli.errors import LoyaltyError
from loyalty_cli.domain.money import format_amount, parse_amount, parse_points
from loyalty_cli.cli.render import FORMATS, Col, View, bar, echo, emit, emit_json, printable

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _not_utf8(args) -> str | None:
    """The first argument holding bytes that are not UTF-8 (Python keeps them
    as lone surrogates), shown with those bytes escaped."""
    for a in args:
        if isinstance(a, str) and any("\udc80" <= ch <= "\udcff" for ch in a):
            return a.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return None


def _one_line(text: str) -> str:
    """An error message as one printable line: line breaks become spaces, and
    other control characters (from a file's header, say) are shown escaped,
    never sent raw to the terminal."""
    return printable(" ".join(text.splitlines()))


class LoyaltyGroup(click.Group):
    def get_short_help_str(self, limit: int = 45) -> str:
        return _summary(self)

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        """click's main, with every error line made printable (a typed
        option or value may hold a terminal escape) and Ctrl-C as exit 130
        with one line, not "Aborted!" and exit 1."""
        if not standalone_mode:  # `batch` runs its lines this way and reports errors itself
            return super().main(*args, standalone_mode=False, **kwargs)
        records = RECORDS
        try:
            try:
                rv = super().main(*args, standalone_mode=False, **kwargs)
            except click.ClickException as e:
                e.message = _one_line(e.message)
                e.show()
                sys.exit(e.exit_code)
            except click.exceptions.Abort:
                raise KeyboardInterrupt from None
            sys.exit(rv if isinstance(rv, int) else 0)
        except KeyboardInterrupt:
            done = ("the change made before it stays written" if RECORDS != records
                    else "nothing was written (what was under way was rolled back)")
            echo(f"Interrupted; {done}.", err=True)
            sys.exit(130)

    def parse_args(self, ctx, args):
        bad = _not_utf8(args)
        if bad is not None:
            raise click.ClickException(f"argument '{bad}' is not valid UTF-8; nothing was done")
        nul = next((a for a in args if isinstance(a, str) and "\x00" in a), None)
        if nul is not None:  # no file name or value can hold one (a batch line or a caller could send it)
            raise click.ClickException(f"argument {_one_line(repr(nul))} holds a NUL byte; nothing was done")
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        from loyalty_cli.cli.render import OutputFailed, flush_stdout

        try:
            rv = super().invoke(ctx)
            if ctx.parent is None:
                flush_stdout()  # a full disk or a closed pipe shows now, while we know what was recorded
            return rv
        except OutputFailed as e:
            _output_failed(ctx, e)
        except LoyaltyError as e:
            raise click.ClickException(_one_line(str(e))) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt, SystemExit):
            raise
        except BrokenPipeError:  # not through GuardedOutput (in-process): the reader left
            _output_failed(ctx, OutputFailed("the reader closed the pipe", gone=True))
        except Exception as e:  # a bug, not the user's input: one line, not a traceback
            if os.environ.get("LOYALTY_DEBUG"):
                raise
            echo(f"Error: internal error ({type(e).__name__}: {e}); "
                       "run again with LOYALTY_DEBUG=1 for a traceback and please report it", err=True)
            raise SystemExit(3) from None


def _summary(cmd: click.Command) -> str:
    """A command's line in `loyalty --help`: its short_help, or the first
    sentence of its help, whole (click would cut it at 45 characters, mid-sentence)."""
    if cmd.short_help:
        return cmd.short_help
    text = " ".join((cmd.help or "").split("\n\n")[0].split())
    m = re.search(r"\.(\s+[A-Z(`]|$)", text)  # a sentence ends; "e.g. x" does not end one
    return text[:m.start() + 1] if m else text


class LoyaltyCommand(click.Command):
    def get_short_help_str(self, limit: int = 45) -> str:
        return _summary(self)

    def parse_args(self, ctx, args):
        if ctx.ignore_unknown_options:  # purchase, redeem, adjust: so that "-5" is an argument
            _refuse_unknown_options(ctx, args)
        rest = super().parse_args(ctx, args)
        if _given_before(ctx, "as_of") is not None and "as_of" not in ctx.params:
            raise click.UsageError(f"--as-of does not apply to `{ctx.command_path}` (it takes no --as-of)", ctx)
        return rest


def _refuse_unknown_options(ctx: click.Context, args: list[str]) -> None:
    """A usage error, with a did-you-mean, for an option the command does not
    have (`purchase --oder T-9 anna 5.00`): only negative numbers pass as
    arguments."""
    takes_value = {}
    for p in ctx.command.get_params(ctx):
        if isinstance(p, click.Option):
            for name in p.opts + p.secondary_opts:
                takes_value[name] = not (p.is_flag or p.count)
    tokens = iter(args)
    for tok in tokens:
        if tok == "--":
            return
        if tok in takes_value:
            if takes_value[tok]:
                next(tokens, None)  # its value, whatever it looks like
            continue
        name = tok.split("=", 1)[0]
        if tok.startswith("--") and "=" in tok and name in takes_value:
            continue
        if tok.startswith("--") and len(tok) > 2:
            import difflib

            hints = difflib.get_close_matches(name, sorted(takes_value), n=3, cutoff=0.6)
            raise click.NoSuchOption(printable(name), possibilities=hints, ctx=ctx)
        if tok.startswith("-") and not tok.startswith("--") and "-" + name in takes_value:
            raise click.NoSuchOption(printable(name), possibilities=["-" + name], ctx=ctx)  # -order: --order
        # any other "-..." (-5, -5.00, -1e3, -inf) is an argument, refused with its reason

LoyaltyGroup.command_class = LoyaltyCommand


def _given_before(ctx: click.Context, name: str):
    """The value of option `name` typed before the command (`loyalty --db x.db
    balance`, `loyalty promo --db x.db list`), nearest group first; None when
    no group was given it on the command line."""
    from click.core import ParameterSource

    parent = ctx.parent
    while parent is not None:
        if name in parent.params and parent.get_parameter_source(name) is ParameterSource.COMMANDLINE:
            return parent.params[name]
        parent = parent.parent
    return None


def _shared(ctx: click.Context, param: click.Parameter, value):
    """A shared option's value, by precedence: the command's own flag, the
    same flag before the command, the environment, the file or default."""
    from click.core import ParameterSource

    typed = ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE
    if not typed:
        before = _given_before(ctx, param.name)
        if before is not None:
            value, typed = param.type_cast_value(ctx, before), True  # the command's own choices apply
    if typed and param.name == "db" and not value.strip():
        raise LoyaltyError("--db is empty: give the ledger's path or URL, or leave --db out to use the "
                           "config's [ledger] database")
    return value


def group_options(f):
    """--config, --db, --format and --as-of before the command: the same
    options as after it, with the same meaning (the command's own flag wins
    if both are given, and either beats the environment)."""
    for opt in reversed([
        click.option("--config", "config", metavar="PATH", help="Programme file (as the command's --config)."),
        click.option("--db", "db", metavar="PATH|URL", help="Ledger file or SQLAlchemy URL (as the command's --db)."),
        click.option("--format", "fmt", type=click.Choice(FORMATS), help="Output format (as the command's --format)."),
        click.option("--as-of", "as_of", metavar="DATE", help="For the commands that take --as-of."),
    ]):
        f = opt(f)
    return f


@click.group(cls=LoyaltyGroup, context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="loyalty", message="%(prog)s %(version)s")
@group_options
def cli(config, db, fmt, as_of):
    """A loyalty ledger for a small shop: points, tiers and rewards described
    in one TOML file, every point movement in one SQLite ledger.

    \b
    Start here:
      loyalty init                      write loyalty.toml and create the ledger
      loyalty enroll anna --name "Anna Tamm" --email anna@example.com
      loyalty purchase anna 12.50       record a sale; prints the points earned
      loyalty show anna                 balance, tier, progress, history
      loyalty balance                   everyone's points

    Config: --config or LOYALTY_CONFIG (default ./loyalty.toml). Ledger: --db or
    LOYALTY_DB (default: [ledger] database in the config). Output: --format
    table|csv|json or LOYALTY_FORMAT.
    """


def main() -> None:
    from loyalty_cli.cli.render import guard_stdout

    guard_stdout()  # a failing stdout is OutputFailed, which LoyaltyGroup.invoke explains
    try:
        cli(prog_name="loyalty")
    except BrokenPipeError:  # click's own output (help, usage) to a reader that left
        sys.exit(0)


# What a write command committed, in the words its output failure uses:
# "Error: could not write the output (...); the purchase was recorded".
RECORDED = {
    "enroll": "the member was enrolled", "edit": "the change was recorded",
    "forget": "the member was forgotten", "purchase": "the purchase was recorded",
    "refund": "the refund was recorded", "redeem": "the redemption was recorded",
    "adjust": "the adjustment was recorded", "award": "the award was recorded",
    "referral": "the referral code is recorded (`loyalty referral MEMBER` shows it again)",
    "promo create": "the promo codes were created (`loyalty promo list` shows them)",
    "promo disable": "the code was disabled", "import purchases": "the import was recorded",
    "import members": "the import was recorded", "expire": "the expiry was recorded",
    "birthdays": "the birthday bonuses were recorded", "daily": "the daily run was recorded",
    "init": "the programme file and the ledger were written", "backup": "the backup was written",
}
_RECORDED_KEY = "loyalty.recorded"
RECORDS = 0  # commits so far in this process (a batch tells its lines' writes from reads by it)


def recorded(what: str | None = None) -> None:
    """Note that the running command has committed something (said by
    `what`, or by RECORDED for the command), for an output failure after it."""
    global RECORDS
    RECORDS += 1
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return
    if what is None:
        name = " ".join(ctx.command_path.split()[1:])
        what = RECORDED.get(name, f"what `{name}` did was recorded")
    ctx.meta[_RECORDED_KEY] = what


def _output_failed(ctx, e) -> None:
    """Standard output failed. After a commit that is exit 1 saying what was
    recorded; a reader that left before anything was written is a quiet end
    (exit 0, as `head` expects); other failures of a read are exit 1."""
    done = e.recorded or ctx.meta.get(_RECORDED_KEY)
    if done:
        echo(f"Error: could not write the output ({e.reason}); {done}", err=True)
        raise SystemExit(1)
    if e.gone:
        raise SystemExit(0)
    echo(f"Error: could not write the output ({e.reason}); nothing was changed", err=True)
    raise SystemExit(1)


# ---------------------------------------------------------------------------
# shared options
# ---------------------------------------------------------------------------


def ledger_options(f):
    f = click.option("--db", "db", envvar="LOYALTY_DB", metavar="PATH|URL", callback=_shared,
                     help="Ledger file or SQLAlchemy URL [env LOYALTY_DB; default: the config's [ledger] database].")(f)
    f = config_option(f)
    return f


def config_option(f):
    return click.option("--config", "config", envvar="LOYALTY_CONFIG", default="loyalty.toml", show_default=True,
                        metavar="PATH", callback=_shared, help="Programme file [env LOYALTY_CONFIG].")(f)


def format_option(f):
    return click.option("--format", "fmt", type=click.Choice(FORMATS), envvar="LOYALTY_FORMAT", default="table",
                        show_default=True, callback=_shared, help="Output format [env LOYALTY_FORMAT].")(f)


def date_option(f):
    return click.option("--date", "when", metavar="DATE",
                        help="When it happened: YYYY-MM-DD or YYYY-MM-DDTHH:MM, in the programme's timezone [default: now].")(f)


def as_of_option(f):
    return click.option("--as-of", "as_of", metavar="DATE", callback=_shared,
                        help="Report as of this date or date-time (a date means the end of that day) [default: now].")(f)


def _write_at(prog: Programme, text: str | None):
    current = now(prog.timezone)
    if text is None:
        return current
    at = parse_datetime(text, prog.timezone, "--date")
    if at > current:
        raise LoyaltyError(f"--date {text.strip()!r} is in the future (it is now {current:%Y-%m-%d %H:%M})")
    return at


def _as_of(prog: Programme, text: str | None):
    if text is None:
        return now(prog.timezone)
    return parse_datetime(text, prog.timezone, "--as-of", end_of_day=True)


class _RollBack(Exception):
    """Raised at the end of a --dry-run to roll its transaction back."""


@contextmanager
def ledger_session(config: str, db_url: str | None, *, write: bool, checking: bool = False, dry_run: bool = False):
    """Load the programme, open the ledger, run one transaction. The ledger
    must be in the programme's currency (`check` reports that itself). A
    `dry_run` does all the work of a write and then rolls it back, so it
    reports exactly what the real run would write."""
    from loyalty_cli.store import db

    prog = _programme(config)
    url = prog.database_url(db_url)
    reuse = REUSE is not None
    engine = REUSE.get(url) if reuse else None
    if engine is None:
        engine = db.engine_for(url)
        if reuse:
            REUSE[url] = engine
    from loyalty_cli.ledger.members import phone_region

    try:
        with phone_region(prog.phone_region), db.transaction(engine, write=write, allow_old=checking) as conn:
            if not checking:
                db.bind_currency(conn, prog.currency.code, prog.currency.decimals, record=write)
            yield prog, conn
            if dry_run:
                raise _RollBack
        if write:
            recorded()
    except _RollBack:
        pass
    finally:
        if not reuse:
            engine.dispose()


# Set by `batch`: engines (and their pooled connections) and parsed programme
# files reused from one line to the next, so each line pays only for its own
# transaction. None otherwise: every command opens and closes its own.
REUSE: dict | None = None


def _programme(config: str) -> Programme:
    if REUSE is None:
        return load(config)
    try:
        st = os.stat(config)
        key = ("programme", os.path.abspath(config), st.st_mtime_ns, st.st_size)
    except OSError:
        return load(config)  # says what is wrong with the path
    prog = REUSE.get(key)
    if prog is None:
        prog = REUSE[key] = load(config)
    return prog


def money(prog: Programme, minor: int | None) -> str | None:
    return None if minor is None else format_amount(minor, prog.currency.decimals)


def examples(*lines: str):
    """Append an Examples section to a command's help."""
    def deco(f):
        text = "\n\n\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)
        # clean the docstring first: the unindented block appended would stop
        # click from removing the docstring's own indentation
        first, _, rest = (f.__doc__ or "").partition("\n")
        f.__doc__ = (first.strip() + "\n" + textwrap.dedent(rest)).strip() + text
        return f
    return deco


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
    import tomllib
    from pathlib import Path

    from loyalty_cli.domain import config as cfg
    from loyalty_cli.store import db as dbm
    from loyalty_cli.domain.dates import zone
    from loyalty_cli.domain.money import currency_decimals

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
        prog = cfg.parse(tomllib.loads(text), path)  # what we write must load
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
        if made:
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
        raise LoyaltyError(f"cannot keep a copy of {path} as {target} ({e.strerror}); {path} was not replaced") from None
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
    from loyalty_cli.store import chain
    from loyalty_cli.queries import reports
    from loyalty_cli.store import db as dbm

    prog = load(config)

    def verify(copy_path):  # the copy, before it gets its name: it must open and be checked
        copy = dbm.engine_for(dbm.sqlite_url(copy_path.resolve()))
        try:
            with dbm.transaction(copy, write=False) as conn:
                return {"path": str(path), "bytes": copy_path.stat().st_size, "entries": chain.last(conn)[0],
                        "head": chain.head(conn), "problems": reports.check(conn, prog)}
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
    no code or referral paid beyond its limits."""
    from loyalty_cli.store import chain
    from loyalty_cli.queries import reports

    if head is not None:
        chain.parse_head(head)
    with ledger_session(config, db, write=False, checking=True) as (prog, conn):
        problems = reports.check(conn, prog, head=head)
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
    m = lambda v: money(prog, v)  # noqa: E731
    basis_min = (lambda v: m(v)) if prog.tier_basis == "spend" else (lambda v: v)
    doc = {
        "program": {"name": prog.name, "currency": prog.currency.code, "timezone": prog.timezone,
                    "phone_region": prog.phone_region, "config": str(prog.path), "database": prog.database},
        "earning": {"points_per_unit": prog.points_per_unit, "rounding": prog.rounding,
                    "min_purchase": m(prog.min_purchase), "welcome_bonus": prog.welcome_bonus,
                    "birthday_bonus": prog.birthday_bonus, "pending_days": prog.pending_days},
        "actions": [{"name": a.name, "points": a.points, "limit": a.limit, "per": a.per} for a in prog.actions.values()],
        "redemption": {"point_value": prog.point_value, "min_points": prog.min_points, "max_share": prog.max_share},
        "rewards": [{"name": r.name, "points": r.points, "description": r.description} for r in prog.rewards],
        "expiry": {"days": prog.expiry_days, "warn_days": prog.warn_days},
        "tiers": {"basis": prog.tier_basis, "window": prog.tier_window, "downgrade": prog.downgrade,
                  "levels": [{"name": lv.name, "min": basis_min(lv.min), "multiplier": lv.multiplier,
                              "discount_percent": lv.discount_percent} for lv in prog.levels]},
        "referral": {"referrer_points": prog.referrer_points, "referee_points": prog.referee_points,
                     "min_purchase": m(prog.referral_min_purchase)},
    }
    if fmt == "json":
        emit_json(doc)
        return
    if fmt == "csv":
        rows = [{"section": sec, "key": k, "value": v} for sec, body in doc.items() for k, v in _flatten(body)]
        emit("csv", doc, [View("", [Col("section", ""), Col("key", ""), Col("value", "")], rows)])
        return
    kv = [Col("field", "Field"), Col("value", "Value")]

    def kv_view(title, pairs):
        return View(title, kv, [{"field": k, "value": v} for k, v in pairs], kv=True)

    cur = prog.currency.code
    views = [
        kv_view(f"{prog.name}", [("currency", f"{cur} ({prog.currency.decimals} decimals)"),
                                 ("timezone", prog.timezone),
                                 ("phone region", prog.phone_region or "none (numbers kept as typed)"),
                                 ("config", prog.path), ("ledger", prog.database)]),
        kv_view("Earning", [
            ("points", f"{prog.points_per_unit} per 1 {cur} of net spend, times the tier's multiplier"),
            ("rounding", f"{prog.rounding}, once per purchase"),
            ("minimum purchase", f"{m(prog.min_purchase)} {cur}"),
            ("welcome bonus", prog.welcome_bonus), ("birthday bonus", prog.birthday_bonus),
            ("pending", f"{prog.pending_days} days before earned points can be spent" if prog.pending_days else "none")]),
        View("Actions (loyalty award MEMBER ACTION)", [Col("name", "Action"), Col("points", "Points", "right"),
                                                        Col("limit", "Limit", wrap=True)],
             [{"name": a.name, "points": a.points,
               "limit": "none" if a.limit is None else f"{a.limit} per {a.per}" if a.per != "ever" else f"{a.limit} in all"}
              for a in prog.actions.values()], empty="none configured"),
        kv_view("Redemption", [("point value", f"{prog.point_value} {cur}"), ("minimum", f"{prog.min_points} points"),
                               ("max share of a purchase", f"{(prog.max_share * 100).normalize():f}%")]),
        View("Rewards (loyalty redeem MEMBER --reward NAME)", [Col("name", "Reward"), Col("points", "Points", "right"),
                                                              Col("description", "Description", wrap=True)],
             [{"name": r.name, "points": r.points, "description": r.description} for r in prog.rewards],
             empty="none configured"),
        kv_view("Expiry", [("points expire", f"{prog.expiry_days} days after they are earned" if prog.expiry_days else "never"),
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
    emit("table", doc, views)


def _flatten(value, prefix=""):
    """('levels.0.name', 'Bronze') pairs from nested dicts and lists."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        yield prefix, value
        return
    for k, v in items:
        yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))


# ---------------------------------------------------------------------------
# members
# ---------------------------------------------------------------------------


def _opt_date(text, what):
    return None if text in (None, "") else parse_date(text, what)


@cli.command()
@click.argument("member_id", required=False)
@click.option("--name", required=True, help="The member's name.")
@click.option("--email", help="E-mail address (unique).")
@click.option("--phone", help="Phone number (unique; spaces and dashes are ignored).")
@click.option("--birthday", metavar="YYYY-MM-DD", help="Birthday, for the birthday bonus.")
@click.option("--marketing/--no-marketing", default=False, show_default=True,
              help="Consent to marketing by e-mail/SMS (recorded with its date).")
@click.option("--referral", metavar="CODE", help="The referral code of the member who brought them.")
@date_option
@format_option
@ledger_options
@examples("loyalty enroll --name 'Anna Tamm'            # prints the generated id",
          "loyalty enroll anna --name 'Anna Tamm' --email anna@example.com --birthday 1990-04-12 --marketing",
          "loyalty enroll carl --name 'Carl' --referral 7KQ2-MX4D")
def enroll(member_id, name, email, phone, birthday, marketing, referral, when, fmt, config, db):
    """Enrol a new member. Prints the member id (generated when none is given).

    The welcome bonus, if the programme has one, is credited at once."""
    from loyalty_cli.ledger import operations

    with ledger_session(config, db, write=True) as (prog, conn):
        at = _write_at(prog, when)
        r = operations.enroll(conn, prog, at=at, name=name, member_id=member_id, email=email, phone=phone,
                          birthday=_opt_date(birthday, "--birthday"), marketing=marketing, referral=referral)
    if fmt == "json":
        emit_json(r)
    elif fmt == "csv":
        emit("csv", r, [View("", [Col("member", ""), Col("name", ""), Col("points", "")], [r])])
    else:
        echo(r["member"])
        bonus = f" with a welcome bonus of {r['points']} points" if r["points"] else ""
        referred = f", referred by {r['referred_by']}" if r["referred_by"] else ""
        echo(f"Enrolled {r['name']} as {r['member']}{bonus}{referred}.", err=True)


@cli.command()
@click.argument("member")
@click.option("--name", help="New name.")
@click.option("--email", help="New e-mail ('' clears it).")
@click.option("--phone", help="New phone ('' clears it).")
@click.option("--birthday", metavar="YYYY-MM-DD", help="New birthday ('' clears it).")
@click.option("--marketing/--no-marketing", default=None, help="Give or withdraw marketing consent.")
@date_option
@ledger_options
@examples("loyalty edit anna --email anna.tamm@example.com", "loyalty edit anna --no-marketing",
          "loyalty edit anna --phone ''")
def edit(member, name, email, phone, birthday, marketing, when, config, db):
    """Change a member's personal data. Points are never edited (use adjust)."""
    from loyalty_cli.ledger import operations

    kwargs = {}
    if name is not None:
        kwargs["name"] = name
    if email is not None:
        kwargs["email"] = email
    if phone is not None:
        kwargs["phone"] = phone
    if birthday is not None:
        kwargs["birthday"] = _opt_date(birthday, "--birthday")
    if marketing is not None:
        kwargs["marketing"] = marketing
    with ledger_session(config, db, write=True) as (prog, conn):
        r = operations.edit(conn, prog, member, at=_write_at(prog, when), **kwargs)
    echo(f"Updated {r['member']}: {', '.join(r['changed'])}.", err=True)


@cli.command()
@click.argument("member")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@date_option
@format_option
@ledger_options
@examples("loyalty forget anna --yes", "loyalty forget anna@example.com --yes --format json")
def forget(member, yes, when, fmt, config, db):
    """Erase a member's personal data for good: name, e-mail, phone, birthday
    and marketing consent.

    The member id and every entry stay, anonymous, so all totals still balance
    and `check` still passes. The ledger file is then vacuumed and its WAL
    emptied, so no copy of the erased data is left in it. Backups made before
    keep their copy: delete or re-make them. After this, nothing new can be
    recorded for the member; refunds and adjustments of what is already in
    the ledger still can."""
    from loyalty_cli.store import db as dbm
    from loyalty_cli.ledger import operations

    confirm(yes, f"Forget member {member}: erase their name, e-mail, phone and birthday for good?")
    with ledger_session(config, db, write=True) as (prog, conn):
        dbm.secure_delete(conn)
        r = operations.forget(conn, member, at=_write_at(prog, when))
        url = prog.database_url(db)
    engine = dbm.engine_for(url)
    try:
        r["scrubbed"] = dbm.scrub(engine)
    except LoyaltyError as e:  # the erase is committed: say so, and how to finish
        raise LoyaltyError(
            f"member {r['member']} was forgotten, but the ledger file could not be scrubbed yet ({e}), so an old "
            f"copy of their personal data may remain in it; free some disk space (scrubbing needs room for a "
            f"second copy of the ledger) and run `loyalty forget {r['member']} --yes` again to finish") from None
    finally:
        engine.dispose()
    if fmt == "json":
        emit_json(r)
    if r["already"]:
        echo(f"Member {r['member']} was already forgotten on {r['forgotten_at']:%Y-%m-%d}; "
                   "the ledger file was scrubbed again.", err=True)
    else:
        erased = ", ".join(r["erased"]) or "nothing left to erase"
        echo(f"Forgot member {r['member']}: erased {erased}. Their {r['points']} points and history stay, "
                   "anonymous.", err=True)
    if not r["scrubbed"]:
        echo("Warning: another process kept the ledger open, so an old copy may remain in its WAL file "
                   "until that process ends; run this command again then to finish.", err=True)


@cli.command()
@click.option("--tier", help="Only members in this tier.")
@click.option("--search", metavar="TEXT", help="Only members whose id, name, e-mail or phone contains TEXT.")
@as_of_option
@format_option
@ledger_options
@examples("loyalty members", "loyalty members --tier Gold --format csv", "loyalty members --search tamm")
def members(tier, search, as_of, fmt, config, db):
    """List members with their points and tier."""
    from loyalty_cli.queries import reports

    with ledger_session(config, db, write=False) as (prog, conn):
        rows = reports.member_list(conn, prog, _as_of(prog, as_of), tier=tier, search=search)
    cols = [Col("member", "Member"), Col("name", "Name", wrap=True), Col("email", "E-mail", drop=1),
            Col("phone", "Phone", drop=3), Col("points", "Points", "right"), Col("tier", "Tier"),
            Col("enrolled", "Enrolled", drop=2), Col("marketing", "Marketing", drop=4)]
    for r in rows:
        r["enrolled"] = r["enrolled"].date()
    emit(fmt, rows, [View("Members", cols, rows, empty="no members")])


@cli.command()
@click.argument("member")
@as_of_option
@format_option
@ledger_options
@examples("loyalty show anna", "loyalty show anna@example.com --format json", "loyalty show anna --as-of 2026-01-31")
def show(member, as_of, fmt, config, db):
    """A member at a glance: profile, points, tier, progress to the next tier,
    points expiring soon and recent history."""
    from loyalty_cli.queries import reports

    with ledger_session(config, db, write=False) as (prog, conn):
        r = reports.show(conn, prog, member, _as_of(prog, as_of))
    spend = prog.tier_basis == "spend"
    q = (lambda v: money(prog, v)) if spend else (lambda v: v)
    doc = {k: v for k, v in r.items() if k not in ("recent", "qualifying", "next_tier_min", "tier_min")}
    doc.update(lifetime_spend=money(prog, r["lifetime_spend"]), to_next_tier=q(r["to_next_tier"]),
               qualifying_total=q(r["qualifying"]),
               recent=[{k: v for k, v in h.items() if k != "id"} for h in r["recent"]])
    if fmt == "json":
        emit_json(doc)
        return
    unit = prog.currency.code
    if r["next_tier"]:
        span = r["next_tier_min"] - r["tier_min"]
        done = r["qualifying"] - r["tier_min"]
        progress = (f"{bar(done, span, 20):░<20} {q(r['to_next_tier'])}{' ' + unit if spend else ' points'} "
                    f"to {r['next_tier']}")
    else:
        progress = "top tier"
    pts = f"{r['points']}"
    if r["available"] != r["points"]:
        pending = f", {r['pending']} pending" if r["pending"] else ""
        pts += f" ({r['available']} available{pending})"
    rows = [("member", r["member"]), ("name", r["name"]), ("e-mail", r["email"]), ("phone", r["phone"]),
            ("birthday", r["birthday"]), ("enrolled", r["enrolled"].date()),
            ("forgotten", f"{r['forgotten_at']:%Y-%m-%d}: personal data erased" if r["forgotten_at"] else None),
            ("marketing", f"yes, since {r['marketing_at']:%Y-%m-%d}" if r["marketing"] and r["marketing_at"] else "no"),
            ("points", pts), ("tier", r["tier"]),
            ("qualifying", f"{q(r['qualifying'])} {unit if spend else 'points'} ({prog.tier_window})"),
            ("progress", progress), ("lifetime spend", f"{money(prog, r['lifetime_spend'])} {unit}")]
    if r["expiring"]:
        rows.append(("expiring soon", ", ".join(f"{e['points']} (spend by {e['date'] - timedelta(days=1)})"
                                                for e in r["expiring"])))
    profile = View(f"{r['name'] or 'Forgotten member'} ({r['member']})", [Col("field", "Field"), Col("value", "Value")],
                   [{"field": k, "value": v} for k, v in rows if v not in (None, "")], kv=True)
    hist = View("Recent history", _history_cols(), r["recent"], empty="no entries yet")
    emit(fmt, doc, [profile, hist])


def _history_cols():
    return [Col("date", "Date"), Col("kind", "Kind"), Col("points", "Points", "right"),
            Col("balance", "Balance", "right"), Col("order", "Order", drop=1), Col("note", "Note", wrap=True)]


# ---------------------------------------------------------------------------
# points: purchase, refund, redeem, adjust, award
# ---------------------------------------------------------------------------


@cli.command(context_settings={"ignore_unknown_options": True})  # so "-5" reaches our refusal
@click.argument("member")
@click.argument("amount")
@click.option("--order", "order_id", metavar="ID", help="The till's order id (unique; generated when omitted).")
@click.option("--redeem", "redeem", metavar="POINTS", help="Pay part of the purchase with points.")
@click.option("--code", metavar="CODE", help="A promo code (case, spaces and hyphens do not matter).")
@date_option
@format_option
@ledger_options
@examples("loyalty purchase anna 12.50", "loyalty purchase anna 42.00 --order 10023 --redeem 300",
          "loyalty purchase anna 30.00 --code SUMMER10",
          "loyalty purchase +3725551234 8.90 --date 2026-05-01 --format json")
def purchase(member, amount, order_id, redeem, code, when, fmt, config, db):
    """Record a sale: the member earns points on the net amount (after the
    tier's discount and any part paid with points), at their tier's multiplier."""
    from loyalty_cli.ledger import operations

    with ledger_session(config, db, write=True) as (prog, conn):
        minor = parse_amount(amount, prog.currency.decimals, "amount")
        pts = parse_points(redeem, "--redeem") if redeem is not None else 0
        r = operations.purchase(conn, prog, member, minor, at=_write_at(prog, when), order_id=order_id, redeem=pts,
                            code=code)
    doc = {"member": r["member"], "order": r["order"], "date": r["date"], "amount": money(prog, r["amount"]),
           "discount": money(prog, r["discount"]), "paid_with_points": money(prog, r["points_paid"]),
           "net": money(prog, r["net"]), "multiplier": r["multiplier"], "points_earned": r["points_earned"],
           "code": r["code"], "bonus_points": r["bonus_points"],
           "points_redeemed": r["points_redeemed"], "points": r["points"], "tier": r["tier"], "referral": r["referral"]}
    cols = [Col("member", "Member"), Col("order", "Order"), Col("amount", "Amount", "right"),
            Col("discount", "Discount", "right"), Col("paid_with_points", "Paid w/ points", "right"),
            Col("points_earned", "Earned", "right"), Col("points_redeemed", "Redeemed", "right"),
            Col("points", "Balance", "right"), Col("tier", "Tier")]
    if r["code"]:
        cols[4:4] = [Col("code", "Code"), Col("bonus_points", "Bonus", "right")]
    emit(fmt, doc, [View("Purchase", cols, [doc], record=True)])
    if fmt == "table" and r["tier"] != r["tier_before"]:
        echo(f"{r['member']} is now {r['tier']} (was {r['tier_before']}).", err=True)
    if fmt == "table" and r["referral"]:
        ref = r["referral"]
        if not ref["paid"]:
            echo(f"Referral not paid: {ref['reason']}; it stays pending.", err=True)
        elif ref["reason"]:
            echo(f"Referral rewarded: {r['member']} +{ref['referee_points']} points; "
                       f"{ref['reason']}.", err=True)
        else:
            echo(f"Referral rewarded: {ref['referrer']} +{ref['referrer_points']}, "
                       f"{r['member']} +{ref['referee_points']} points.", err=True)


@cli.command()
@click.argument("order")
@click.option("--amount", metavar="AMOUNT", help="Part of the order's amount to refund [default: all that is left].")
@date_option
@format_option
@ledger_options
@examples("loyalty refund 10023", "loyalty refund 10023 --amount 12.00")
def refund(order, amount, when, fmt, config, db):
    """Refund all or part of an order. The points it earned are taken back in
    proportion to the refunded share of its amount (by the rounding in force
    when they were earned); points that paid for it are given back likewise.
    If the member has spent the points already, the balance may go below zero
    and later earnings pay it back."""
    from loyalty_cli.ledger import operations

    with ledger_session(config, db, write=True) as (prog, conn):
        minor = parse_amount(amount, prog.currency.decimals, "--amount") if amount is not None else None
        r = operations.refund(conn, prog, order, at=_write_at(prog, when), amount=minor)
    doc = {**r, "amount": money(prog, r["amount"]), "refunded_total": money(prog, r["refunded_total"]),
           "order_amount": money(prog, r["order_amount"])}
    cols = [Col("member", "Member"), Col("order", "Order"), Col("amount", "Refunded", "right"),
            Col("points_taken_back", "Points back", "right"), Col("points_restored", "Restored", "right"),
            Col("points", "Balance", "right"), Col("tier", "Tier")]
    emit(fmt, doc, [View("Refund", cols, [doc], record=True)])


@cli.command(context_settings={"ignore_unknown_options": True})  # so "-5" reaches our refusal
@click.argument("member")
@click.argument("points", required=False)
@click.option("--reward", metavar="NAME", help="Redeem a reward from the programme's catalogue.")
@click.option("--order", "order_id", metavar="ID", help="Order the points were spent on (for your records).")
@date_option
@format_option
@ledger_options
@examples("loyalty redeem anna 200", "loyalty redeem anna --reward 'Free coffee'")
def redeem(member, points, reward, order_id, when, fmt, config, db):
    """Spend points: a number of points, or a reward by name. Never more than
    the member's available points; the soonest-expiring points go first."""
    from loyalty_cli.ledger import operations

    if (points is None) == (reward is None):
        raise click.UsageError("give either POINTS or --reward NAME")
    with ledger_session(config, db, write=True) as (prog, conn):
        pts = parse_points(points, "POINTS") if points is not None else None
        r = operations.redeem(conn, prog, member, at=_write_at(prog, when), points=pts, reward=reward, order_id=order_id)
    cols = [Col("member", "Member"), Col("reward", "Reward"), Col("points_redeemed", "Redeemed", "right"),
            Col("points", "Balance", "right")]
    emit(fmt, r, [View("Redemption", cols, [r], record=True)])


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("member")
@click.argument("points")
@click.option("--reason", required=True, help="Why (kept in the ledger).")
@date_option
@format_option
@ledger_options
@examples("loyalty adjust anna 50 --reason 'sorry for the wait'", "loyalty adjust anna -20 --reason 'double-scanned receipt'")
def adjust(member, points, reason, when, fmt, config, db):
    """Add (positive) or take away (negative) points by hand, with a reason.
    Taking away is limited to the member's balance."""
    from loyalty_cli.ledger import operations

    with ledger_session(config, db, write=True) as (prog, conn):
        pts = parse_points(points, "POINTS", signed=True)
        r = operations.adjust(conn, prog, member, pts, at=_write_at(prog, when), reason=reason)
    cols = [Col("member", "Member"), Col("adjusted", "Points", "right"), Col("reason", "Reason", wrap=True),
            Col("points", "Balance", "right")]
    emit(fmt, r, [View("Adjustment", cols, [r], record=True)])


@cli.command()
@click.argument("member")
@click.argument("action")
@date_option
@format_option
@ledger_options
@examples("loyalty award anna review", "loyalty award anna feedback --date 2026-05-02")
def award(member, action, when, fmt, config, db):
    """Points for an action named in [earning.actions] (a review, feedback, ...),
    within the action's limit per period."""
    from loyalty_cli.ledger import operations

    with ledger_session(config, db, write=True) as (prog, conn):
        r = operations.award(conn, prog, member, action, at=_write_at(prog, when))
    cols = [Col("member", "Member"), Col("action", "Action"), Col("points_awarded", "Awarded", "right"),
            Col("points", "Balance", "right")]
    emit(fmt, r, [View("Award", cols, [r], record=True)])


# ---------------------------------------------------------------------------
# reports: balance, history, tiers
# ---------------------------------------------------------------------------


@cli.command()
@click.argument("member", nargs=-1)
@as_of_option
@format_option
@ledger_options
@examples("loyalty balance", "loyalty balance anna bob --format json", "loyalty balance --as-of 2026-06-30 --format csv")
def balance(member, as_of, fmt, config, db):
    """Points and tier of the named members, or of every member."""
    from loyalty_cli.queries import reports

    with ledger_session(config, db, write=False) as (prog, conn):
        rows = reports.balances(conn, prog, _as_of(prog, as_of), list(member) or None)
    cols = [Col("member", "Member"), Col("name", "Name", wrap=True), Col("points", "Points", "right"),
            Col("tier", "Tier")]
    emit(fmt, rows, [View("Balances", cols, rows, empty="no members")])


@cli.command()
@click.argument("member")
@click.option("--since", metavar="DATE", help="Only entries from this date on (the running balance still counts all).")
@as_of_option
@format_option
@ledger_options
@examples("loyalty history anna", "loyalty history anna --since 2026-01-01 --format csv")
def history(member, since, as_of, fmt, config, db):
    """A member's ledger entries, oldest first, with the running balance."""
    from loyalty_cli.queries import reports

    with ledger_session(config, db, write=False) as (prog, conn):
        start = parse_datetime(since, prog.timezone, "--since") if since else None
        rows = reports.history(conn, prog, member, _as_of(prog, as_of), since=start)
    doc = [{k: r[k] for k in ("date", "at", "kind", "points", "balance", "order", "note")} for r in rows]
    emit(fmt, doc, [View("History", _history_cols(), rows, empty="no entries")])


@cli.command()
@as_of_option
@format_option
@ledger_options
@examples("loyalty tiers", "loyalty tiers --as-of 2026-12-31 --format json")
def tiers(as_of, fmt, config, db):
    """Tier report: members and qualifying total per tier, with a bar each,
    and the members closest to their next tier."""
    from loyalty_cli.queries import reports

    with ledger_session(config, db, write=False) as (prog, conn):
        r = reports.tiers(conn, prog, _as_of(prog, as_of))
    spend = prog.tier_basis == "spend"
    q = (lambda v: money(prog, v)) if spend else (lambda v: v)
    total_label = "Spend" if spend else "Points"
    largest = max((t["members"] for t in r["tiers"]), default=0)
    levels = [{**t, "min": q(t["min"]), "total": q(t["total"]), "bar": bar(t["members"], largest),
               "share": f"{t['share_percent']}%"} for t in r["tiers"]]
    closest = [{**c, "total": q(c["total"]), "to_next_tier": q(c["to_next_tier"])} for c in r["closest"]]
    doc = {"as_of": r["as_of"], "basis": r["basis"], "window": r["window"], "members": r["members"],
           "tiers": [{k: t[k] for k in ("tier", "min", "members", "total", "share_percent")} for t in levels],
           "closest": closest}
    if fmt == "json":
        emit_json(doc)
        return
    unit = prog.currency.code if spend else "points"
    views = [
        View(f"Tiers as of {r['as_of']:%Y-%m-%d} ({r['members']} member{'' if r['members'] == 1 else 's'}; "
             f"{r['basis']}, {r['window']})",
             [Col("tier", "Tier"), Col("min", f"From ({unit})", "right"), Col("members", "Members", "right"),
              Col("share", "Share", "right"), Col("total", f"{total_label} ({unit})", "right"), Col("bar", "", drop=1)],
             levels),
        View("Closest to the next tier", [Col("member", "Member"), Col("name", "Name", wrap=True), Col("tier", "Tier"),
                                          Col("next_tier", "Next"), Col("to_next_tier", f"To go ({unit})", "right")],
             closest, empty="nobody below the top tier"),
    ]
    emit(fmt, doc, views)


# ---------------------------------------------------------------------------
# promo codes and referrals
# ---------------------------------------------------------------------------


@cli.command()
@click.argument("file", type=click.File("rb"))
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


def confirm(yes: bool, question: str) -> None:
    """Destructive commands: --yes, or a yes at a terminal prompt; never a
    silent yes without a terminal."""
    if yes:
        return
    if sys.stdin.isatty() and REUSE is None:  # a batch line never prompts
        if click.confirm(printable(question), default=False, err=True):
            return
        raise LoyaltyError("cancelled; nothing was changed")
    raise LoyaltyError(f"{question.rstrip('?')}: needs --yes when there is no terminal to confirm at")


@cli.group(cls=LoyaltyGroup)
@group_options
def promo(config, db, fmt, as_of):
    """Promo codes: create, list, show, disable.

    \b
    Examples:
      loyalty promo create SUMMER10 --percent 10 --min-purchase 20 --expires 2026-08-31
      loyalty promo create --count 100 --points 50 --format csv > codes.csv
      loyalty promo list --active
    """


@promo.command("create")
@click.argument("code", required=False)
@click.option("--percent", metavar="P", help="Effect: P% off the purchase.")
@click.option("--amount", metavar="A", help="Effect: A off the purchase.")
@click.option("--points", metavar="N", help="Effect: N bonus points.")
@click.option("--multiplier", metavar="X", help="Effect: the purchase earns X times the points.")
@click.option("--min-purchase", metavar="A", help="Only on purchases of at least A (before discounts).")
@click.option("--starts", metavar="DATE", help="First day the code is valid.")
@click.option("--expires", metavar="DATE", help="Last day the code is valid.")
@click.option("--max-uses", metavar="N", help="Uses in all, by everyone.")
@click.option("--per-member", metavar="N", help="Uses per member.")
@click.option("--first-purchase", is_flag=True, help="Only on a member's first purchase.")
@click.option("--tier", metavar="NAME", help="Only for members of this tier or a higher one.")
@click.option("--member", metavar="MEMBER", help="A personal code, for this member only.")
@click.option("--count", metavar="N", help="Generate N single-use codes (print them, e.g. as CSV for a mail merge).")
@date_option
@format_option
@ledger_options
@examples("loyalty promo create SUMMER10 --percent 10 --min-purchase 20 --expires 2026-08-31",
          "loyalty promo create --amount 5 --member anna --first-purchase",
          "loyalty promo create --count 200 --points 50 --expires 2026-12-31 --format csv > codes.csv")
def promo_create(code, percent, amount, points, multiplier, min_purchase, starts, expires, max_uses, per_member,
                 first_purchase, tier, member, count, when, fmt, config, db):
    """Create a promo code (given, or generated when CODE is left out) with
    exactly one effect and any limits. Prints the code(s)."""
    from loyalty_cli.ledger import codes
    from loyalty_cli.domain.money import parse_decimal

    effects = {k: v for k, v in (("percent", percent), ("amount", amount), ("points", points),
                                  ("multiplier", multiplier)) if v is not None}
    if len(effects) != 1:
        raise click.UsageError("give exactly one effect: --percent, --amount, --points or --multiplier")
    (effect, raw), = effects.items()
    with ledger_session(config, db, write=True) as (prog, conn):
        dec = prog.currency.decimals
        if effect == "amount":
            value = str(parse_amount(raw, dec, "--amount"))
        elif effect == "points":
            value = str(parse_points(raw, "--points"))
        else:
            value = str(parse_decimal(raw, f"--{effect}"))
        n = lambda text, what: parse_points(text, what) if text is not None else None  # noqa: E731
        r = codes.make_rules(
            prog, conn, effect=effect, value=value,
            min_purchase=parse_amount(min_purchase, dec, "--min-purchase") if min_purchase is not None else 0,
            starts=_opt_date(starts, "--starts"), expires=_opt_date(expires, "--expires"),
            max_uses=n(max_uses, "--max-uses"), per_member=n(per_member, "--per-member"),
            first_purchase=first_purchase, tier=tier, member=member)
        made = codes.create_promo(conn, r, at=_write_at(prog, when), code=code,
                                  count=parse_points(count, "--count") if count is not None else None)
    if fmt == "json":
        emit_json({"code": [{"code": c} for c in made]} if count is not None else {"code": made[0]})
    elif fmt == "csv":
        emit("csv", made, [View("", [Col("code", "")], [{"code": c} for c in made])])
    else:
        echo("\n".join(made))
        what = f"{len(made)} single-use codes" if count is not None else f"code {made[0]}"
        echo(f"Created {what}: {r.effect.describe(prog.currency.decimals, prog.currency.code)}.", err=True)


def _promo_cols():
    return [Col("code", "Code"), Col("description", "Effect", wrap=True), Col("limits", "Limits", wrap=True),
            Col("uses", "Uses", "right"), Col("status", "Status", wrap=True)]


@promo.command("list")
@click.option("--active", is_flag=True, help="Only codes that can be used now.")
@as_of_option
@format_option
@ledger_options
@examples("loyalty promo list", "loyalty promo list --active --format csv")
def promo_list(active, as_of, fmt, config, db):
    """Promo codes with their effect, limits, uses and status."""
    from loyalty_cli.ledger import codes

    with ledger_session(config, db, write=False) as (prog, conn):
        rows = codes.promo_list(conn, prog, _as_of(prog, as_of), active_only=active)
    emit(fmt, rows, [View("Promo codes", _promo_cols(), rows, empty="no promo codes")])


@promo.command("show")
@click.argument("code")
@as_of_option
@format_option
@ledger_options
@examples("loyalty promo show SUMMER10", "loyalty promo show summer10 --format json")
def promo_show(code, as_of, fmt, config, db):
    """A promo code's rules and every use."""
    from loyalty_cli.ledger import codes

    with ledger_session(config, db, write=False) as (prog, conn):
        r = codes.promo_show(conn, prog, code, _as_of(prog, as_of))
    fields = [("code", r["code"]), ("effect", r["description"]), ("limits", r["limits"] or "none"),
              ("uses", r["uses"]), ("status", r["status"]), ("created", r["created"]),
              ("disabled", r["disabled"]), ("batch", r["batch"])]
    views = [View(f"Promo code {r['code']}", [Col("field", "Field"), Col("value", "Value")],
                  [{"field": k, "value": v} for k, v in fields if v not in (None, "")], kv=True),
             View("Uses", [Col("date", "Date"), Col("member", "Member"), Col("order", "Order"),
                           Col("amount", "Amount", "right"), Col("discount", "Discount", "right"),
                           Col("bonus_points", "Bonus", "right")], r["used"], empty="not used yet")]
    emit(fmt, r, views, csv_view=1)


@promo.command("disable")
@click.argument("code")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@date_option
@ledger_options
@examples("loyalty promo disable SUMMER10 --yes")
def promo_disable(code, yes, when, config, db):
    """Disable a promo code for good. Its past uses stay in the ledger."""
    from loyalty_cli.ledger import codes

    confirm(yes, f"Disable promo code {code}?")
    with ledger_session(config, db, write=True) as (prog, conn):
        shown = codes.disable(conn, code, _write_at(prog, when))
    echo(f"Disabled promo code {shown}.", err=True)


@cli.command()
@click.argument("member")
@format_option
@ledger_options
@examples("loyalty referral anna", "loyalty referral anna --format json")
def referral(member, fmt, config, db):
    """The member's referral code (made on first request) and whom they
    referred, each pending or rewarded. A friend joins with
    `loyalty enroll --referral CODE`; both are rewarded once, on the friend's
    first purchase that reaches [referral] min_purchase."""
    from loyalty_cli.ledger import operations

    with ledger_session(config, db, write=True) as (prog, conn):
        r = operations.referral(conn, prog, member, at=now(prog.timezone))
    if fmt == "json":
        emit_json(r)
        return
    cols = [Col("member", "Member"), Col("name", "Name", wrap=True), Col("joined", "Joined"), Col("status", "Status"),
            Col("rewarded_on", "Rewarded")]
    if fmt == "csv":
        emit("csv", r, [View("", cols, r["referrals"])])
        return
    head = View(f"Referral code of {r['name']} ({r['member']})", [Col("field", "Field"), Col("value", "Value")],
                [{"field": "code", "value": r["code"]}, {"field": "referred", "value": len(r["referrals"])}], kv=True)
    emit("table", r, [head, View("Referred", cols, r["referrals"], empty="nobody yet")])


# ---------------------------------------------------------------------------
# import and export
# ---------------------------------------------------------------------------


class _DryRun(Exception):
    """Raised inside the transaction to roll a --dry-run back."""

    def __init__(self, result):
        self.result = result


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
                     help="Import only rows whose COLUMN is VALUE (ignoring case), e.g. --where 'Financial Status=paid'; "
                          "repeat for one column = any of the values, for several columns = all must hold."),
        click.option("--date-format", metavar="FORMAT", help="strptime layout of the dates, e.g. '%d.%m.%Y %H:%M'."),
        click.option("--encoding", metavar="NAME",
                     help="Text encoding of the file [default: UTF-8 with or without BOM; UTF-16 by its BOM]."),
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


def _run_import(kind, file, mapping, date_format, encoding, delimiter, dry_run, skip_errors, rejects,
                create_members, fmt, config, db, where=(), decimal_comma=False, apply_tier_discount=False):
    from loyalty_cli.io import importer

    if rejects and not skip_errors:
        raise click.UsageError("--rejects goes with --skip-errors")
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
        with ledger_session(config, db, write=True) as (prog, conn):
            if rejects:
                from loyalty_cli.store import db as dbm
                importer.guard_rejects(rejects, dbm._sqlite_path(prog.database_url(db)), prog.path, file)
                if not dry_run:
                    sink = importer.RejectsFile(rejects)
            result = run(conn, prog, file, opts, now(prog.timezone), progress)
            if dry_run:
                raise _DryRun(result)
    except _DryRun as d:
        result = d.result
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
            raise LoyaltyError(f"could not write the rejects file ({rejects}: {e.strerror or e}); the import was "
                               f"recorded: {result.added} added") from None
    s = result.summary()
    if fmt == "json":
        emit_json({**s, "dry_run": dry_run})
    for p in result.rejected[:importer.SHOWN_ERRORS]:
        echo(f"  rejected {p}", err=True)
    n = s["created_members"]
    made = f", {n} new member{'s' if n != 1 else ''}" if n else ""
    what = "would add" if dry_run else "added"
    merged = f", {s['merged']} merged into their order's first row" if s["merged"] else ""
    left = f", {s['not_selected']} not selected by --where" if s["not_selected"] else ""
    echo(f"Read {s['read']} rows: {what} {s['added']}, skipped {s['skipped']} already in the ledger, "
         f"rejected {s['rejected']}{made}{merged}{left}.", err=True)


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
    from loyalty_cli.io import exporter
    from loyalty_cli.cli import render

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


# ---------------------------------------------------------------------------
# time: expire, birthdays, daily
# ---------------------------------------------------------------------------


def _run_as_of(prog: Programme, text: str | None):
    """The moment a time-driven write runs as of: now, or the end of a past
    day (today's date means now: nothing is written for a future moment)."""
    current = now(prog.timezone)
    if text is None:
        return current
    at = parse_datetime(text, prog.timezone, "--as-of", end_of_day=True)
    if at.date() > current.date():
        raise LoyaltyError(f"--as-of {text.strip()!r} is in the future (today is {current:%Y-%m-%d})")
    return min(at, current)


SHOWN = 20  # rows of a long list a summary table shows


def run_as_of_option(f):
    return click.option("--as-of", "as_of", metavar="DATE", callback=_shared,
                        help="Run as of this date or date-time: a past day means its end; "
                             "not in the future [default: now].")(f)


def dry_run_option(f):
    return click.option("--dry-run", is_flag=True, help="Show what would be written; write nothing.")(f)


def _said(dry_run: bool, done: str, would: str) -> str:
    return would if dry_run else done


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@cli.command()
@run_as_of_option
@dry_run_option
@format_option
@ledger_options
@examples("loyalty expire", "loyalty expire --dry-run", "loyalty expire --as-of 2026-06-30 --format json")
def expire(as_of, dry_run, fmt, config, db):
    """Post the expiry of points whose time has come: points earned on day D
    with [expiry] days = N can be spent up to day D+N-1 and are gone on day
    D+N. Each expiry is dated on its own day, so a late run writes what
    daily runs would have; running it again writes nothing."""
    from loyalty_cli.ledger import daily

    with ledger_session(config, db, write=True, dry_run=dry_run) as (prog, conn):
        at = _run_as_of(prog, as_of)
        r = daily.expire(conn, at)
    doc = {"as_of": r["as_of"], "dry_run": dry_run, "members": r["members"], "points": r["points"],
           "expired": [{k: e[k] for k in ("member", "date", "points")} for e in r["expired"]]}
    cols = [Col("member", "Member"), Col("date", "Expired on"), Col("points", "Points", "right")]
    emit(fmt, doc, [View("Expired" + (" (dry run)" if dry_run else ""), cols, doc["expired"],
                         empty="nothing to expire")], csv_view=0)
    if fmt == "table":
        echo(f"{_said(dry_run, 'Expired', 'Would expire')} {_plural(r['points'], 'point')} of "
                   f"{_plural(r['members'], 'member')} as of {at:%Y-%m-%d}.", err=True)


@cli.command()
@run_as_of_option
@dry_run_option
@format_option
@ledger_options
@examples("loyalty birthdays", "loyalty birthdays --dry-run --format csv")
def birthdays(as_of, dry_run, fmt, config, db):
    """Credit the birthday bonus ([earning] birthday_bonus) to members whose
    birthday has come: once per member per year, dated on the birthday, by a
    run on the day or up to 30 days later. 29 February counts as 28 February
    in other years. Running it again writes nothing."""
    from loyalty_cli.ledger import daily

    with ledger_session(config, db, write=True, dry_run=dry_run) as (prog, conn):
        at = _run_as_of(prog, as_of)
        r = daily.birthdays(conn, prog, at)
    doc = {"as_of": r["as_of"], "dry_run": dry_run, "members": r["members"], "points": r["points"],
           "granted": r["granted"]}
    cols = [Col("member", "Member"), Col("name", "Name", wrap=True), Col("birthday", "Birthday"),
            Col("points", "Points", "right")]
    emit(fmt, doc, [View("Birthday bonuses" + (" (dry run)" if dry_run else ""), cols, r["granted"],
                         empty="no birthday bonuses due")])
    if fmt == "table":
        if not prog.birthday_bonus:
            echo("The programme has no birthday bonus ([earning] birthday_bonus = 0).", err=True)
        else:
            echo(f"{_said(dry_run, 'Credited', 'Would credit')} {_plural(r['points'], 'point')} to "
                       f"{_plural(r['members'], 'member')}.", err=True)


@cli.command()
@run_as_of_option
@dry_run_option
@format_option
@ledger_options
@examples("loyalty daily", "loyalty daily --as-of 2026-06-30 --format json",
          "15 3 * * *  cd /srv/shop && loyalty daily >> daily.log 2>&1   # crontab")
def daily(as_of, dry_run, fmt, config, db):
    """Everything time-driven, in one transaction, for cron: birthday bonuses,
    expiry, pending points that became spendable, and the tier review (tier
    changes that time alone brought, e.g. a rolling window letting go of a
    purchase, recorded on the day they happened). Idempotent: a second run
    writes nothing; a run after missed days catches up as if none were
    missed, but pays a birthday bonus at most 30 days late (as `birthdays`)."""
    from loyalty_cli.ledger import daily as timed

    with ledger_session(config, db, write=True, dry_run=dry_run) as (prog, conn):
        at = _run_as_of(prog, as_of)
        r = timed.run(conn, prog, at)
    b, e = r["birthdays"], r["expired"]
    doc = {"as_of": r["as_of"], "previous_run": r["previous_run"], "dry_run": dry_run,
           "birthdays": {"members": b["members"], "points": b["points"], "granted": b["granted"]},
           "expired": {"members": e["members"], "points": e["points"],
                       "entries": [{k: x[k] for k in ("member", "date", "points")} for x in e["expired"]]},
           "released_points": r["released_points"], "tier_changes": r["tier_changes"]}
    summary = [
        {"field": "birthday bonuses", "value": f"{_plural(b['points'], 'point')} to {_plural(b['members'], 'member')}"},
        {"field": "expired", "value": f"{_plural(e['points'], 'point')} of {_plural(e['members'], 'member')}"},
        {"field": "became spendable", "value": _plural(r["released_points"], "pending point")},
        {"field": "tier changes", "value": str(len(r["tier_changes"]))},
        {"field": "previous run", "value": r["previous_run"] or "none"},
    ]
    views = [View(f"Daily run as of {at:%Y-%m-%d %H:%M}" + (" (dry run)" if dry_run else ""),
                  [Col("field", "Field"), Col("value", "Value")], summary, kv=True),
             View("Tier changes", [Col("member", "Member"), Col("date", "On"), Col("from", "From"), Col("to", "To")],
                  r["tier_changes"][:SHOWN], empty="none",
                  caption=f"... and {len(r['tier_changes']) - SHOWN} more (--format json lists them all)"
                  if len(r["tier_changes"]) > SHOWN else None)]
    emit(fmt, doc, views, csv_view=0)


# ---------------------------------------------------------------------------
# programme figures: report, expiring, lapsed
# ---------------------------------------------------------------------------


def _rate(value) -> str:
    """A rate (an exact Decimal) as a percentage with one decimal, half-up."""
    from decimal import ROUND_HALF_UP, Decimal

    return "" if value is None else f"{(value * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


@cli.command()
@click.option("--since", metavar="DATE", help="First day of the period [default: the ledger's beginning].")
@click.option("--until", metavar="DATE", help="Last day of the period [default: --as-of].")
@click.option("--lapsed-days", default=90, show_default=True, type=click.IntRange(1, 36500),
              help="Lapsed: no purchase for this many days.")
@click.option("--shop-sales", metavar="AMOUNT", help="All the shop's sales in the period, for the members' share.")
@as_of_option
@format_option
@ledger_options
@examples("loyalty report", "loyalty report --since 2026-01-01 --until 2026-03-31",
          "loyalty report --since 2026-10-01 --shop-sales 48250.00 --format json")
def report(since, until, lapsed_days, shop_sales, as_of, fmt, config, db):
    """Programme figures for a period: members (total, new, active), purchases
    (first-time and repeat) and sales, repeat-purchase rate, points issued,
    redeemed and expired, redemption rate, outstanding points and their value
    (the liability), points expiring soon, lapsed members and the top 20% of
    members by spend. Stocks (outstanding, tiers, lapsed) are as of the period's end."""
    from loyalty_cli.queries import figures

    with ledger_session(config, db, write=False) as (prog, conn):
        end = _as_of(prog, as_of)
        if until is not None:
            end = min(end, parse_datetime(until, prog.timezone, "--until", end_of_day=True))
        start = parse_datetime(since, prog.timezone, "--since") if since else None
        if start is not None and start > end:
            raise LoyaltyError(f"--since {since.strip()} is after the end of the period ({end:%Y-%m-%d})")
        total = parse_amount(shop_sales, prog.currency.decimals, "--shop-sales") if shop_sales is not None else None
        r = figures.report(conn, prog, start, end, lapsed_days=lapsed_days, shop_sales=total)
    m = lambda v: money(prog, v)  # noqa: E731
    doc = {**r, "sales": m(r["sales"]), "discounts": m(r["discounts"]), "paid_with_points": m(r["paid_with_points"]),
           "shop_sales": m(r["shop_sales"]), "liability": m(r["liability"]), "top_sales": m(r["top_sales"]),
           "months": [{**x, "sales": m(x["sales"])} for x in r["months"]]}
    if fmt == "json":
        emit_json(doc)
        return
    cur = prog.currency.code
    period = (f"{r['since']:%Y-%m-%d}" if r["since"] else "the beginning") + f" to {r['until']:%Y-%m-%d}"
    rows = [
        ("members", f"{r['members']} ({r['new_members']} new, {r['active_members']} active in the period)"),
        ("purchases", f"{r['purchases']} ({r['first_time_purchases']} first-time, {r['repeat_purchases']} repeat)"),
        ("sales", f"{doc['sales']} {cur} (after refunds; discounts {doc['discounts']}, "
                  f"paid with points {doc['paid_with_points']})"),
        ("repeat-purchase rate", f"{_rate(r['repeat_rate']) or 'n/a'} ({r['repeat_members']} of "
                                 f"{r['active_members']} active members bought twice or more)"),
    ]
    if r["shop_sales"] is not None:
        rows.append(("members' share of sales", f"{_rate(r['member_share'])} of {doc['shop_sales']} {cur}"))
    rows += [
        ("points issued", r["points_issued"]), ("points redeemed", r["points_redeemed"]),
        ("points expired", r["points_expired"]), ("points taken back by refunds", r["points_taken_back"]),
        ("points adjusted", r["points_adjusted"]),
        ("redemption rate", _rate(r["redemption_rate"]) or "n/a"),
        ("outstanding points", f"{r['outstanding_points']} (worth {doc['liability']} {cur}: the liability)"),
        ("expiring soon", f"{r['expiring_points']} points of {_plural(r['expiring_members'], 'member')} "
                          f"within {r['warn_days']} days"),
        ("lapsed", f"{_plural(r['lapsed_members'], 'member')} with no purchase for {r['lapsed_days']} days"),
        (f"top {r['top_percent']}%", f"{_plural(r['top_members'], 'member')} bought {doc['top_sales']} {cur}"
                                     + (f", {_rate(r['top_share'])} of sales" if r["top_share"] is not None else "")),
    ]
    flat = [{"field": k, "value": v} for k, v in rows]
    if fmt == "csv":
        keys = [k for k, v in doc.items() if not isinstance(v, (list, dict))]
        emit("csv", doc, [View("", [Col("figure", ""), Col("value", "")],
                               [{"figure": k, "value": doc[k]} for k in keys])])
        return
    most = max((t["members"] for t in r["tiers"]), default=0)
    top_sales = max((x["sales"] for x in r["months"]), default=0)
    top_points = max((max(x["points_issued"], x["points_redeemed"]) for x in r["months"]), default=0)
    views = [
        View(f"{prog.name}: {period}", [Col("field", "Field"), Col("value", "Value")], flat, kv=True),
        View("Tier mix", [Col("tier", "Tier"), Col("members", "Members", "right"), Col("bar", "", drop=1)],
             [{**t, "bar": bar(t["members"], most)} for t in r["tiers"]]),
        View("Sales by month", [Col("month", "Month"), Col("purchases", "Purchases", "right"),
                                Col("sales", f"Sales ({cur})", "right"), Col("bar", "", drop=1)],
             [{**x, "sales": m(x["sales"]), "bar": bar(x["sales"], top_sales)} for x in r["months"]],
             empty="no sales in the period"),
        View("Points issued vs redeemed", [Col("month", "Month"), Col("points_issued", "Issued", "right"),
                                           Col("issued_bar", "", drop=1),
                                           Col("points_redeemed", "Redeemed", "right"), Col("redeemed_bar", "", drop=1)],
             [{**x, "issued_bar": bar(x["points_issued"], top_points),
               "redeemed_bar": bar(x["points_redeemed"], top_points)} for x in r["months"]],
             empty="no points moved in the period"),
    ]
    emit("table", doc, views)


def marketing_only_option(f):
    return click.option("--marketing-only", is_flag=True,
                        help="Only members who consented to marketing.")(f)


@cli.command()
@click.option("--within", metavar="DAYS", type=click.IntRange(0, 36500),
              help="Points that expire within this many days [default: the programme's warn_days].")
@marketing_only_option
@as_of_option
@format_option
@ledger_options
@examples("loyalty expiring", "loyalty expiring --within 14 --format csv > reminders.csv")
def expiring(within, marketing_only, as_of, fmt, config, db):
    """Members with points about to expire, soonest first: the first day
    some are gone, how many go that day, the last day to spend them, and all
    that expire within the window (for a reminder mail merge with --format csv)."""
    from loyalty_cli.queries import figures

    with ledger_session(config, db, write=False) as (prog, conn):
        days = prog.warn_days if within is None else within
        rows = figures.expiring_members(conn, prog, _as_of(prog, as_of), days, marketing_only)
    cols = [Col("member", "Member"), Col("name", "Name", wrap=True), Col("email", "E-mail", drop=1),
            Col("phone", "Phone", drop=4), Col("points_expiring", "Expiring", "right"), Col("expires", "Gone on", drop=2),
            Col("last_day", "Last day"), Col("total_expiring", "In window", "right", drop=3),
            Col("points", "Balance", "right", drop=4), Col("marketing", "Marketing", drop=5)]
    emit(fmt, rows, [View(f"Points expiring within {_plural(days, 'day')}", cols, rows, empty="none")])


@cli.command()
@click.option("--lapsed-days", default=90, show_default=True, type=click.IntRange(1, 36500),
              help="No purchase for this many days.")
@marketing_only_option
@as_of_option
@format_option
@ledger_options
@examples("loyalty lapsed", "loyalty lapsed --lapsed-days 60 --marketing-only --format csv > win-back.csv")
def lapsed(lapsed_days, marketing_only, as_of, fmt, config, db):
    """Members with no purchase for --lapsed-days (or, if they never bought,
    enrolled that long ago), the biggest spenders first: a win-back list."""
    from loyalty_cli.queries import figures

    with ledger_session(config, db, write=False) as (prog, conn):
        rows = figures.lapsed_members(conn, prog, _as_of(prog, as_of), lapsed_days, marketing_only)
    out = [{**r, "spend": money(prog, r["spend"])} for r in rows]
    cols = [Col("member", "Member"), Col("name", "Name", wrap=True), Col("email", "E-mail", drop=1),
            Col("phone", "Phone", drop=5), Col("last_purchase", "Last purchase"), Col("days_since", "Days", "right", drop=3),
            Col("purchases", "Purchases", "right", drop=4), Col("spend", "Spend", "right", drop=2),
            Col("points", "Points", "right", drop=6), Col("marketing", "Marketing", drop=7)]
    emit(fmt, out, [View(f"Lapsed: no purchase for {lapsed_days} days", cols, out, empty="none")])


# ---------------------------------------------------------------------------
# shell completion
# ---------------------------------------------------------------------------

SHELLS = ("bash", "zsh", "fish")


@cli.command(short_help="Print the shell completion script for bash, zsh or fish.")
@click.argument("shell", type=click.Choice(SHELLS))
@examples("eval \"$(loyalty completion bash)\"      # in ~/.bashrc",
          "eval \"$(loyalty completion zsh)\"       # in ~/.zshrc",
          "loyalty completion fish > ~/.config/fish/completions/loyalty.fish")
def completion(shell):
    """Print the script that makes SHELL complete loyalty's commands, options,
    member ids, reward and action names and promo codes (read from the
    programme file and the ledger of --config/--db or LOYALTY_CONFIG/LOYALTY_DB
    as you type)."""
    from click.shell_completion import get_completion_class

    script = get_completion_class(shell)(cli, {}, "loyalty", "_LOYALTY_COMPLETE").source()
    sys.stdout.write(script if script.endswith("\n") else script + "\n")


def _complete(kind: str):
    """A shell_complete function: the member ids, reward names, action names
    or promo codes that start with what was typed. Silent on any failure (no
    programme file, no ledger): completion never prints an error."""
    def complete(ctx: click.Context, param: click.Parameter, incomplete: str):
        from click.shell_completion import CompletionItem

        try:
            return [CompletionItem(v) for v in _candidates(ctx, kind, incomplete)]
        except Exception:
            return []
    return complete


def _candidates(ctx: click.Context, kind: str, incomplete: str) -> list[str]:
    config = ctx.params.get("config") or _given_before(ctx, "config") or os.environ.get("LOYALTY_CONFIG") \
        or "loyalty.toml"
    db = ctx.params.get("db") or _given_before(ctx, "db") or os.environ.get("LOYALTY_DB") or None
    low = incomplete.casefold()
    if kind in ("reward", "action"):
        prog = load(config)
        names = [r.name for r in prog.rewards] if kind == "reward" else list(prog.actions)
        return [n for n in names if n.casefold().startswith(low)]
    from sqlalchemy import select

    from loyalty_cli.store.models import members, promo_codes

    table, col = (members, members.c.id) if kind == "member" else (promo_codes, promo_codes.c.code)
    like = incomplete.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    q = select(col).where(col.like(like, escape="\\")).order_by(col).limit(200)
    if kind == "member":
        q = q.where(members.c.forgotten_at.is_(None))
    with ledger_session(config, db, write=False) as (_prog, conn):
        return [v for (v,) in conn.execute(q)]


def _attach_completion() -> None:
    """shell_complete on every MEMBER argument and --member option, every
    promo CODE and --code, --reward and award's ACTION."""
    def walk(group: click.Group):
        for cmd in group.commands.values():
            if isinstance(cmd, click.Group):
                walk(cmd)
                continue
            for p in cmd.params:
                kind = {"member": "member", "member_id": None, "reward": "reward", "action": "action",
                        "code": "promo" if group is not cli or isinstance(p, click.Option) else None}.get(p.name)
                if p.name == "member" and cmd.name == "enroll":
                    kind = None
                if kind:
                    p._custom_shell_complete = _complete(kind)
    walk(cli)


_attach_completion()

# ---------------------------------------------------------------------------
# one line each in `loyalty --help`, where the help's first sentence is long
# ---------------------------------------------------------------------------

SUMMARIES = {
    "adjust": "Add or take away points by hand, with a reason.",
    "award": "Points for an action in [earning.actions], within its limit.",
    "backup": "Copy the ledger, while in use, to a checked backup file.",
    "batch": "Run many commands from a file or stdin, one per line.",
    "birthdays": "Credit the birthday bonuses that are due.",
    "daily": "Everything time-driven, for cron: birthdays, expiry, tiers.",
    "expire": "Post the expiry of points whose time has come.",
    "expiring": "Members with points about to expire, soonest first.",
    "export": "Write entries, members or purchases as CSV or JSON.",
    "forget": "Erase a member's personal data for good.",
    "history": "A member's ledger entries with the running balance.",
    "import": "Import purchases or members from CSV.",
    "lapsed": "Members with no recent purchase: a win-back list.",
    "program": "Show the rules in force.",
    "purchase": "Record a sale; the member earns points on it.",
    "referral": "A member's referral code and whom they referred.",
    "report": "Programme figures for a period: members, sales, points.",
    "show": "A member at a glance: points, tier, progress, history.",
    "tiers": "Members and totals per tier, and who is closest to the next.",
    "promo create": "Create a promo code with one effect and any limits.",
    "import purchases": "Import purchases from a CSV file or stdin.",
    "import members": "Import members from a CSV file or stdin.",
}
for _name, _text in SUMMARIES.items():
    _cmd: click.Command = cli
    for _word in _name.split():
        _cmd = _cmd.commands[_word]
    _cmd.short_help = _text
