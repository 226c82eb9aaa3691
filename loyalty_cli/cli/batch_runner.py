"""`loyalty batch`: many commands, one start-up. Part of the CLI layer (it drives click), like cli.py.

Each line of the input is one loyalty command, written as on the command line
(`purchase anna 12.50 --order T-1`; a leading `loyalty` is allowed; `#`
starts a comment). Each runs through the same click commands as from the
shell, in its own transaction, and prints one JSON object on one line:

    {"line": 3, "exit": 0, "result": {...the command's JSON...}, "message": "...", "error": null}

Lines print JSON unless they ask for another --format. What is shared across
lines is only what start-up costs: the imported modules, the parsed programme
file (re-read when it changes) and the ledger's engine with its pooled
connection.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import sys
from contextlib import redirect_stderr, redirect_stdout
from typing import IO, Any, Iterator

import click

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


def run_line(group: click.Group, args: list[str], *, stdin_taken: bool = False) -> dict:
    """Run one command in-process; its exit code, stdout and stderr. With
    `stdin_taken` (the batch comes from standard input) the line cannot read
    standard input."""
    from loyalty_cli.cli import app as cli_module

    out, err = io.StringIO(), io.StringIO()
    code = 0
    saved_stdin = sys.stdin
    if stdin_taken:
        sys.stdin = io.TextIOWrapper(io.BufferedReader(_BatchStdin()), encoding="utf-8")
    with redirect_stdout(out), redirect_stderr(err):
        try:
            if args and args[0] in NOT_IN_A_BATCH:
                raise click.UsageError(f"`{args[0]}` cannot run inside a batch")
            if stdin_taken and _reads_stdin(args):
                raise click.ClickException(STDIN_TAKEN)
            group.main(args=args, prog_name="loyalty", standalone_mode=False)
        except click.exceptions.Exit as e:
            code = e.exit_code
        except click.ClickException as e:
            code = e.exit_code
            click.echo(f"Error: {cli_module._one_line(e.format_message())}", err=True)
        except click.exceptions.Abort:  # Ctrl-C: the whole batch stops, as the shell's loop would
            raise KeyboardInterrupt from None
        except SystemExit as e:  # internal errors: LoyaltyGroup already said what
            code = e.code if isinstance(e.code, int) else 1
        finally:
            sys.stdin = saved_stdin
    return {"exit": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


def result_of(stdout: str):
    """The command's output: its JSON parsed, or its text, or None."""
    text = stdout.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return stdout


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
    from loyalty_cli.cli import app as cli_module
    from loyalty_cli.cli.render import OutputFailed, json_safe

    out = out or sys.stdout
    if from_stdin is None:
        from_stdin = reads_from_stdin(stream)
    ran = failed = 0
    env = {"LOYALTY_FORMAT": "json", "LOYALTY_CONFIG": config}  # each line's defaults; its own options win
    if db is not None:
        env["LOYALTY_DB"] = db
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    cli_module.REUSE = {}
    records = cli_module.RECORDS
    try:
        for n, text in lines(stream):
            try:
                if text is None:
                    raise ValueError("it is not UTF-8 text")
                args = split(text)
            except ValueError as e:  # not UTF-8, a NUL byte, an unbalanced quote
                r: dict[str, Any] = {"exit": 1, "stdout": "", "stderr": f"Error: cannot read line {n}: {e}\n"}
            else:
                if not args:
                    continue
                r = run_line(group, args, stdin_taken=from_stdin)
            ran += 1
            problem = r["exit"] != 0
            failed += problem
            errors = [ln for ln in r["stderr"].splitlines() if ln.startswith("Error: ")]
            notes = [ln for ln in r["stderr"].splitlines() if not ln.startswith("Error: ")]
            doc = {"line": n, "exit": r["exit"], "result": result_of(r["stdout"]),
                   "message": "\n".join(notes) or None,
                   "error": errors[-1].removeprefix("Error: ") if errors else None}
            try:
                out.write(json_safe(json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str)) + "\n")
                out.flush()
            except OutputFailed as e:  # stop: nobody would see what the next lines did
                if cli_module.RECORDS > records:
                    e.recorded = (f"the batch stopped after line {n}: what the lines up to it wrote is recorded, "
                                  "the lines after it did not run")
                raise
            if problem and stop_on_error:
                break
    finally:
        for engine in (v for k, v in cli_module.REUSE.items() if not isinstance(k, tuple)):
            engine.dispose()
        cli_module.REUSE = None
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return ran, failed
