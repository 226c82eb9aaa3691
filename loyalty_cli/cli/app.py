"""The command group, its shared options, and the plumbing every command uses:
the Run a command opens its Ledger through (its own, or the one a batch keeps
open), --date/--as-of policy, what a write recorded (for the message when its
output then fails), and the one place that turns errors into exit codes:
a LoyaltyError is ``Error: <message>`` and exit 1; click's usage errors exit
2; Ctrl-C exits 130; anything unexpected is a one-line internal error, exit 3.

This is imported for ``--help``, so it imports no database or rich code at
the top: commands import the library inside the function.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from loyalty_cli import __version__
from loyalty_cli.cli.render import FORMATS, Col, echo, printable
from loyalty_cli.domain.config import hide_password, load
from loyalty_cli.errors import LoyaltyError

if TYPE_CHECKING:
    from loyalty_cli.api import Ledger

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

# Help texts wrap at spaces only: click's TextWrapper would also break after
# a hyphen, splitting formats such as YYYY-MM-DDTHH:MM ("YYYY-MM-" / "DDTHH:MM")
# and options such as --as-of across lines.
from click._textwrap import TextWrapper as _HelpWrapper  # noqa: E402

_HelpWrapper.wordsep_re = _HelpWrapper.wordsep_simple_re  # what break_on_hyphens=False would use


def _not_utf8(args) -> str | None:
    """The first argument holding bytes that are not UTF-8 (Python keeps them
    as lone surrogates), shown with those bytes escaped."""
    for a in args:
        if isinstance(a, str) and any("\udc80" <= ch <= "\udcff" for ch in a):
            return a.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return None


LONG_WORD = 120  # a value quoted in a message longer than this is shortened


def _shorten(m: re.Match) -> str:
    word = m.group(0)
    return f"{word[:40]}… ({len(word):,} characters)"


def _one_line(text: str) -> str:
    """An error message as one printable line: line breaks become spaces,
    other control characters (from a file's header, say) are shown escaped,
    never sent raw to the terminal, and any very long value in it (a
    100,000-character order id, a date of 5,000 digits) is shortened to its
    start and its length, so no Error line runs to more than a few hundred
    characters. The one place every error line passes through."""
    line = printable(" ".join(text.splitlines()))
    return re.sub(r"\S{%d,}" % (LONG_WORD + 1), _shorten, line)


class LoyaltyGroup(click.Group):
    def get_short_help_str(self, limit: int = 45) -> str:
        return _summary(self)

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """click's main, with every error line made printable (a typed
        option or value may hold a terminal escape) and Ctrl-C as exit 130
        with one line, not "Aborted!" and exit 1."""
        if not standalone_mode:  # `batch` runs its lines this way (obj= its Batch) and reports errors itself
            return super().main(args, prog_name, complete_var, standalone_mode=False, **kwargs)
        run = kwargs.setdefault("obj", Run())
        if not isinstance(run, Run):  # a caller's own obj: its commits go uncounted
            run = Run()
        try:
            try:
                rv = super().main(args, prog_name, complete_var, standalone_mode=False, **kwargs)
            except click.ClickException as e:
                if not isinstance(e, Said):
                    # click types `message` Final, but every subclass's show() (usage, hint) prints it: shortened
                    e.message = _one_line(e.message)  # type: ignore[misc]
                e.show()
                sys.exit(e.exit_code)
            except click.exceptions.Abort:
                raise KeyboardInterrupt from None
            sys.exit(rv if isinstance(rv, int) else 0)
        except (KeyboardInterrupt, _Interrupted):
            done = ("the change made before it stays written" if run.commits
                    else "nothing was written (what was under way was rolled back)")
            if _is_terminal(sys.stderr):
                echo("", err=True)  # ends the line the terminal echoed ^C on
            echo(f"Interrupted; {done}.", err=True)
            sys.exit(130)

    def parse_args(self, ctx, args):
        bad = _not_utf8(args)
        if bad is not None:
            raise click.ClickException(f"argument '{hide_password(bad)}' is not valid UTF-8; nothing was done")
        nul = next((a for a in args if isinstance(a, str) and "\x00" in a), None)
        if nul is not None:  # no file name or value can hold one (a batch line or a caller could send it)
            raise click.ClickException(f"argument {_one_line(repr(hide_password(nul)))} holds a NUL byte; "
                                       "nothing was done")
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
        except KeyboardInterrupt:  # past click's main, which would print a blank line for it first
            raise _Interrupted from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except BrokenPipeError:  # not through GuardedOutput (in-process): the reader left
            _output_failed(ctx, OutputFailed("the reader closed the pipe", gone=True))
        except Exception as e:  # a bug, not the user's input: one line, not a traceback
            if os.environ.get("LOYALTY_DEBUG"):
                raise
            raise Said(f"internal error ({type(e).__name__}: {e}); "
                       "run again with LOYALTY_DEBUG=1 for a traceback and please report it", 3) from None


class Said(click.ClickException):
    """An error whose line is already made (printable, as it is to be shown),
    with its exit code: an internal error (3), an output that failed after a
    commit (1). Raised, not printed, so that `batch` reports it as any other."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(printable(" ".join(message.splitlines())))
        self.exit_code = exit_code  # type: ignore[misc]  # click's is a class default; show() and main read it


