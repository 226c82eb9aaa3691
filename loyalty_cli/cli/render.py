"""Output: one JSON document, CSV with a header row, or tables.

A command builds plain data once and hands it here with a description of its
tables; it never knows how it will be shown. Tables are rich tables on a
terminal and plain, aligned, unwrapped, uncoloured text when piped. rich is
imported only when a table is drawn on a terminal.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, Iterable, Literal

FORMATS = ("table", "csv", "json")


@dataclass
class Col:
    key: str
    header: str
    align: Literal["left", "right"] = "left"
    # On a terminal: a column that may wrap at spaces (names, notes,
    # descriptions); the others (ids, dates, amounts, e-mails) are never
    # split. `drop`: when the table does not fit the terminal, columns are
    # left out, highest `drop` first; 0 = always shown.
    wrap: bool = False
    drop: int = 0


@dataclass
class View:
    """One table: a title (shown on a terminal, or when there are several),
    columns, and rows of already-formatted values."""

    title: str
    cols: list[Col]
    rows: list[dict[str, Any]]
    empty: str = "nothing to show"
    caption: str | None = None
    kv: bool = False  # a two-column "field / value" table, drawn without a header
    record: bool = False  # one record (a receipt): on a terminal too narrow for its row, field / value lines


_LEAVES = (datetime, date, Decimal)


def _leaf(value: datetime | date | Decimal) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)  # Decimal: exact, never a float


def jsonable(value: Any) -> Any:
    if isinstance(value, _LEAVES):
        return _leaf(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


# Characters never sent raw to a terminal from user data: C0 controls (ESC,
# BEL, CR, LF, TAB, ...), DEL and C1 controls, the line and paragraph
# separators, every Unicode format character (category Cf: the bidirectional
# controls that reorder what is shown, U+202E and friends; the invisible ones,
# ZERO WIDTH SPACE, the BOM, SOFT HYPHEN, WORD JOINER, the tag characters
# U+E0000-E007F, the interlinear annotations U+FFF9-FFFB, ...), private-use
# characters (category Co: what they look like depends on the font, so they
# can pass for anything) and lone surrogates. Each is shown escaped, as Python
# writes it (\x1b, \r, \u202e, \U000e0041), so it is visible and harmless.
#
# The joiners U+200C and U+200D are Cf too, but normal text needs them (ZWJ
# inside an emoji sequence, ZWNJ in Persian or Indic words): they pass between
# two non-ASCII characters, and are escaped next to ASCII or at either end,
# where they only hide ("an\u200dna" looks like "anna").
#
# _CF is unicodedata's Cf (Unicode 14) without the joiners; a test checks it
# against the running Python's unicodedata.
_CF = ("\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b\u200e\u200f\u202a-\u202e"
       "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
       "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f")
_CO = "\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd"
_JOINERS = "(?<![^\x00-\x7f])[\u200c\u200d]|[\u200c\u200d](?![^\x00-\x7f])"
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_CF}{_CO}\ud800-\udfff]|{_JOINERS}")


def _escaped(m: re.Match) -> str:
    return m.group().encode("unicode_escape", "backslashreplace").decode("ascii")


def printable(text: str) -> str:
    """`text` with every control, format and private-use character escaped:
    what tables, CSV and messages print of user data (JSON escapes by itself)."""
    return _UNSAFE.sub(_escaped, text)


# In JSON, the characters json itself leaves raw (DEL, C1, separators, format
# and private-use characters) are written as \\uXXXX escapes (a UTF-16 pair
# above U+FFFF): the same string to a JSON reader, harmless on a screen.
_JSON_UNSAFE = re.compile(f"[\x7f-\x9f\u2028\u2029{_CF}{_CO}]|{_JOINERS}")


def _json_escaped(m: re.Match) -> str:
    units = m.group().encode("utf-16-be")
    return "".join(f"\\u{int.from_bytes(units[i:i + 2], 'big'):04x}" for i in range(0, len(units), 2))


def json_safe(text: str) -> str:
    return _JSON_UNSAFE.sub(_json_escaped, text)


class Screen:
    """A text stream that makes what is written to it safe for a terminal:
    `printable_lines` for text and CSV, `json_safe` for JSON."""

    def __init__(self, out, json_out: bool = False):
        self.out, self.json_out = out, json_out

    def write(self, text: str) -> int:
        self.out.write(json_safe(text) if self.json_out else printable_lines(text))
        return len(text)

    def flush(self) -> None:
        self.out.flush()


def printable_lines(text: str) -> str:
    """A message of one or more lines: each line made `printable`."""
    return "\n".join(printable(line) for line in text.split("\n"))


def echo(message: Any = "", err: bool = False, nl: bool = True) -> None:
    """click.echo for messages: every line made printable, so a member's name
    or a note can never carry a terminal escape into the output."""
    import click

    click.echo(printable_lines(str(message)), err=err, nl=nl)


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        midnight = (value.hour, value.minute, value.second) == (0, 0, 0)
        return value.strftime("%Y-%m-%d") if midnight else value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return printable(str(value))


def _plain(value: Any) -> Any:
    """json's `default`: what json cannot encode by itself, as jsonable() does."""
    if isinstance(value, _LEAVES):
        return _leaf(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _row_encoder():
    """What json.dumps(row, ensure_ascii=False, default=_plain) does, built
    once: json.dumps builds a new encoder for every call, which for a
    340,000-row list cost three times the encoding itself."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator (another Python implementation)
        enc = json.JSONEncoder(ensure_ascii=False, default=_plain)
        return lambda row, _level: enc.iterencode(row)
    return make(None, _plain, json.encoder.encode_basestring, None, ": ", ", ", False, False, True)


class Capture:
    """Where a command's JSON document goes instead of standard output: a
    batch (cli/batch_runner.py) puts one on its lines' click context
    (`ctx.obj`), and takes each line's result from it, as data, never parsed
    back out of printed text."""

    NOTHING: Any = object()

    def __init__(self) -> None:
        self.document: Any = Capture.NOTHING


def _capture() -> Capture | None:
    import click

    ctx = click.get_current_context(silent=True)
    return ctx.find_object(Capture) if ctx is not None else None


def emit_json(doc: Any, out=None) -> None:
    """One JSON document (in a batch, the line's result). A list of rows
    (balance, members, history, ...) is written one compact row per line,
    encoded by json's C encoder: a 340,000-member balance in about a second,
    not half a minute."""
    if out is None and (capture := _capture()) is not None:
        capture.document = jsonable(doc)
        return
    out = out or sys.stdout
    if isinstance(doc, list) and doc and all(isinstance(r, dict) for r in doc):
        encode = _row_encoder()
        rows = ",\n  ".join(["".join(encode(r, 0)) for r in doc])
        out.write(json_safe(f"[\n  {rows}\n]\n"))
        return
    out.write(json_safe(json.dumps(jsonable(doc), indent=2, ensure_ascii=False)))
    out.write("\n")


def emit_csv(view: View, out=None) -> None:
    out = out or sys.stdout
    w = csv.writer(out, lineterminator="\n")
    w.writerow([c.key for c in view.cols])
    for row in view.rows:
        w.writerow([cell(row.get(c.key)) for c in view.cols])


def emit_tables(views: Iterable[View], out=None) -> None:
    out = out or sys.stdout
    views = list(views)
    if _is_terminal(out):
        _rich_tables(views, out)
    else:
        _plain_tables(views, out)


def emit(fmt: str, doc: Any, views: list[View], csv_view: int = 0) -> None:
    """Print `doc` as JSON, views[csv_view] as CSV, or every view as a table."""
    if fmt == "json":
        emit_json(doc)
    elif fmt == "csv":
        emit_csv(views[csv_view])
    else:
        emit_tables(views)


def emit_result(fmt: str, result: Any, views: Callable[[Any], list[View]], csv_view: int = 0) -> Any:
    """Print a library result: as JSON, its own document (`result.to_json()`:
    the names are the result's fields, never chosen here; in a batch, the
    line's result); as CSV or tables, the views its renderer builds from that
    same document. Returns the document, for a renderer's notes."""
    doc = result.to_json()
    if fmt == "json":
        capture = _capture()
        if capture is not None:
            capture.document = doc  # JSON-ready already
        else:
            emit_json(doc)
    else:
        emit(fmt, doc, views(doc), csv_view)
    return doc


def _is_terminal(out) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


def _plain_tables(views: list[View], out) -> None:
    many = len(views) > 1
    for i, v in enumerate(views):
        if i:
            out.write("\n")
        if many:
            out.write(f"{printable(v.title)}\n")
        if not v.rows:
            out.write(f"({v.empty})\n")
            continue
        grid = [[cell(r.get(c.key)) for c in v.cols] for r in v.rows]
        if not v.kv:
            grid.insert(0, [printable(c.header) for c in v.cols])
        widths = [max(len(row[i]) for row in grid) for i in range(len(v.cols))]
        for row in grid:
            parts = [
                text.rjust(w) if c.align == "right" else text.ljust(w)
                for text, w, c in zip(row, widths, v.cols, strict=True)
            ]
            out.write("  ".join(parts).rstrip() + "\n")
        if v.caption:
            out.write(f"{printable(v.caption)}\n")


def _rich_tables(views: list[View], out, force_terminal: bool | None = None, width: int | None = None) -> None:
    from rich.console import Console

    # Every title and cell is literal Text: a member called "[bold]" or an
    # order "[/]" is shown as typed, never read as rich markup.
    console = Console(file=out, no_color="NO_COLOR" in os.environ, highlight=False, force_terminal=force_terminal,
                      width=width)
    for v in views:
        console.print(_fitted_table(v, console))


def _fitted_table(v: View, console):  # long: one fitting algorithm; its helpers share its spans
    """The view, fitted to the console's width, as a rich table or, when no
    table fits, as field / value lines. Never-split columns (ids, dates,
    amounts, points, e-mails, order ids, tiers, kinds: every column that is
    not `wrap`) get at least their widest cell and their longest header word;
    text columns wrap at spaces and get at least their longest word. When
    that does not fit, the columns with the highest `drop` are left out, one
    at a time, and a caption says which (--format csv or json shows them all).
    A name column may then fold a word longer than it (a name is prose, never
    an id), but never below _FOLD_MIN. When even the columns that must stay do
    not fit, each row is shown as field / value lines (`_records`), so that
    nothing is cut."""
    from rich.cells import cell_len
    from rich.text import Text

    if not v.rows:
        return Text.assemble((printable(v.title), "bold"), f": {printable(v.empty)}")
    texts = {c.key: [cell(r.get(c.key)) for r in v.rows] for c in v.cols}

    def wraps(c: Col) -> bool:
        return c.wrap or (v.kv and c is v.cols[-1])  # a field's value may wrap

    def longest_word(text: str) -> int:
        return max((cell_len(w) for w in text.split()), default=0)

    def span(c: Col) -> tuple[int, int, int]:
        """(narrowest, narrowest without folding a word, natural) width of a column."""
        head = 0 if v.kv else longest_word(c.header)
        full = max([cell_len(t) for t in texts[c.key]] + [0 if v.kv else cell_len(c.header), 1])
        if wraps(c):
            word = max([longest_word(t) for t in texts[c.key]] + [head, 1])
            hard = max(head, min(word, _FOLD_MIN)) if c.key in _FOLDABLE and not v.kv else word
            return hard, word, full
        widest = max([cell_len(t) for t in texts[c.key]] + [head, 1])
        return widest, widest, full

    width = console.width
    if v.record and not v.kv and len(v.rows) == 1:  # a receipt too wide for a row: field / value lines
        natural = sum(span(c)[2] for c in v.cols) + 3 * len(v.cols) + 1
        if natural > width:
            row = v.rows[0]
            pairs = [{"field": c.header or c.key, "value": row.get(c.key)} for c in v.cols
                     if row.get(c.key) not in (None, "")]
            return _fitted_table(View(v.title, [Col("field", "Field"), Col("value", "Value")], pairs,
                                      caption=v.caption, kv=True), console)
    spans = {c.key: span(c) for c in v.cols}

    def fits(cols: list[Col], least: int = 1) -> bool:  # least: 0 folds names, 1 does not
        return sum(spans[c.key][least] for c in cols) + 3 * len(cols) + 1 <= width  # + padding and rules

    cols = list(v.cols)
    dropped: list[Col] = []
    while not fits(cols) and any(c.drop for c in cols):
        worst = max((c for c in cols if c.drop), key=lambda c: (c.drop, cols.index(c)))
        cols.remove(worst)
        dropped.append(worst)
    for c in sorted(dropped, key=lambda c: c.drop):  # put back what fits after all, most useful first
        trial = [x for x in v.cols if x in cols or x is c]
        if fits(trial):
            cols = trial
            dropped.remove(c)
    least = 1 if fits(cols) else 0
    if not fits(cols, least):  # the columns that must stay are wider than the terminal
        return _records(v, width)
    # every column at its narrowest, then the room left widens them toward
    # their natural width: first the unsplittable ones (their headers on one
    # line), then names up to their longest word, then the text columns
    widths = {c.key: spans[c.key][least] for c in cols}
    room = width - (3 * len(cols) + 1) - sum(widths.values())
    for target in (1, 2):
        for c in sorted(cols, key=wraps):
            extra = max(0, min(room, spans[c.key][target] - widths[c.key]))
            widths[c.key] += extra
            room -= extra
    return _table(v, cols, dropped, [widths[c.key] for c in cols], console.width)


# Columns whose words may be folded when nothing else fits: a person's name is
# prose (never an id someone copies). Only a word longer than _FOLD_MIN is
# folded, after a hyphen where it has one ("Featherstonehaugh-" /
# "Cholmondeley-"); a column too narrow for a word of that length means
# field / value lines instead.
_FOLDABLE = {"name"}
_FOLD_MIN = 20


def _wrapped(text: str, width: int) -> list[str]:
    """`text` in lines at most `width` cells wide, broken at spaces; a word
    longer than a whole line is broken after its hyphens, and a piece still
    longer than a line is folded."""
    from rich.cells import cell_len, chop_cells

    width = max(width, 1)
    lines: list[str] = []
    line, sep = "", ""
    for word in text.split():
        parts = [word]
        if cell_len(word) > width:
            parts = [p for p in re.split(r"(?<=-)", word) if p]
            parts = [q for p in parts for q in (chop_cells(p, width) if cell_len(p) > width else [p])]
        for k, part in enumerate(parts):
            glue = sep if k == 0 else ""
            if line and cell_len(line) + cell_len(glue) + cell_len(part) <= width:
                line += glue + part
            else:
                if line:
                    lines.append(line)
                line = part
        sep = " "
    lines.append(line)
    return lines


def _records(v: View, width: int):
    """The view as field / value lines, for a terminal too narrow for its
    table: a profile's fields, or each row as a block of lines (every column,
    none left out). A value goes beside its field when its longest word fits
    there, else on the lines below it, indented; nothing is cut."""
    from rich.cells import cell_len
    from rich.console import Group
    from rich.text import Text

    if v.kv:
        blocks = [[(cell(r.get(v.cols[0].key)), cell(r.get(v.cols[-1].key))) for r in v.rows]]
    else:
        blocks = [[(printable(c.header or c.key), cell(r.get(c.key))) for c in v.cols if cell(r.get(c.key)) != ""]
                  for r in v.rows]
    label_w = max((cell_len(f) for b in blocks for f, _ in b), default=0)
    beside = width - 2 - label_w - 3
    out = [Text(printable(v.title), style="bold"), Text("")]
    for i, block in enumerate(blocks):
        if i:
            out.append(Text(""))
        for field, value in block:
            words = [cell_len(w) for w in value.split()]
            if beside >= max(words, default=0) and beside > 0:
                for j, line in enumerate(_wrapped(value, beside)):
                    head = field.ljust(label_w + len(field) - cell_len(field)) if j == 0 else " " * label_w
                    out.append(Text.assemble("  ", (head, "bold"), "   ", line))
            else:
                out.append(Text.assemble("  ", (field, "bold")))
                out.extend(Text("      " + line) for line in _wrapped(value, width - 6) if line)
    if v.caption:
        out += [Text(""), Text(printable(v.caption))]
    out.append(Text(""))  # as a table ends
    return Group(*out)


def _table(v: View, cols: list[Col], dropped: list[Col], widths: list[int], width: int):
    from rich import box
    from rich.cells import cell_len
    from rich.table import Table
    from rich.text import Text

    caption = v.caption
    if dropped:
        names = ", ".join(printable(c.header or c.key) for c in sorted(dropped, key=v.cols.index))
        note = f"Not shown at this width: {names} (--format csv or json has every column)."
        caption = f"{caption}\n{note}" if caption else note
    t = Table(title=Text(printable(v.title), style="bold"), title_justify="left",
              caption=Text(printable(caption)) if caption else None, caption_justify="left", show_header=not v.kv,
              box=box.SIMPLE_HEAD if not v.kv else box.SIMPLE, header_style="bold",
              min_width=min(len(v.title) + 2, width))
    for i, (c, w) in enumerate(zip(cols, widths, strict=True)):
        style = "bold" if v.kv and i == 0 else None
        # a header wraps between words only (its column is as wide as its longest word)
        head = Text(printable(c.header), no_wrap=False, overflow="fold")
        wrap = c.wrap or (v.kv and i == len(cols) - 1)
        t.add_column(head, justify=c.align, style=style, no_wrap=not wrap,
                     overflow="fold" if wrap else "ellipsis", width=w)
    def text(c: Col, w: int, value: str):
        if c.key in _FOLDABLE and c.wrap and not v.kv and any(cell_len(word) > w for word in value.split()):
            return Text("\n".join(_wrapped(value, w)))  # a word too long for the column: after its hyphens
        return Text(value)

    for r in v.rows:
        t.add_row(*[text(c, w, cell(r.get(c.key))) for c, w in zip(cols, widths, strict=True)])
    return t


def bar(value: int, largest: int, width: int = 24) -> str:
    """A horizontal bar, scaled so `largest` fills `width` cells (integer maths)."""
    if largest <= 0 or value <= 0:
        return ""
    eighths = (value * width * 8 + largest - 1) // largest
    full, part = divmod(eighths, 8)
    return "█" * full + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[part]


# ---------------------------------------------------------------------------
# standard output that can fail: a full disk, a closed descriptor, a reader gone
# ---------------------------------------------------------------------------


class OutputFailed(Exception):
    """Standard output could not take what a command printed. `reason` says
    why ("No space left on device", "the reader closed the pipe", ...);
    `gone` is true when nobody is reading any more (a closed pipe or a closed
    descriptor), which a read command takes as a quiet end, as `head`
    expects. `recorded`, when set, says what was already committed."""

    def __init__(self, reason: str, *, gone: bool, recorded: str | None = None):
        super().__init__(reason)
        self.reason, self.gone, self.recorded = reason, gone, recorded
        self.told = False  # said on stderr (or ended quietly): GuardedOutput stops raising it


class GuardedOutput:
    """sys.stdout for a real process: a write or flush that fails raises
    OutputFailed, and so does every later write and flush, until the failure
    has been told (`settle`): code that swallows an exception around a write
    (click.echo probes the stream with write(b"") and write("") inside
    `except Exception`) cannot lose it, and the final `flush_stdout` raises
    it again. The descriptor then points at /dev/null, so nothing fails at
    exit (no "Exception ignored" from Python's last flush). An empty write
    never reaches the stream. Everything else is the wrapped stream's."""

    def __init__(self, stream):
        self._stream = stream
        self._failed: OutputFailed | None = None

    def __getattr__(self, name):
        if self._stream is None:
            raise AttributeError(name)
        return getattr(self._stream, name)

    def isatty(self) -> bool:
        return self._stream is not None and not self._failed and self._stream.isatty()

    def _fail(self, e: BaseException | None) -> OutputFailed:
        if isinstance(e, BrokenPipeError):
            failed = OutputFailed("the reader closed the pipe", gone=True)
        elif isinstance(e, OSError) and e.strerror:
            failed = OutputFailed(e.strerror, gone=False)
        else:  # descriptor 1 closed (`>&-`): Python has no stdout at all
            failed = OutputFailed("standard output is closed", gone=True)
        self._failed = failed
        try:
            if self._stream is not None:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self._stream.fileno())
                os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass
        self._stream = None
        return failed

    def _again(self) -> None:
        """A failure not yet told is raised again."""
        if self._failed is not None and not self._failed.told:
            raise self._failed

    def settle(self) -> None:
        """The failure has been told: from now on writes and flushes go nowhere."""
        if self._failed is not None:
            self._failed.told = True

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if self._failed:
            self._again()
            return len(text)
        if not text:
            return 0
        if self._stream is None:
            raise self._fail(None)
        try:
            return self._stream.write(text)
        except (OSError, ValueError) as e:
            raise self._fail(e) from None

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if self._failed:
            self._again()
            return
        if self._stream is None:
            return
        try:
            self._stream.flush()
        except (OSError, ValueError) as e:
            raise self._fail(e) from None


def guard_stdout() -> None:
    """Put GuardedOutput in front of the process's standard output."""
    if not isinstance(sys.stdout, GuardedOutput):
        sys.stdout = GuardedOutput(sys.stdout)


def settle_stdout() -> None:
    """An output failure has been told: the guarded stdout stops raising it."""
    if isinstance(sys.stdout, GuardedOutput):
        sys.stdout.settle()


def flush_stdout() -> None:
    """Everything printed so far, out now: a failure is OutputFailed here,
    while the command can still say what it recorded."""
    out = sys.stdout
    if out is not None:
        try:
            out.flush()
        except (OSError, ValueError) as e:
            if isinstance(out, GuardedOutput):
                raise
            raise OutputFailed(e.strerror if isinstance(e, OSError) and e.strerror else str(e),
                               gone=isinstance(e, BrokenPipeError)) from None
