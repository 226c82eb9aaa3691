#!/usr/bin/env python3
"""No function over LIMIT lines without a reason (issue 15: "habits that keep it clean").

A function's length is its lines from `def` to its last line, its docstring
not counted (a docstring is welcome, however long). A function may be longer
when its `def` line (or a line of its signature) says why:

    def import_purchases(...) -> Result:  # long: one transaction's steps, in the order they must run

A reason given on a function that is not over the limit is reported too, so
that no exception outlives its cause.

    python scripts/check_function_length.py [PATH ...]   (default: loyalty_cli)

Prints each problem as `path:line: name is N lines (limit LIMIT)` and exits 1;
prints nothing and exits 0 when clean.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

LIMIT = 60
MARK = re.compile(r"#.*\blong:\s*(\S.*)?$")


def _docstring_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    first = fn.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return (first.end_lineno or first.lineno) - first.lineno + 1
    return 0


def length(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    return (fn.end_lineno or fn.lineno) - fn.lineno + 1 - _docstring_lines(fn)


def problems(path: Path, limit: int = LIMIT) -> list[str]:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    out = []
    for fn in ast.walk(ast.parse(text, str(path))):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        signature = lines[fn.lineno - 1:fn.body[0].lineno - 1] or [lines[fn.lineno - 1]]
        marks = [m for m in (MARK.search(s) for s in signature) if m]
        n = length(fn)
        where = f"{path}:{fn.lineno}: {fn.name}"
        if marks and not marks[0].group(1):
            out.append(f"{where}: '# long:' needs a reason after it")
        elif n > limit and not marks:
            out.append(f"{where} is {n} lines (limit {limit}): split it, or say why on its def line (# long: ...)")
        elif marks and n <= limit:
            out.append(f"{where} is {n} lines, within the limit of {limit}: remove its '# long:' reason")
    return out


def main(argv: list[str]) -> int:
    roots = [Path(a) for a in argv] or [Path("loyalty_cli")]
    files = sorted(f for r in roots for f in ([r] if r.is_file() else r.rglob("*.py")))
    found = [p for f in files for p in problems(f)]
    for p in found:
        print(p)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