class _Interrupted(BaseException):
    """Ctrl-C during a command, on its way to LoyaltyGroup.main's one line.
    Not a KeyboardInterrupt: click's main would write a blank line to stderr
    for one (to end the terminal's ^C line), which with stderr in a file is
    a stray empty line; main writes that newline itself, on a terminal only."""


def _is_terminal(stream) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # stdin closed (`0<&-`): Python has None, or a closed file
        return False


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
        if tok[:1] == "-" and tok[1:2].isalpha() and not _is_number(tok):  # -q, -o, -x: a typo, not a value
            hints = sorted(n for n in takes_value if n.startswith("--" + tok[1]))
            also = f" Did you mean {' or '.join(hints)}?" if 0 < len(hints) <= 2 else ""
            raise click.NoSuchOption(printable(name), f"No such option {printable(name)!r}.{also}", ctx=ctx)
        # any other "-..." (-5, -5.00, -1e3, -inf, -.5) is an argument, refused with its reason


def _is_number(tok: str) -> bool:
    """`-inf`, `-nan`, `-Infinity`: words Python reads as numbers, which
    reach the amount's or the points' own refusal."""
    from decimal import Decimal, InvalidOperation

    try:
        Decimal(tok)  # only to tell a number from an option: the value itself is parsed exactly later
    except InvalidOperation:
        return False
    return True

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
    same flag before the command, a batch's own --config/--db and its JSON
    (for its lines, where the environment would come), the environment, the
    file or default."""
    from click.core import ParameterSource

    typed = ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE
    if not typed:
        before = _given_before(ctx, param.name)
        if before is not None:
            value, typed = param.type_cast_value(ctx, before), True  # the command's own choices apply
        else:
            default = current_run(ctx).default(param)
            if default is not None:
                value = param.type_cast_value(ctx, default)
    if typed and param.name == "db" and not value.strip():
        raise LoyaltyError("--db is empty: give the ledger's path or URL, or leave --db out to use the "
                           "config's [ledger] database")
    if param.name == "fmt":
        current_run(ctx).format = value
    return value


def group_options(f):
    """--config, --db, --format and --as-of before the command: the same
    options as after it, with the same meaning (the command's own flag wins
    if both are given, and either beats the environment)."""
    for opt in reversed([
        click.option("--config", "config", metavar="PATH", help="Programme file (as the command's --config)."),
        click.option("--db", "db", metavar="PATH|URL", help="Ledger file or SQLAlchemy URL (as the command's --db)."),
        click.option("--format", "fmt", type=click.Choice(FORMATS), help="Output format (as the command's --format)."),
        click.option("--as-of", "as_of", metavar="DATE",
                     help="For a command that takes --as-of (a usage error before one that does not)."),
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
    from loyalty_cli.cli.render import OutputFailed, guard_stdout, settle_stdout

    guard_stdout()  # a failing stdout is OutputFailed, which LoyaltyGroup.invoke explains
    try:
        cli(prog_name="loyalty")
    except BrokenPipeError:  # click's own output (help, usage) to a reader that left
        sys.exit(0)
    except OutputFailed as e:  # click's own output (--help, --version) before any command ran
        settle_stdout()
        if e.gone:
            sys.exit(0)
        echo(f"Error: could not write the output ({e.reason}); nothing was changed", err=True)
        sys.exit(1)


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
_WROTE_KEY = "loyalty.wrote"  # a write (not a dry run) ran, whether or not it changed anything


class Run:
    """What the commands of one run of `loyalty` share, found by every
    command through its click context (`ctx.obj`, set by LoyaltyGroup.main):
    how many writes committed (Ctrl-C says whether anything stays written),
    and how a command opens its Ledger. A run from the shell is one command;
    `batch` gives its lines a Batch (cli/batch_runner.py), which keeps the
    ledgers open from line to line and gives the lines its defaults."""

    batch = False  # a batch's lines never prompt
    format: str | None = None  # the running command's --format, as resolved

    def __init__(self) -> None:
        self.commits = 0

    def committed(self) -> None:
        self.commits += 1

    def default(self, param: click.Parameter) -> str | None:
        """A value for a shared option not given on the command line, ahead of
        the environment: none here (a batch has its own)."""
        return None

    @contextmanager
    def ledger(self, config: str, db_url: str | None) -> Iterator[Ledger]:
        """A Ledger of its own for the command, closed after it."""
        from loyalty_cli.api.ledger import Ledger, connect

        prog = load(config)
        url = prog.database_url(db_url)
        ledger = Ledger(prog, url, connect(url))
        try:
            yield ledger
        finally:
            ledger.close()


def current_run(ctx: click.Context | None = None) -> Run:
    """The Run of the running command (a fresh one outside any)."""
    ctx = ctx or click.get_current_context(silent=True)
    run = ctx.find_object(Run) if ctx is not None else None
    return run if run is not None else Run()


def recorded(what: str | None = None) -> None:
    """Note that the running command has committed something (said by
    `what`, or by RECORDED for the command), for an output failure after it."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return
    current_run(ctx).committed()
    if what is None:
        name = " ".join(ctx.command_path.split()[1:])
        what = RECORDED.get(name, f"what `{name}` did was recorded")
    ctx.meta[_RECORDED_KEY] = what


