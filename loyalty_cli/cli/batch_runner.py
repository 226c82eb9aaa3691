"""`loyalty batch`: many commands, one start-up. Part of the CLI layer (it drives click).

Each line of the input is one loyalty command, written as on the command line
(`purchase anna 12.50 --order T-1`; a leading `loyalty` is allowed; `#`
starts a comment). Each runs through the same click commands as from the
shell (so every option and usage error is the shell's), in its own
transaction, and prints one JSON object on one line:

    {"line": 3, "exit": 0, "result": {...the command's JSON...}, "message": "...", "error": null}

The lines share one `Batch`, handed to click as the lines' context object
(`ctx.obj`): it gives them the batch's defaults (--format json, the batch's
--config and --db; a line's own options win), keeps a Ledger open per
programme file and ledger (the programme re-read when the file changes), and
takes each line's result as the document the command emitted (render.Capture)
and its error from the exception it raised. Nothing is set in the
environment, and nothing is parsed back out of what a line printed, but for
a command that streams its JSON instead of emitting one document (`export
--format json`). What a line says on stderr (a new tier, a referral paid) is
its message.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from typing import IO, TYPE_CHECKING, Any

import click

from loyalty_cli.cli.app import Run, Said, _one_line, current_run
from loyalty_cli.cli.render import Capture

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from loyalty_cli.api import Ledger
    from loyalty_cli.domain.config import Programme

NOT_IN_A_BATCH = {"batch", "init"}


def split(line: str) -> list[str]:
    """A line's arguments, as a POSIX shell would split them; [] for a blank
    line or a comment. A leading `loyalty` is dropped. ValueError for a line
    that cannot be a command: a NUL byte, an unbalanced quote, `loyalty`
    alone."""
    if "\x00" in line:
        raise ValueError("it holds a NUL byte")
    args = shlex.split(line, comments=True)
    if args and args[0] == "loyalty":
        args = args[1:]
        if not args:
            raise ValueError("it names no command (`loyalty` alone)")
    return args


# `-` is caught when the line reads it (sys.stdin is _BatchStdin then). Any
# other path of a line is judged by what it IS, not how it is spelled: a name
# that leads to the batch's own standard input (/dev/stdin, //dev/stdin, a
# symlink to it, the same pipe or terminal) or to any /dev/fd/N or
# /proc/*/fd/N link would open descriptor 0 behind Python's back.
_FD_LINK = re.compile(r"/proc/[^/]+/fd(/|$)")


def _is_stdin_path(text: str, stdin_stat) -> bool:
    if not text or len(text) > 4096:
        return False
    if text.startswith("sqlite:"):  # --db sqlite:////dev/stdin
        text = re.sub(r"^sqlite:/*", "/", text) if text.startswith("sqlite:///") else text
    try:
        path = os.path.expanduser(text)
        real = os.path.realpath(path)
        if _FD_LINK.match(real) or real in ("/dev/stdin", "/dev/fd") or real.startswith("/dev/fd/"):
            return True
        st = os.stat(path)
    except (OSError, ValueError):
        return False
    if stdin_stat is not None and os.path.samestat(st, stdin_stat):
        return True
    if real == "/dev/tty" and os.isatty(0):  # the terminal the batch is typed at
        return True
    return False


class _BatchStdin(io.RawIOBase):
    """Standard input for a line of a batch that is itself read from standard
    input: reading it would swallow the batch's next lines, so it refuses."""

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        from loyalty_cli.errors import LoyaltyError

        raise LoyaltyError(STDIN_TAKEN)


STDIN_TAKEN = ("this line reads standard input, but the batch itself is read from standard input (its next lines "
               "would be taken as this line's data); put the data in a file and name it")


def _reads_stdin(args: list[str]) -> bool:
    """Whether a path argument of a line (a file, --config, --db, --rejects,
    backup's PATH, also as --opt=PATH) leads to standard input."""
    try:
        stdin_stat = os.fstat(0)
    except OSError:
        stdin_stat = None
    for a in args:
        values = [a]
        if a.startswith("-") and "=" in a:
            values.append(a.split("=", 1)[1])
        if any(_is_stdin_path(v, stdin_stat) for v in values):
            return True
    return False


def reads_from_stdin(stream) -> bool:
    """Whether the batch's own lines come from standard input."""
    if stream is getattr(sys.stdin, "buffer", None) or getattr(stream, "name", None) in ("<stdin>", 0):
        return True
    try:
        return os.path.samestat(os.fstat(stream.fileno()), os.fstat(0))
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return False


class Batch(Run, Capture):
    """The state the lines of one batch share (see the module's docstring)."""

    batch = True

    def __init__(self, parent: Run, *, config: str, db: str | None):
        Run.__init__(self)
        Capture.__init__(self)
        self.parent = parent  # the batch command's own run: Ctrl-C tells whether any line committed
        # each line's defaults, where the environment would give them; its own options win
        self.defaults = {"LOYALTY_FORMAT": "json", "LOYALTY_CONFIG": config}
        if db is not None:
            self.defaults["LOYALTY_DB"] = db
        self.notes = io.StringIO()  # what the running line says on stderr
        self._programmes: dict[tuple, Programme] = {}
        self._engines: dict[str, Engine] = {}
        self._ledgers: dict[tuple, Ledger] = {}

    def committed(self) -> None:
        super().committed()
        self.parent.committed()

    def default(self, param: click.Parameter) -> str | None:
        return self.defaults.get(param.envvar) if isinstance(param.envvar, str) else None

    @contextmanager
    def ledger(self, config: str, db_url: str | None) -> Iterator[Ledger]:
        """The Ledger this batch keeps for the programme file and ledger: its
        engine (and pooled connection) and parsed programme reused from one
        line to the next, so each line pays only for its own transaction."""
        from loyalty_cli.api.ledger import Ledger, connect

        prog, key = self._programme(config)
        url = prog.database_url(db_url)
        ledger = self._ledgers.get((key, url)) if key is not None else None
        if ledger is None:
            engine = self._engines.get(url)
            if engine is None:
                engine = self._engines[url] = connect(url)
            ledger = Ledger(prog, url, engine, owns_engine=False)
            if key is not None:
                self._ledgers[(key, url)] = ledger
        yield ledger

    def _programme(self, config: str) -> tuple[Programme, tuple | None]:
        from loyalty_cli.domain.config import load

        try:
            st = os.stat(config)
        except OSError:
            return load(config), None  # says what is wrong with the path
        key = ("programme", os.path.abspath(config), st.st_mtime_ns, st.st_size)
        prog = self._programmes.get(key)
        if prog is None:
            prog = self._programmes[key] = load(config)
        return prog, key

    def close(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()
        self._ledgers.clear()

    # -- one line ---------------------------------------------------------

    def start_line(self) -> None:
        self.document = Capture.NOTHING
        self.format = None
        self.notes = io.StringIO()

    def result(self, printed: str) -> Any:
        """The line's result: the document the command emitted; else what it
        printed (a table, CSV, help), or None for nothing."""
        if self.document is not Capture.NOTHING:
            return self.document
        if not printed.strip():
            return None
        if self.format == "json":  # a command that streams its JSON (export) rather than emitting one document
            try:
                return json.loads(printed)
            except ValueError:
                pass
        return printed

    def message(self) -> str | None:
        return "\n".join(self.notes.getvalue().splitlines()) or None


def run_line(group: click.Group, args: list[str], batch: Batch, *, stdin_taken: bool = False) -> dict:
    """Run one command in-process, as `batch`'s line: its exit code, result,
    message and error. With `stdin_taken` (the batch comes from standard
    input) the line cannot read standard input."""
    out = io.StringIO()
    batch.start_line()
    code, error = 0, None
    saved_stdin = sys.stdin
    if stdin_taken:
        sys.stdin = io.TextIOWrapper(io.BufferedReader(_BatchStdin()), encoding="utf-8")
    with redirect_stdout(out), redirect_stderr(batch.notes):
        try:
            if args and args[0] in NOT_IN_A_BATCH:
                raise click.UsageError(f"`{args[0]}` cannot run inside a batch")
            if stdin_taken and _reads_stdin(args):
                raise click.ClickException(STDIN_TAKEN)
            group.main(args=args, prog_name="loyalty", standalone_mode=False, obj=batch)
        except click.exceptions.Exit as e:
            code = e.exit_code
        except click.ClickException as e:
            code = e.exit_code
            error = e.format_message() if isinstance(e, Said) else _one_line(e.format_message())
        except click.exceptions.Abort:  # Ctrl-C: the whole batch stops, as the shell's loop would
            raise KeyboardInterrupt from None
        except SystemExit as e:  # a quiet end
            code = e.code if isinstance(e.code, int) else 1
        finally:
            sys.stdin = saved_stdin
    return {"exit": code, "result": batch.result(out.getvalue()), "message": batch.message(), "error": error}


def lines(stream: IO[bytes]) -> Iterator[tuple[int, str | None]]:
    """(line number, text), or None for a line that is not UTF-8."""
    for n, raw in enumerate(stream, 1):
        try:
            yield n, raw.decode("utf-8-sig" if n == 1 else "utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            yield n, None


def run(group: click.Group, stream: IO[bytes], *, config: str, db: str | None, stop_on_error: bool,
        out: IO[str] | None = None, from_stdin: bool | None = None) -> tuple[int, int]:
    """Run every line; print one JSON object per command. Returns (commands
    run, commands that failed). Lines use the batch's --config and --db
    unless they give their own."""
    from loyalty_cli.cli.render import OutputFailed, json_safe

    out = out or sys.stdout
    if from_stdin is None:
        from_stdin = reads_from_stdin(stream)
    ran = failed = 0
    batch = Batch(current_run(), config=config, db=db)
    try:
        for n, text in lines(stream):
            try:
                if text is None:
                    raise ValueError("it is not UTF-8 text")
                args = split(text)
            except ValueError as e:  # not UTF-8, a NUL byte, an unbalanced quote
                r: dict[str, Any] = {"exit": 1, "result": None, "message": None,
                                     "error": f"cannot read line {n}: {e}"}
            else:
                if not args:
                    continue
                r = run_line(group, args, batch, stdin_taken=from_stdin)
            ran += 1
            problem = r["exit"] != 0
            failed += problem
            doc = {"line": n, **r}
            try:
                out.write(json_safe(json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str)) + "\n")
                out.flush()
            except OutputFailed as e:  # stop: nobody would see what the next lines did
                if batch.commits:
                    e.recorded = (f"the batch stopped after line {n}: what the lines up to it wrote is recorded, "
                                  "the lines after it did not run")
                raise
            if problem and stop_on_error:
                break
    finally:
        batch.close()
    return ran, failed