def recorded_as(what: str) -> None:
    """The words for what the running command committed, when it committed
    anything (a run that changed nothing keeps saying nothing was changed):
    e.g. the generated member id, which is lost with the output otherwise."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and _RECORDED_KEY in ctx.meta:
        ctx.meta[_RECORDED_KEY] = what


def _output_failed(ctx, e) -> None:
    """Standard output failed. After a commit that is exit 1 saying what was
    recorded; a reader that left before anything was written is a quiet end
    (exit 0, as `head` expects); other failures of a read are exit 1."""
    from loyalty_cli.cli.render import settle_stdout

    settle_stdout()  # told here: the guarded stdout stops raising it
    done = e.recorded or ctx.meta.get(_RECORDED_KEY)
    if done:
        raise Said(f"could not write the output ({e.reason}); {done}")
    if e.gone and not ctx.meta.get(_WROTE_KEY):  # a write that found nothing to do still says so
        raise SystemExit(0)
    raise Said(f"could not write the output ({e.reason}); nothing was changed")


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
                        help="When it happened: YYYY-MM-DD or YYYY-MM-DDTHH:MM, in the programme's timezone "
                             "[default: now].")(f)


def as_of_option(f):
    return click.option("--as-of", "as_of", metavar="DATE", callback=_shared,
                        help="Report as of this date or date-time (a date means the end of that day) "
                             "[default: now].")(f)


def _wrote() -> None:
    """A write (not a dry run) has begun: a reader that leaves now is not a quiet end."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[_WROTE_KEY] = True


@contextmanager
def cli_ledger(config: str, db_url: str | None) -> Iterator[Ledger]:
    """The library's Ledger for one command: the programme file and the
    ledger it names (--db wins), from the command's Run (its own, or the one
    a batch keeps open). Its writes tell the command what they recorded, for
    the message if the output then fails."""
    with current_run().ledger(config, db_url) as ledger:
        ledger.on_write, ledger.on_commit = _wrote, recorded
        yield ledger


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


def confirm(yes: bool, question: str) -> None:
    """Destructive commands: --yes, or a yes at a terminal prompt; never a
    silent yes without a terminal."""
    if yes:
        return
    if _is_terminal(sys.stdin) and not current_run().batch:  # a batch line never prompts
        try:
            if click.confirm(printable(question), default=False, err=True):
                return
        except click.exceptions.Abort as e:
            if not isinstance(e.__context__, EOFError):  # Ctrl-C: "Interrupted; ...", exit 130
                raise
            echo("", err=True)  # Ctrl-D left the prompt's line open: the error goes on a line of its own
            raise LoyaltyError("not confirmed; nothing was written") from None
        raise LoyaltyError("cancelled; nothing was changed")
    raise LoyaltyError(f"{question.rstrip('?')}: needs --yes when there is no terminal to confirm at")


def _history_cols():
    return [Col("date", "Date"), Col("kind", "Kind"), Col("points", "Points", "right"),
            Col("balance", "Balance", "right"), Col("order", "Order", drop=1), Col("note", "Note", wrap=True)]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
